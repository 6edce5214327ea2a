//! The metrics recorder of a Lambda execution environment. The runtime emits its metrics through
//! the `metrics` facade (`aos_runtime::telemetry`); this recorder accumulates them during an
//! invocation, and at its end [`flush`] drains the deltas, prints them as CloudWatch EMF lines and
//! adds them to the totals in the [`MetricStore`] (DynamoDB), which the `api-metrics` function
//! renders for Prometheus. Nothing is left in the process between invocations, so a frozen or
//! recycled execution environment loses nothing that was flushed.

use crate::emf;
use aos_runtime::metric_store::{MetricStore, Series, SeriesValue};
use aos_runtime::telemetry;
use futures::StreamExt;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bucket bounds of histograms without their own (the Prometheus client libraries' defaults).
pub const DEFAULT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Series written to the store at once at the end of an invocation.
const WRITE_CONCURRENCY: usize = 16;

/// What `describe_*` said about a metric: its type, unit and help text.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub kind: &'static str,
    pub unit: Option<Unit>,
    pub help: String,
}

/// One drained series with the raw observations behind a histogram's buckets (for EMF).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub series: Series,
    pub samples: Vec<f64>,
}

/// Accumulates counter increments, gauge values and histogram observations until drained.
pub struct InvocationRecorder {
    registry: Registry<Key, AtomicStorage>,
    descriptions: Mutex<BTreeMap<String, Description>>,
    buckets: HashMap<String, Vec<f64>>,
}

impl Default for InvocationRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl InvocationRecorder {
    /// A recorder with the runtime's histogram buckets (`step_duration_seconds`), as `aos serve` has.
    pub fn new() -> Self {
        let buckets = HashMap::from([(telemetry::STEP_DURATION.to_string(), telemetry::STEP_DURATION_BUCKETS.to_vec())]);
        Self { registry: Registry::atomic(), descriptions: Mutex::new(BTreeMap::new()), buckets }
    }

    fn describe(&self, key: KeyName, kind: &'static str, unit: Option<Unit>, help: SharedString) {
        let mut d = self.descriptions.lock().unwrap_or_else(PoisonError::into_inner);
        d.insert(key.as_str().to_string(), Description { kind, unit, help: help.to_string() });
    }

    /// Every metric described so far, by name.
    pub fn descriptions(&self) -> BTreeMap<String, Description> {
        self.descriptions.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn buckets(&self, name: &str) -> &[f64] {
        self.buckets.get(name).map(Vec::as_slice).unwrap_or(DEFAULT_BUCKETS)
    }

    /// Takes what was recorded since the last drain: counters that moved (and are reset to zero),
    /// every gauge's current value, and histograms that were observed (their observations cleared).
    pub fn drain(&self) -> Vec<Recorded> {
        let mut out = Vec::new();
        self.registry.visit_counters(|key, counter| {
            let delta = counter.swap(0, Ordering::AcqRel);
            if delta > 0 {
                out.push(Recorded { series: series(key, SeriesValue::Counter(delta)), samples: Vec::new() });
            }
        });
        self.registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Acquire));
            out.push(Recorded { series: series(key, SeriesValue::Gauge(value)), samples: Vec::new() });
        });
        self.registry.visit_histograms(|key, bucket| {
            let mut samples = Vec::new();
            bucket.clear_with(|values| samples.extend_from_slice(values));
            if samples.is_empty() {
                return;
            }
            let bounds = self.buckets(key.name());
            let Some(mut histogram) = metrics_util::storage::Histogram::new(bounds) else { return };
            samples.iter().for_each(|s| histogram.record(*s));
            let value = SeriesValue::Histogram { buckets: histogram.buckets(), sum: histogram.sum(), count: histogram.count() };
            out.push(Recorded { series: series(key, value), samples });
        });
        out.sort_by(|a, b| (&a.series.name, &a.series.labels).cmp(&(&b.series.name, &b.series.labels)));
        out
    }
}

fn series(key: &Key, value: SeriesValue) -> Series {
    let labels = key.labels().map(|l| (l.key().to_string(), l.value().to_string())).collect();
    Series { name: key.name().to_string(), labels, value }
}

impl Recorder for InvocationRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, "counter", unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, "gauge", unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, "histogram", unit, description);
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry.get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry.get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry.get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// The runtime's and the AWS adapters' metric descriptions (names, types, units, help), without
/// installing anything.
pub fn catalog() -> BTreeMap<String, Description> {
    let recorder = InvocationRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        telemetry::describe();
        aos_aws::describe_metrics();
    });
    recorder.descriptions()
}

/// The recorder installed for the process, with where its flushes go.
pub struct LambdaMetrics {
    recorder: Arc<InvocationRecorder>,
    store: Option<Arc<dyn MetricStore>>,
    emf: Mutex<Box<dyn Write + Send>>,
    function: Option<String>,
}

/// What one flush did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flushed {
    /// Series drained (each one EMF metric and one store write).
    pub series: usize,
    /// EMF lines printed.
    pub emf_lines: usize,
    /// Store writes that failed (logged; the EMF lines still carry those values).
    pub failed_writes: usize,
}

