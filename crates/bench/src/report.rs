//! The report: a table for people, JSON for tools, medians over runs.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::scenarios::{Row, Target};
use crate::stats::median;

/// One row's figures, the median over runs.
#[derive(Debug, Clone)]
pub struct Line {
    /// The scenario.
    pub name: String,
    /// Its baseline.
    pub baseline: String,
    /// Operations per second.
    pub rate: f64,
    /// The baseline's operations per second.
    pub baseline_rate: f64,
    /// rate ÷ baseline rate.
    pub ratio: Option<f64>,
    /// Latency quantiles p50, p99, p99.9.
    pub latency: Option<[Duration; 3]>,
    /// Errors and timeouts, summed over runs.
    pub failures: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// The target.
    pub target: Target,
    /// Whether every run met the target and tail bound.
    pub met: bool,
}

fn median_of(rows: &[&Row], figure: impl Fn(&Row) -> Option<f64>) -> Option<f64> {
    let mut values: Vec<f64> = rows.iter().filter_map(|row| figure(row)).collect();
    (!values.is_empty()).then(|| median(&mut values))
}

/// Folds runs (each a list of rows in the same order) into median lines.
#[must_use]
pub fn lines(runs: &[Vec<Row>]) -> Vec<Line> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|index| {
            let rows: Vec<&Row> = runs.iter().filter_map(|run| run.get(index)).collect();
            let quantile = |q: f64| {
                median_of(&rows, |row| {
                    row.summary.quantile(q).map(|d| d.as_secs_f64())
                })
                .map(Duration::from_secs_f64)
            };
            let latency = match (quantile(0.5), quantile(0.99), quantile(0.999)) {
                (Some(p50), Some(p99), Some(p999)) => Some([p50, p99, p999]),
                _ => None,
            };
            Line {
                name: first[index].name.clone(),
                baseline: first[index].baseline.clone(),
                rate: median_of(&rows, |row| Some(row.summary.rate())).unwrap_or(0.0),
                baseline_rate: median_of(&rows, |row| Some(row.baseline_rate)).unwrap_or(0.0),
                ratio: median_of(&rows, Row::ratio),
                latency,
                failures: rows
                    .iter()
                    .map(|row| row.summary.errors + row.summary.timeouts)
                    .sum(),
                first_error: rows.iter().find_map(|row| row.summary.first_error.clone()),
                target: first[index].target,
                met: rows.iter().all(|row| row.met()),
            }
        })
        .collect()
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1e3)
}

fn target_text(target: Target) -> String {
    match target {
        Target::Ratio(at_least) => format!(">= {at_least:.2}x"),
        Target::P99Ms(at_most) => format!("p99 <= {at_most} ms"),
    }
}

/// A Markdown table of `lines`.
#[must_use]
pub fn table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| scenario | ops/s | p50 ms | p99 ms | p99.9 ms | baseline | baseline ops/s | ratio | target | met |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---|---|\n",
    );
    for line in lines {
        let (p50, p99, p999) = match line.latency {
            Some([p50, p99, p999]) => (ms(p50), ms(p99), ms(p999)),
            None => ("–".into(), "–".into(), "–".into()),
        };
        let baseline_rate = if line.baseline_rate > 0.0 {
            format!("{:.0}", line.baseline_rate)
        } else {
            "–".into()
        };
        let ratio = line
            .ratio
            .map_or_else(|| "–".into(), |ratio| format!("{ratio:.2}x"));
        let baseline = if line.baseline.is_empty() {
            "–"
        } else {
            &line.baseline
        };
        let met = if line.met { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {p50} | {p99} | {p999} | {baseline} | {baseline_rate} | {ratio} | {} | {met} |",
            line.name,
            line.rate,
            target_text(line.target),
        );
    }
    for line in lines.iter().filter(|line| line.failures > 0) {
        let _ = writeln!(
            out,
            "\n{}: {} errors or timeouts; first: {}",
            line.name,
            line.failures,
            line.first_error.as_deref().unwrap_or("a timeout")
        );
    }
    out
}

/// `lines` as JSON.
#[must_use]
pub fn json(lines: &[Line]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|line| {
                json!({
                    "scenario": line.name,
                    "ops_per_sec": line.rate,
                    "p50_ms": line.latency.map(|l| l[0].as_secs_f64() * 1e3),
                    "p99_ms": line.latency.map(|l| l[1].as_secs_f64() * 1e3),
                    "p999_ms": line.latency.map(|l| l[2].as_secs_f64() * 1e3),
                    "baseline": line.baseline,
                    "baseline_ops_per_sec": line.baseline_rate,
                    "ratio": line.ratio,
                    "target": target_text(line.target),
                    "failures": line.failures,
                    "met": line.met,
                })
            })
            .collect(),
    )
}
