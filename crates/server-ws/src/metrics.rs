//! Connections, why they ended, events delivered and losses reported.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The peer closed the connection or it broke while reading.
    ClientClosed,
    /// The peer did not answer a ping in time.
    PingTimeout,
    /// A frame could not be written to the peer.
    SendFailed,
    /// The node's event bus closed (the node is going away).
    BusClosed,
    /// The server is shutting down.
    Shutdown,
    /// The credentials the session was opened with expired or were revoked.
    CredentialsEnded,
    /// The peer did not take a frame within the send timeout.
    SendTimeout,
    /// The peer sent a message larger than the limit.
    TooLarge,
    /// The node was too busy to read the event log for a replay.
    Busy,
}

impl End {
    fn label(self) -> &'static str {
        match self {
            Self::ClientClosed => "client_closed",
            Self::PingTimeout => "ping_timeout",
            Self::SendFailed => "send_failed",
            Self::BusClosed => "bus_closed",
            Self::Shutdown => "shutdown",
            Self::CredentialsEnded => "credentials_ended",
            Self::SendTimeout => "send_timeout",
            Self::TooLarge => "too_large",
            Self::Busy => "busy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// What `/ws` measures. Clones share the same values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    open: Gauge,
    refused: Counter,
    ended: Family<Reason, Counter>,
    events: Counter,
    gaps: Family<Reason, Counter>,
}

impl Metrics {
    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ws_connections_open",
            "WebSocket connections open now",
            self.open.clone(),
        );
        registry.register(
            "ws_connections_refused",
            "WebSocket upgrades refused because the connection cap was reached",
            self.refused.clone(),
        );
        registry.register(
            "ws_disconnects",
            "WebSocket connections ended, by reason (client_closed, ping_timeout, \
             send_failed, send_timeout, too_large, busy, bus_closed, shutdown, credentials_ended)",
            self.ended.clone(),
        );
        registry.register(
            "ws_events_sent",
            "Event frames sent to WebSocket subscribers",
            self.events.clone(),
        );
        registry.register(
            "ws_gaps",
            "Gap events sent: `lagged` when a connection fell behind the event bus, \
             `replay` when the event log no longer reached back to a resume point",
            self.gaps.clone(),
        );
    }

    pub fn opened(&self) {
        self.open.inc();
    }

    pub fn refused(&self) {
        self.refused.inc();
    }

    pub fn ended(&self, end: End) {
        self.open.dec();
        self.ended
            .get_or_create(&Reason {
                reason: end.label(),
            })
            .inc();
    }

    pub fn events_sent(&self, count: usize) {
        self.events.inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    pub fn gap(&self, lagged: bool) {
        let reason = if lagged { "lagged" } else { "replay" };
        self.gaps.get_or_create(&Reason { reason }).inc();
    }
}
