//! Metric series kept outside the process, for deployments where no process lives long enough to
//! be scraped (the Lambdas): every invocation adds what it recorded to the stored totals, and the
//! metrics function renders those. Series are process-wide aggregates, never per tenant.

use aos_core::ports::StoreError;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// One metric series: a name, its labels, and a value that is a delta when added and a total when
/// read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: SeriesValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// Increments (a delta) or the running total.
    Counter(u64),
    /// The last value set; a write replaces it.
    Gauge(f64),
    /// `buckets` are cumulative counts by upper bound (`le`), ascending; the `+Inf` bucket is
    /// `count`. Cumulative counts add up: the total of the deltas' buckets is the total's bucket.
    Histogram { buckets: Vec<(f64, u64)>, sum: f64, count: u64 },
}

impl SeriesValue {
    pub fn kind(&self) -> &'static str {
        match self {
            SeriesValue::Counter(_) => "counter",
            SeriesValue::Gauge(_) => "gauge",
            SeriesValue::Histogram { .. } => "histogram",
        }
    }
}

/// Partition of a metric's series in the single table (no tenant prefix: these are not tenant data).
pub fn series_pk(name: &str) -> String {
    format!("metrics#{name}")
}

/// Sort key of one series: its labels as canonical JSON (keys sorted, no spaces), so every process
/// names the same series the same way whatever order it passed the labels in.
pub fn series_sk(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

/// Where metric totals live: atomic additions from many processes at once, read back by name.
#[async_trait]
pub trait MetricStore: Send + Sync {
    /// Adds a delta to the stored series (creating it at zero first); a gauge is overwritten.
    /// Concurrent additions to one series must all count.
    async fn add(&self, delta: &Series) -> Result<(), StoreError>;
    /// Every stored series of the metric `name`, in label order.
    async fn series(&self, name: &str) -> Result<Vec<Series>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sort_key_does_not_depend_on_label_order() {
        let a: BTreeMap<String, String> = [("code", "X"), ("category", "TRANSIENT")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let b: BTreeMap<String, String> = [("category", "TRANSIENT"), ("code", "X")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(series_sk(&a), series_sk(&b));
        assert_eq!(series_sk(&a), r#"{"category":"TRANSIENT","code":"X"}"#);
        assert_eq!(series_sk(&BTreeMap::new()), "{}");
        assert_eq!(series_pk("runs_total"), "metrics#runs_total");
    }
}
