//! Hands due notifications to the receivers' notifiers, each on its own
//! task (a slow SMTP server holds up nobody else); the notifier retries
//! with backoff, and the hub hears whether it was delivered: the
//! notification log records a delivery, a failure is looked at again a
//! minute later.

use std::sync::Arc;

use sitepulse_alerting::alert::dispatch::Outgoing;

use super::hub::AlertHub;

/// Sends each notification on the current runtime.
pub fn dispatch(hub: &Arc<AlertHub>, outgoing: Vec<Outgoing>) {
    for o in outgoing {
        let Some(notifier) = hub.notifier(&o.receiver) else {
            // validate() refuses routes to unknown receivers; kept for a
            // hub built by hand.
            tracing::error!(receiver = %o.receiver, "no such receiver; notification dropped");
            hub.failed(&o, crate::unix_now());
            continue;
        };
        let n = hub.notification(&o);
        let hub = Arc::clone(hub);
        // The send on its own task, watched by another: whether it
        // returns, fails or panics, the hub hears of it (a group left in
        // flight would never notify again).
        let send = tokio::spawn(async move {
            notifier
                .send(&n)
                .await
                .map(|()| (n.alerts.len(), n.status().as_str()))
        });
        tokio::spawn(async move {
            let result = send.await;
            // The notification log is saved with an fsync: off the
            // runtime's workers.
            let _ = tokio::task::spawn_blocking(move || match result {
                Ok(Ok((alerts, status))) => {
                    tracing::info!(receiver = %o.receiver, group = %o.group_key, alerts, status, "notified");
                    hub.sent(&o, crate::unix_now());
                }
                Ok(Err(e)) => {
                    tracing::error!(receiver = %o.receiver, group = %o.group_key, error = %e, "notification failed after its retries; trying again in a minute");
                    hub.failed(&o, crate::unix_now());
                }
                Err(e) => {
                    tracing::error!(receiver = %o.receiver, group = %o.group_key, error = %e, "notification task ended abnormally; trying again in a minute");
                    hub.failed(&o, crate::unix_now());
                }
            })
            .await;
        });
    }
}
