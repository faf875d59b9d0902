//! The remote_write 1.0 messages, written as prost structs from
//! Prometheus' `prompb/remote.proto` and `prompb/types.proto`
//! (github.com/prometheus/prometheus, package `prometheus`), the subset the
//! Remote-Write 1.0 specification keeps
//! (<https://prometheus.io/docs/specs/prw/remote_write_spec/>):
//!
//! ```proto
//! message WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; reserved 3; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! Field 2 of `WriteRequest` is Cortex's, field 3 Prometheus' experimental
//! metadata: the 1.0 specification reserves both, and so do we.

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: its labels, sorted by name with `__name__` among them, and
/// its samples in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The value of a Prometheus stale marker (a NaN with this bit pattern,
/// `model/value.StaleNaN`): the series ended. The specification: senders
/// MUST send one when a series will no longer be appended to.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is a stale marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
