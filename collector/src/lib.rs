//! sitepulse's collector: the hot path (frame → parse → label → aggregate)
//! and the binary's subcommands built on it.

pub mod parse;
pub mod record;
