//! Tailing files like a DaemonSet must: who a file is ([`identity`],
//! device + inode confirmed by a fingerprint of its first bytes) and where
//! reading resumes after a restart ([`checkpoint`], per identity, written
//! atomically). The watcher that discovers files, follows rotations and
//! feeds the pipeline builds on these two.

pub mod checkpoint;
pub mod identity;

pub use checkpoint::{CheckpointError, Checkpoints};
pub use identity::FileId;
