//! End-to-end tests for sitepulse live in `tests/tests/`; this library holds
//! their shared helpers.
