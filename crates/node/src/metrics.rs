//! The node's own measurements, exposed through a Prometheus registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The histogram every latency of the node and its server is measured in:
/// 16 buckets from 50 µs to ~1.6 s, doubling, so series can be compared.
#[must_use]
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// What the commit thread measures. Clones share the same values.
#[derive(Debug, Clone)]
pub(crate) struct NodeMetrics {
    /// Wall time of one durable group commit.
    pub commit_seconds: Histogram,
    /// Context commits written by one group commit.
    pub commit_batch: Histogram,
    /// Group commits the database refused.
    pub commit_failures: Counter,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            commit_seconds: latency_histogram(),
            // 1 .. 512 commits.
            commit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            commit_failures: Counter::default(),
        }
    }
}

impl NodeMetrics {
    /// Counts one durable commit of `batch` context commits that began at
    /// `started` and succeeded or not.
    pub fn committed(&self, started: std::time::Instant, batch: usize, ok: bool) {
        self.commit_seconds.observe(started.elapsed().as_secs_f64());
        #[allow(clippy::cast_precision_loss)] // batches are far below 2^52
        self.commit_batch.observe(batch as f64);
        if !ok {
            self.commit_failures.inc();
        }
    }

    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "store_commit_duration",
            "Wall time of one durable group commit of the node's database",
            Unit::Seconds,
            self.commit_seconds.clone(),
        );
        registry.register(
            "store_commit_batch_size",
            "Context commits written by one group commit (one fsync)",
            self.commit_batch.clone(),
        );
        registry.register(
            "store_commit_failures",
            "Group commits the database refused",
            self.commit_failures.clone(),
        );
    }
}