static INSTALLED: OnceLock<LambdaMetrics> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
#[error("a metrics recorder is already installed in this process")]
pub struct AlreadyInstalled;

/// Installs the process's recorder (once): flushes print EMF lines to `emf` and add the deltas to
/// `store` (none: EMF only). `function` names the emitting function in each EMF line.
pub fn install(
    store: Option<Arc<dyn MetricStore>>,
    emf: Box<dyn Write + Send>,
    function: Option<String>,
) -> Result<&'static LambdaMetrics, AlreadyInstalled> {
    let metrics = LambdaMetrics::new(store, emf, function);
    let recorder = metrics.recorder.clone();
    INSTALLED.set(metrics).map_err(|_| AlreadyInstalled)?;
    metrics::set_global_recorder(recorder).map_err(|_| AlreadyInstalled)?;
    telemetry::describe();
    aos_aws::describe_metrics();
    INSTALLED.get().ok_or(AlreadyInstalled)
}

/// The installed recorder, if any.
pub fn installed() -> Option<&'static LambdaMetrics> {
    INSTALLED.get()
}

/// Flushes the installed recorder (nothing without one). Called by every handler at the end of
/// its invocation, before the response goes back: after it, Lambda may freeze the process.
pub async fn flush() -> Flushed {
    match INSTALLED.get() {
        Some(m) => m.flush().await,
        None => Flushed::default(),
    }
}

impl LambdaMetrics {
    /// A recorder with its sinks, not installed: [`install`] makes it the process's.
    pub fn new(store: Option<Arc<dyn MetricStore>>, emf: Box<dyn Write + Send>, function: Option<String>) -> Self {
        Self { recorder: Arc::new(InvocationRecorder::new()), store, emf: Mutex::new(emf), function }
    }

    pub fn recorder(&self) -> &InvocationRecorder {
        &self.recorder
    }

    /// Drains the recorder, prints the EMF lines and writes the deltas to the store, at most
    /// [`WRITE_CONCURRENCY`] at once. A failed write is logged as a warning and never fails the
    /// invocation: metrics must not turn a handled record into a retried one.
    pub async fn flush(&self) -> Flushed {
        let recorded = self.recorder.drain();
        if recorded.is_empty() {
            return Flushed::default();
        }
        let descriptions = self.recorder.descriptions();
        let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let lines = emf::lines(&recorded, &descriptions, timestamp_ms, self.function.as_deref());
        {
            let mut out = self.emf.lock().unwrap_or_else(PoisonError::into_inner);
            let written = lines.iter().try_for_each(|l| writeln!(out, "{l}")).and_then(|()| out.flush());
            if let Err(error) = written {
                tracing::warn!(%error, "could not print the EMF metric lines");
            }
        }
        let (series, emf_lines) = (recorded.len(), lines.len());
        let mut failed_writes = 0;
        if let Some(store) = &self.store {
            let writes = recorded.into_iter().map(|r| {
                let store = store.clone();
                async move {
                    let result = store.add(&r.series).await;
                    (r.series, result)
                }
            });
            let results: Vec<_> = futures::stream::iter(writes).buffer_unordered(WRITE_CONCURRENCY).collect().await;
            for (series, result) in results {
                if let Err(error) = result {
                    failed_writes += 1;
                    tracing::warn!(metric = %series.name, labels = ?series.labels, %error, "could not add a metric delta to the stored totals");
                }
            }
        }
        Flushed { series, emf_lines, failed_writes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_returns_deltas_and_resets() {
        let recorder = InvocationRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            telemetry::run_finished("succeeded");
            telemetry::run_finished("succeeded");
            telemetry::step_finished("json_transform", 3);
            telemetry::step_finished("json_transform", 2_000);
            metrics::counter!(telemetry::FAILURE_MATCH_MISSES, "skill" => "http_call").increment(1);
        });
        let drained = recorder.drain();
        let names: Vec<_> = drained.iter().map(|r| r.series.name.as_str()).collect();
        assert_eq!(names, ["failure_match_misses_total", "runs_total", "step_duration_seconds"]);
        assert_eq!(drained[1].series.value, SeriesValue::Counter(2));
        let SeriesValue::Histogram { buckets, sum, count } = &drained[2].series.value else { panic!("{drained:?}") };
        assert_eq!(*count, 2);
        assert!((sum - 2.003).abs() < 1e-9, "{sum}");
        assert_eq!(buckets.iter().find(|b| b.0 == 0.005), Some(&(0.005, 1)), "cumulative: 3 ms is within 5 ms");
        assert_eq!(buckets.iter().find(|b| b.0 == 2.5), Some(&(2.5, 2)));
        assert_eq!(drained[2].samples, [0.003, 2.0]);
        assert!(recorder.drain().is_empty(), "a second drain has nothing new");
    }

    #[test]
    fn the_catalog_describes_every_runtime_metric() {
        let catalog = catalog();
        assert_eq!(catalog["runs_total"].kind, "counter");
        assert_eq!(catalog["step_duration_seconds"].kind, "histogram");
        assert_eq!(catalog["step_duration_seconds"].unit, Some(Unit::Seconds));
        assert!(catalog.len() >= 6, "{catalog:?}");
    }
}
