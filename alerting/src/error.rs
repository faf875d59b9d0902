//! The crate's errors.

use std::path::PathBuf;

/// An SLO spec that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Read { path: PathBuf, error: String },
    /// YAML syntax, an unknown key or a wrong type (the message has the
    /// line and column).
    #[error("{}: {error}", path.display())]
    Yaml { path: PathBuf, error: String },
    /// A value out of range or a missing field.
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// The count store's file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on the file.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not one of ours, or damaged (it is set aside).
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
}
