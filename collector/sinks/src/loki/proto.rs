//! Loki's push API messages, written from Loki's published definition
//! `pkg/push/push.proto` (github.com/grafana/loki, package `logproto`):
//!
//! ```proto
//! message PushRequest   { repeated StreamAdapter streams = 1; }
//! message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! message LabelPairAdapter { string name = 1; string value = 2; }
//! message EntryAdapter  { google.protobuf.Timestamp timestamp = 1; string line = 2;
//!                         repeated LabelPairAdapter structuredMetadata = 3; }
//! ```
//!
//! The hot path writes this wire format by hand ([`super::encode`]); these
//! prost structs decode it back (splitting a refused batch, and the test
//! receiver), so the two are checked against each other.

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

impl EntryAdapter {
    /// The timestamp in Unix nanoseconds.
    pub fn ts_ns(&self) -> i64 {
        self.timestamp
            .as_ref()
            .map_or(0, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos))
    }
}
