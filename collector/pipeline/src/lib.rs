//! sitepulse's hot path, pure: bytes in, labelled records and per-site
//! windows out. frame → parse → label → aggregate, plus the record type
//! and the byte-level scanners they share. No file, socket, thread, async
//! runtime or clock: callers hand in bytes and the time (see
//! ARCHITECTURE.md at the repository root for the crate graph and the
//! invariants).
//!
//! Modules from the bottom up: [`field`] (the tiny line error), [`time`]
//! and [`json`] (scanners), [`record`]; [`parse`] (one module per format);
//! [`frame`] (lines, container framing, multi-line joining); [`label`]
//! (record → site); [`sketch`] and [`aggregate`] (per-site windows);
//! [`driver`] (one input through every stage); [`snapshot`] (what readers
//! see of the windows); [`output`] (a record as JSON).

pub mod aggregate;
pub mod config;
pub mod driver;
pub mod field;
pub mod frame;
pub mod join;
pub mod json;
pub mod label;
pub mod output;
pub mod parse;
pub mod record;
pub mod sketch;
pub mod snapshot;
pub mod time;

pub use config::{FormatChoice, FramingChoice, ParseConfig, PipelineConfig};
pub use driver::{FileFeed, FileReport, NoObserver, Observer, Origin, Pipeline, PipelineError};
