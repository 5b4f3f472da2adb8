//! Latency samples and what a row reports of them.

use std::time::Duration;

/// What one measured run produced.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Operations that succeeded (answer checked) inside the window.
    pub ok: u64,
    /// Operations that failed: a wrong status or body, or a broken connection.
    pub errors: u64,
    /// Operations with no answer within the request timeout.
    pub timeouts: u64,
    /// The measured window.
    pub window: Duration,
    /// Latencies of the successful operations, sorted, in microseconds.
    latencies_us: Vec<u32>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Summary {
    /// A summary of `latencies` (any order) over `window`.
    #[must_use]
    pub fn new(mut latencies_us: Vec<u32>, window: Duration) -> Self {
        latencies_us.sort_unstable();
        Self {
            ok: latencies_us.len() as u64,
            window,
            latencies_us,
            ..Self::default()
        }
    }

    /// A summary of a count only (no latencies), e.g. deliveries.
    #[must_use]
    pub fn count(ok: u64, window: Duration) -> Self {
        Self {
            ok,
            window,
            ..Self::default()
        }
    }

    /// Successful operations per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        if self.window.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies, if any were recorded.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let last = self.latencies_us.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        Some(Duration::from_micros(u64::from(
            self.latencies_us[index.min(last)],
        )))
    }

    /// Whether latencies were recorded.
    #[must_use]
    pub fn has_latencies(&self) -> bool {
        !self.latencies_us.is_empty()
    }
}

/// Microseconds, saturating, as samples are kept.
#[must_use]
pub fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// The median of `values` (none: 0).
#[must_use]
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
