//! CloudWatch Embedded Metric Format: the lines a function prints at the end of an invocation so
//! that CloudWatch Logs extracts them as metrics of the `AOS` namespace. One line per label set:
//! the labels are the line's dimensions, each metric's value a top-level member named after it,
//! and a histogram's observations a `Values`/`Counts` distribution.

use crate::recorder::{Description, Recorded};
use aos_runtime::metric_store::SeriesValue;
use metrics::Unit;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The CloudWatch namespace of every AOS metric.
pub const NAMESPACE: &str = "AOS";
/// CloudWatch takes at most 100 distinct values per metric in one line.
const MAX_VALUES: usize = 100;

/// The EMF lines (JSON objects, one per label set) for what one invocation recorded.
pub fn lines(
    recorded: &[Recorded],
    descriptions: &BTreeMap<String, Description>,
    timestamp_ms: u64,
    function: Option<&str>,
) -> Vec<String> {
    let mut groups: BTreeMap<&BTreeMap<String, String>, Vec<&Recorded>> = BTreeMap::new();
    for r in recorded {
        groups.entry(&r.series.labels).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(labels, members)| {
            let metrics: Vec<Value> = members
                .iter()
                .map(|r| json!({"Name": r.series.name, "Unit": unit(&r.series.value, descriptions.get(&r.series.name))}))
                .collect();
            let mut root = Map::new();
            root.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [labels.keys().collect::<Vec<_>>()], "Metrics": metrics}],
                }),
            );
            // Not a dimension: a property for Logs Insights, so the metric count stays per label set.
            if let Some(f) = function {
                root.insert("function".into(), json!(f));
            }
            for (k, v) in labels {
                root.insert(k.clone(), json!(v));
            }
            for r in members {
                root.insert(r.series.name.clone(), value(r));
            }
            Value::Object(root).to_string()
        })
        .collect()
}

/// CloudWatch's unit names (counters count; anything unnamed is `None`).
fn unit(value: &SeriesValue, description: Option<&Description>) -> &'static str {
    match description.and_then(|d| d.unit) {
        Some(Unit::Seconds) => "Seconds",
        Some(Unit::Milliseconds) => "Milliseconds",
        Some(Unit::Microseconds) => "Microseconds",
        Some(Unit::Bytes) => "Bytes",
        Some(Unit::Percent) => "Percent",
        Some(Unit::Count) => "Count",
        None if matches!(value, SeriesValue::Counter(_)) => "Count",
        _ => "None",
    }
}

fn value(r: &Recorded) -> Value {
    match &r.series.value {
        SeriesValue::Counter(n) => json!(n),
        SeriesValue::Gauge(v) => json!(v),
        SeriesValue::Histogram { buckets, sum, count } => {
            let (values, counts) = distribution(&r.samples, buckets);
            let min = r.samples.iter().copied().fold(f64::INFINITY, f64::min);
            let max = r.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            json!({"Values": values, "Counts": counts, "Max": max, "Min": min, "Count": count, "Sum": sum})
        }
    }
}

/// Distinct observations and how often each occurred; beyond [`MAX_VALUES`] distinct ones, each
/// bucket's upper bound stands for the observations in it (the largest observation for `+Inf`).
fn distribution(samples: &[f64], buckets: &[(f64, u64)]) -> (Vec<f64>, Vec<u64>) {
    let mut distinct: BTreeMap<u64, u64> = BTreeMap::new();
    for s in samples {
        // Non-negative finite durations order like their bit patterns.
        *distinct.entry(s.to_bits()).or_default() += 1;
    }
    if distinct.len() <= MAX_VALUES && samples.iter().all(|s| s.is_finite() && *s >= 0.0) {
        return distinct.into_iter().map(|(bits, n)| (f64::from_bits(bits), n)).unzip();
    }
    let (mut values, mut counts, mut below) = (Vec::new(), Vec::new(), 0);
    for (le, cumulative) in buckets {
        if *cumulative > below {
            values.push(*le);
            counts.push(cumulative - below);
            below = *cumulative;
        }
    }
    let total = samples.len() as u64;
    if total > below {
        values.push(samples.iter().copied().filter(|s| s.is_finite()).fold(0.0, f64::max));
        counts.push(total - below);
    }
    (values, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aos_runtime::metric_store::Series;

    fn recorded(name: &str, labels: &[(&str, &str)], value: SeriesValue, samples: Vec<f64>) -> Recorded {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Recorded { series: Series { name: name.into(), labels, value }, samples }
    }

    #[test]
    fn one_line_per_label_set_with_dimensions_and_values() {
        let recovery = [("code", "HTTP_SERVICE_UNAVAILABLE"), ("mode", "retry_after")];
        let rs = vec![
            recorded("recovery_attempts_total", &recovery, SeriesValue::Counter(2), vec![]),
            recorded("recovery_success_total", &recovery, SeriesValue::Counter(1), vec![]),
            recorded(
                "step_duration_seconds",
                &[("skill", "http_call")],
                SeriesValue::Histogram { buckets: vec![(0.005, 2), (0.01, 2), (1.0, 3)], sum: 0.508, count: 3 },
                vec![0.004, 0.004, 0.5],
            ),
        ];
        let descriptions = crate::recorder::catalog();
        let lines: Vec<Value> = lines(&rs, &descriptions, 1_767_261_723_500, Some("aos-orchestrator"))
            .iter()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(lines.len(), 2);
        let recovery_line = &lines[0];
        let directive = &recovery_line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!((recovery_line["_aws"]["Timestamp"].as_u64(), &directive["Namespace"]), (Some(1_767_261_723_500), &json!("AOS")));
        assert_eq!(directive["Dimensions"], json!([["code", "mode"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "recovery_attempts_total", "Unit": "Count"}, {"Name": "recovery_success_total", "Unit": "Count"}])
        );
        assert_eq!((&recovery_line["recovery_attempts_total"], &recovery_line["recovery_success_total"]), (&json!(2), &json!(1)));
        assert_eq!((&recovery_line["code"], &recovery_line["function"]), (&json!("HTTP_SERVICE_UNAVAILABLE"), &json!("aos-orchestrator")));
        let step = &lines[1];
        assert_eq!(step["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([{"Name": "step_duration_seconds", "Unit": "Seconds"}]));
        assert_eq!(
            step["step_duration_seconds"],
            json!({"Values": [0.004, 0.5], "Counts": [2, 1], "Max": 0.5, "Min": 0.004, "Count": 3, "Sum": 0.508})
        );
    }

    #[test]
    fn many_distinct_observations_are_summarized_by_bucket() {
        let samples: Vec<f64> = (0..150).map(|i| i as f64 / 100.0).collect();
        let buckets = vec![(0.5, 51), (1.0, 101)];
        let (values, counts) = distribution(&samples, &buckets);
        assert_eq!(values, [0.5, 1.0, 1.49]);
        assert_eq!(counts, [51, 50, 49]);
        assert_eq!(counts.iter().sum::<u64>(), 150);
    }
}
