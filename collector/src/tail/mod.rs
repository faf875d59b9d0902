//! Tailing files like a DaemonSet must: who a file is ([`identity`],
//! device + inode confirmed by a fingerprint of its first bytes) and where
//! reading resumes after a restart ([`checkpoint`], per identity, written
//! atomically), and [`follow`]ing one path through rotation, truncation and
//! deletion. Discovery (globs, inotify, rescans) and the `run` command that
//! feeds the pipeline build on these.

pub mod checkpoint;
pub mod follow;
pub mod identity;

pub use checkpoint::{CheckpointError, Checkpoints};
pub use follow::{FollowConfig, FollowStats, Follower, StartAt};
pub use identity::FileId;
