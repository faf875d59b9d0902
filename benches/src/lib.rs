//! Placeholder: corpus generator being written.
