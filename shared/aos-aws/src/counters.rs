//! `DynamoCounters`: the `MetricStore` port over the single table. One item per series
//! (pk `metrics#<name>`, sk the canonical JSON of its labels); a delta is one `UpdateItem` whose
//! `ADD` actions are atomic, so concurrent invocations never lose increments. Layout in
//! `docs/dynamodb.md`.

use crate::dynamo::backend;
use aos_core::ports::StoreError;
use aos_core::ports::{series_pk, series_sk, MetricStore, Series, SeriesValue};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

const METRIC: &str = "metric";
const KIND: &str = "kind";
const LABELS: &str = "labels";
const VALUE: &str = "value";
const SUM: &str = "sum";
const COUNT: &str = "count";
const UPDATED_AT: &str = "updated_at";
/// Prefix of a histogram bucket's attribute: `le_0.005` holds the cumulative count of
/// observations at most 0.005.
const BUCKET_PREFIX: &str = "le_";

#[derive(Clone, Debug)]
pub struct DynamoCounters {
    client: Client,
    table: String,
}

impl DynamoCounters {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Names and values of one update expression, numbered in order of use.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    add: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    fn placeholders(&mut self, attr: &str, value: AttributeValue) -> (String, String) {
        let i = self.names.len();
        let (name, val) = (format!("#a{i}"), format!(":v{i}"));
        self.names.insert(name.clone(), attr.to_string());
        self.values.insert(val.clone(), value);
        (name, val)
    }
    fn set(&mut self, attr: &str, value: AttributeValue) {
        let (name, val) = self.placeholders(attr, value);
        self.set.push(format!("{name} = {val}"));
    }
    fn add(&mut self, attr: &str, value: AttributeValue) {
        let (name, val) = self.placeholders(attr, value);
        self.add.push(format!("{name} {val}"));
    }
    fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        parts.join(" ")
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// DynamoDB numbers are finite decimals.
fn finite(what: &str, v: f64) -> Result<f64, StoreError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(StoreError::Backend(format!("{what} is not a finite number: {v}")))
    }
}

#[async_trait]
impl MetricStore for DynamoCounters {
    async fn add(&self, delta: &Series) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.set(METRIC, AttributeValue::S(delta.name.clone()));
        u.set(KIND, AttributeValue::S(delta.value.kind().into()));
        u.set(LABELS, AttributeValue::M(delta.labels.iter().map(|(k, v)| (k.clone(), AttributeValue::S(v.clone()))).collect()));
        u.set(UPDATED_AT, n(now_s()));
        match &delta.value {
            SeriesValue::Counter(d) => u.add(VALUE, n(d)),
            SeriesValue::Gauge(v) => u.set(VALUE, n(finite("gauge value", *v)?)),
            SeriesValue::Histogram { buckets, sum, count } => {
                u.add(SUM, n(finite("histogram sum", *sum)?));
                u.add(COUNT, n(count));
                for (le, c) in buckets {
                    u.add(&format!("{BUCKET_PREFIX}{}", finite("bucket bound", *le)?), n(c));
                }
            }
        }
        let key = HashMap::from([
            ("pk".to_string(), AttributeValue::S(series_pk(&delta.name))),
            ("sk".to_string(), AttributeValue::S(series_sk(&delta.labels))),
        ]);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(u.expression())
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn series(&self, name: &str) -> Result<Vec<Series>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(series_pk(name)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item(name, item)?);
            }
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(out),
            }
        }
    }
}

fn number<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, attr: &str) -> Result<T, StoreError> {
    match item.get(attr) {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| StoreError::Backend(format!("metric item attribute {attr} is not a number: {v}")))
        }
        None => Err(StoreError::Backend(format!("metric item has no {attr}"))),
        Some(other) => Err(StoreError::Backend(format!("metric item attribute {attr} is not a number: {other:?}"))),
    }
}

fn from_item(name: &str, item: HashMap<String, AttributeValue>) -> Result<Series, StoreError> {
    let labels: BTreeMap<String, String> = match item.get(LABELS) {
        Some(AttributeValue::M(m)) => m.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone()))).collect(),
        _ => BTreeMap::new(),
    };
    let kind = item.get(KIND).and_then(|k| k.as_s().ok()).map(String::as_str).unwrap_or_default();
    let value = match kind {
        "counter" => SeriesValue::Counter(number(&item, VALUE)?),
        "gauge" => SeriesValue::Gauge(number(&item, VALUE)?),
        "histogram" => {
            let mut buckets = Vec::new();
            for (attr, v) in &item {
                if let (Some(le), AttributeValue::N(c)) = (attr.strip_prefix(BUCKET_PREFIX), v) {
                    let le: f64 = le.parse().map_err(|_| StoreError::Backend(format!("bad bucket attribute {attr}")))?;
                    let c: u64 = c.parse().map_err(|_| StoreError::Backend(format!("bucket {attr} is not a count: {c}")))?;
                    buckets.push((le, c));
                }
            }
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            SeriesValue::Histogram { buckets, sum: number(&item, SUM)?, count: number(&item, COUNT)? }
        }
        other => return Err(StoreError::Backend(format!("metric item of {name} has an unknown kind `{other}`"))),
    };
    Ok(Series { name: name.to_string(), labels, value })
}
