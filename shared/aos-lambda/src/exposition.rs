//! The stored metric totals in the Prometheus text exposition format (0.0.4), written with the same
//! formatting helpers `aos serve`'s exporter uses: `# HELP` and `# TYPE` per metric, counters and
//! gauges as one sample per series, histograms as cumulative `_bucket{le}` samples ending in
//! `+Inf`, then `_sum` and `_count`.

use crate::recorder::Description;
use aos_core::ports::StoreError;
use aos_runtime::metric_store::{MetricStore, Series, SeriesValue};
use indexmap::IndexMap;
use metrics_exporter_prometheus::formatting::{write_help_line, write_metric_line, write_type_line};
use metrics_exporter_prometheus::LabelSet;
use std::collections::BTreeMap;

/// Reads every described metric's series from `store` (concurrently) and renders them.
pub async fn scrape(store: &dyn MetricStore, descriptions: &BTreeMap<String, Description>) -> Result<String, StoreError> {
    let reads = descriptions.keys().map(|name| async move { store.series(name).await.map(|s| (name.clone(), s)) });
    let metrics: Vec<(String, Vec<Series>)> = futures::future::try_join_all(reads).await?;
    Ok(render(&metrics, descriptions))
}

/// Renders the metrics in order; a metric without series gets no lines (as in `aos serve`).
pub fn render(metrics: &[(String, Vec<Series>)], descriptions: &BTreeMap<String, Description>) -> String {
    let mut out = String::new();
    for (name, series) in metrics {
        let Some(first) = series.first() else { continue };
        if let Some(d) = descriptions.get(name) {
            write_help_line(&mut out, name, None, None, &d.help);
        }
        write_type_line(&mut out, name, None, None, first.value.kind());
        let mut series: Vec<&Series> = series.iter().collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in series {
            let labels = label_set(name, &s.labels);
            match &s.value {
                SeriesValue::Counter(v) => write_metric_line::<&str, _>(&mut out, name, None, &labels, None, v, None),
                SeriesValue::Gauge(v) => write_metric_line::<&str, _>(&mut out, name, None, &labels, None, v, None),
                SeriesValue::Histogram { buckets, sum, count } => {
                    for (le, c) in buckets {
                        write_metric_line(&mut out, name, Some("bucket"), &labels, Some(("le", le)), c, None);
                    }
                    write_metric_line(&mut out, name, Some("bucket"), &labels, Some(("le", "+Inf")), count, None);
                    write_metric_line::<&str, _>(&mut out, name, Some("sum"), &labels, None, sum, None);
                    write_metric_line::<&str, _>(&mut out, name, Some("count"), &labels, None, count, None);
                }
            }
        }
        out.push('\n');
    }
    out
}

fn label_set(name: &str, labels: &BTreeMap<String, String>) -> LabelSet {
    let labels: Vec<metrics::Label> = labels.iter().map(|(k, v)| metrics::Label::new(k.clone(), v.clone())).collect();
    LabelSet::from_key_and_global(&metrics::Key::from_parts(name.to_string(), labels), &IndexMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let labels: BTreeMap<String, String> = [("skill".to_string(), "http_call".to_string())].into();
        let step = Series {
            name: "step_duration_seconds".into(),
            labels,
            value: SeriesValue::Histogram { buckets: vec![(0.005, 2), (1.0, 3)], sum: 0.508, count: 4 },
        };
        let runs = Series {
            name: "runs_total".into(),
            labels: [("status".to_string(), "fa\"iled".to_string())].into(),
            value: SeriesValue::Counter(7),
        };
        let text = render(
            &[("runs_total".into(), vec![runs]), ("step_duration_seconds".into(), vec![step]), ("recovery_success_total".into(), vec![])],
            &crate::recorder::catalog(),
        );
        let expected = "# HELP runs_total Runs that finished, by final status (`rejected`: submissions refused with 422).\n\
# TYPE runs_total counter\n\
runs_total{status=\"fa\\\"iled\"} 7\n\
\n\
# HELP step_duration_seconds Wall-clock duration of executed step attempts, by skill.\n\
# TYPE step_duration_seconds histogram\n\
step_duration_seconds_bucket{skill=\"http_call\",le=\"0.005\"} 2\n\
step_duration_seconds_bucket{skill=\"http_call\",le=\"1\"} 3\n\
step_duration_seconds_bucket{skill=\"http_call\",le=\"+Inf\"} 4\n\
step_duration_seconds_sum{skill=\"http_call\"} 0.508\n\
step_duration_seconds_count{skill=\"http_call\"} 4\n\
\n";
        assert_eq!(text, expected);
    }
}
