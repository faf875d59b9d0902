//! SLO evaluation (error budgets, multi-window burn-rate alerts), the alert
//! lifecycle (group, dedup, silence, inhibit), notifiers (email, webhook,
//! Alertmanager) and deploy deadlines. Built in a later stage on the
//! collector's per-site windows; this crate is reserved in the workspace so
//! the layout in DESIGN.md holds from the start.
