//! sitepulse's collector: the hot path (frame → parse → label → aggregate)
//! and the binary's subcommands built on it.

pub mod aggregate;
pub mod config;
pub mod demo;
pub mod frame;
pub mod label;
pub mod live;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod serve;
pub mod sketch;
pub mod tail;
