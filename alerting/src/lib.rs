//! SLOs for sitepulse: specs ([`spec`], ours and Sloth's), per-site
//! good/bad counts in coarse buckets ([`store`], kept on disk by
//! [`persist`] so a period survives restarts), and the engine
//! ([`engine`]) that turns successive per-site snapshots into error
//! budgets, burn rates and the multi-window multi-burn-rate alert
//! conditions of [`burn`].
//!
//! The crate reads the pipeline's `SitesSnapshot` and nothing else of the
//! collector: no file, socket or clock of its own but the count file the
//! caller asks it to save or load.

pub mod alert;
pub mod burn;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod notify;
pub mod persist;
pub mod promrules;
pub mod spec;
pub mod store;
#[cfg(test)]
mod test_util;

pub use burn::{BurnTable, BurnWindow, Severity};
pub use engine::{SloEngine, SloStatus};
pub use error::{SpecError, StoreError};
pub use spec::{Sli, Slo, SloSet, Span};
