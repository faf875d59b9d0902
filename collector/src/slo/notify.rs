//! Hands due notifications to the receivers' notifiers, each on its own
//! task with retries; the hub hears back whether it was delivered.

use std::sync::Arc;

use sitepulse_alerting::alert::dispatch::Outgoing;

use super::hub::AlertHub;

/// Sends each notification; until receivers are configured none can be
/// delivered, which is logged once per group and retried later.
pub fn dispatch(hub: &Arc<AlertHub>, outgoing: Vec<Outgoing>) {
    for n in outgoing {
        tracing::warn!(receiver = %n.receiver, group = %n.group_key, "no notifier for this receiver");
        hub.failed(&n, crate::unix_now());
    }
}
