//! KEDA's external scaler on `/metrics`: calls and errors per gRPC method,
//! refusals per `autoscale.keda` limit, and the connections and
//! `StreamIsActive` streams open (`sitepulse_keda_*`).

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::autoscale::keda::{KedaStats, Limit, Method};

/// The families, when the scaler runs.
pub(super) fn encode(enc: &mut DescriptorEncoder, stats: Option<&KedaStats>) -> fmt::Result {
    let Some(s) = stats else {
        return Ok(());
    };
    type C = fn(&KedaStats, Method) -> u64;
    let counters: [(&str, &str, C); 2] = [
        (
            "keda_calls",
            "Calls of the KEDA external scaler per gRPC method (a stream counts when opened).",
            KedaStats::calls,
        ),
        (
            "keda_errors",
            "KEDA external scaler calls answered with an error status, per gRPC method.",
            KedaStats::errors,
        ),
    ];
    for (name, help, get) in counters {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for m in Method::ALL {
            ConstCounter::new(get(s, m)).encode(fam.encode_family(&[("method", m.name())])?)?;
        }
    }
    let mut fam = enc.encode_descriptor(
        "keda_rejected",
        "KEDA external scaler calls (connections, for max_connections) refused by an \
         autoscale.keda limit, per limit.",
        None,
        MetricType::Counter,
    )?;
    for l in Limit::ALL {
        ConstCounter::new(s.rejected(l)).encode(fam.encode_family(&[("limit", l.key())])?)?;
    }
    let gauges: [(&str, &str, u64); 2] = [
        (
            "keda_connections_open",
            "Client connections to the KEDA external scaler open now.",
            s.connections_open(),
        ),
        (
            "keda_streams_open",
            "StreamIsActive streams open now.",
            s.streams_open(),
        ),
    ];
    for (name, help, v) in gauges {
        let fam = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(fam)?;
    }
    Ok(())
}
