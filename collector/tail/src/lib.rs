//! Tailing files like a DaemonSet must: who a file is ([`identity`],
//! device + inode confirmed by a fingerprint of its first bytes) and where
//! reading resumes after a restart ([`checkpoint`], per identity, written
//! atomically), and [`follow`]ing one path through rotation, truncation and
//! deletion, and [`discover`]ing the files globs select (one path per
//! file). The [`tailer`] builds the engine from them: discovery, inotify
//! and sweeps, restart recovery.
//!
//! This crate knows bytes, offsets and file identities: nothing of log
//! formats, sites or the pipeline. A source's format is an opaque payload
//! of [`TailConfig`]; the tailer reports which source a file matched by
//! index ([`SourceIndex`]).

pub mod checkpoint;
pub mod discover;
pub mod follow;
pub mod identity;
pub mod tailer;

pub use checkpoint::{CheckpointError, Checkpoints};
pub use discover::{Discovery, Found, GlobError};
pub use follow::{
    Checks, CloseReason, FollowConfig, FollowEvent, FollowStats, Follower, StartAt, StreamId,
};
pub use identity::FileId;
pub use tailer::{
    FileStatus, ReadExisting, SourceConfig, SourceIndex, TailConfig, TailError, TailSink,
    TailStats, Tailer,
};
