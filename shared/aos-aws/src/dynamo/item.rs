//! The attribute layout of an item: `pk`, `sk`, `gsi1pk`/`gsi1sk` (index `gsi1`), `expires_at`
//! (the table's TTL attribute), `version`, and `data`, the JSON document as native DynamoDB types
//! (via serde_dynamo) so that `increment` can update one of its fields in place, or `data_json`.
//!
//! Counter items (written by `WriteOp::Add`) also carry `counters` (BOOL true, the marker) and one
//! top-level number attribute `n_<field>` per counter, which an UpdateItem `ADD`s to while it
//! `SET`s the document (DynamoDB refuses an update touching both `data` and `data.<field>`). The
//! prefix keeps them apart from the fixed attributes, none of which starts with `n_`. Reading
//! merges them into the document as `data.<field>`, only when the marker is present: a `Put` in
//! place removes the marker, so any `n_` attributes it leaves behind are ignored (and dropped by the
//! next `Add`, which then writes the whole item).

use super::expr::num;
use aos_core::ports::{IndexKey, Item, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(crate) const VERSION: &str = "version";
pub(crate) const DATA: &str = "data";
pub(crate) const DATA_JSON: &str = "data_json";
pub(crate) const GSI1: &str = "gsi1";
/// The marker of a counter item (BOOL true).
pub(crate) const COUNTERS: &str = "counters";
/// The prefix of a counter's attribute: `n_<field>`.
pub(crate) const COUNTER_PREFIX: &str = "n_";

pub(crate) type Attrs = HashMap<String, AttributeValue>;

/// Containers deeper than this are stored as text: DynamoDB allows 32 levels of nesting, the
/// `data` attribute itself being the first.
const MAX_NATIVE_DEPTH: usize = 30;

/// A document as stored: natively in `data`, or as JSON text in `data_json` when DynamoDB's types
/// cannot hold it (deep nesting, numbers beyond its range, empty map keys), so that any JSON the
/// embedded store accepts is accepted here too.
pub(crate) enum Doc {
    Native(AttributeValue),
    Text(String),
}

impl Doc {
    /// The attribute holding the document and the one to clear.
    pub fn attrs(&self) -> (&'static str, &'static str) {
        match self {
            Doc::Native(_) => (DATA, DATA_JSON),
            Doc::Text(_) => (DATA_JSON, DATA),
        }
    }

    pub fn value(self) -> AttributeValue {
        match self {
            Doc::Native(v) => v,
            Doc::Text(t) => AttributeValue::S(t),
        }
    }
}

pub(crate) fn document(data: &Value) -> Result<Doc, StoreError> {
    if !native(data, 1) {
        return Ok(Doc::Text(data.to_string()));
    }
    serde_dynamo::to_attribute_value(data).map(Doc::Native).map_err(|e| StoreError::Backend(format!("item data cannot be stored: {e}")))
}

/// Whether DynamoDB can store `v` natively: numbers within its range (38 digits, magnitude below
/// 1E126; bounds kept conservative for floats), nesting within its limit, no empty map keys.
fn native(v: &Value, depth: usize) -> bool {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => true,
        Value::Number(n) => n.as_f64().is_some_and(|f| f == 0.0 || (1e-120..1e38).contains(&f.abs())),
        Value::Array(a) => depth < MAX_NATIVE_DEPTH && a.iter().all(|x| native(x, depth + 1)),
        Value::Object(m) => depth < MAX_NATIVE_DEPTH && m.iter().all(|(k, x)| !k.is_empty() && native(x, depth + 1)),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

pub(crate) fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([(PK.to_string(), AttributeValue::S(pk.to_string())), (SK.to_string(), AttributeValue::S(sk.to_string()))])
}

/// The full attribute map of `item` stored at `version`.
pub(crate) fn to_attrs(item: &Item, version: u64) -> Result<Attrs, StoreError> {
    let mut attrs = key(&item.pk, &item.sk);
    let doc = document(&item.data)?;
    attrs.insert(doc.attrs().0.into(), doc.value());
    attrs.insert(VERSION.into(), num(version));
    if let Some(index) = &item.gsi1 {
        attrs.insert(GSI1PK.into(), AttributeValue::S(index.pk.clone()));
        attrs.insert(GSI1SK.into(), AttributeValue::S(index.sk.clone()));
    }
    if let Some(at) = item.expires_at {
        attrs.insert(EXPIRES_AT.into(), num(at));
    }
    Ok(attrs)
}

/// The attribute holding the counter `field` of a counter item.
pub(crate) fn counter_attr(field: &str) -> String {
    format!("{COUNTER_PREFIX}{field}")
}

/// The full attribute map of a counter item written whole: `item` at `version`, its counters
/// holding `values`.
pub(crate) fn counter_attrs(item: &Item, version: u64, values: &[(String, i64)]) -> Result<Attrs, StoreError> {
    let mut attrs = to_attrs(item, version)?;
    attrs.insert(COUNTERS.into(), AttributeValue::Bool(true));
    attrs.extend(values.iter().map(|(field, value)| (counter_attr(field), num(value))));
    Ok(attrs)
}

fn string(attrs: &Attrs, name: &str) -> Option<String> {
    attrs.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(crate) fn number<T: std::str::FromStr>(attrs: &Attrs, name: &str) -> Option<T> {
    attrs.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// Whether the stored item has expired (and so must be treated as absent).
pub(crate) fn expired(attrs: &Attrs, now: i64) -> bool {
    number::<i64>(attrs, EXPIRES_AT).is_some_and(|at| at <= now)
}

pub(crate) fn from_attrs(mut attrs: Attrs) -> Result<Item, StoreError> {
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt item: {what}"));
    let pk = string(&attrs, PK).ok_or_else(|| corrupt("no pk"))?;
    let sk = string(&attrs, SK).ok_or_else(|| corrupt("no sk"))?;
    let version = number(&attrs, VERSION).ok_or_else(|| corrupt("no version"))?;
    let gsi1 = match (string(&attrs, GSI1PK), string(&attrs, GSI1SK)) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    let expires_at = number(&attrs, EXPIRES_AT);
    let data = match (attrs.remove(DATA), attrs.remove(DATA_JSON)) {
        (Some(doc), _) => serde_dynamo::from_attribute_value(doc).map_err(|e| corrupt(&format!("data of {pk}/{sk}: {e}")))?,
        (None, Some(AttributeValue::S(text))) => serde_json::from_str(&text).map_err(|e| corrupt(&format!("data of {pk}/{sk}: {e}")))?,
        _ => Value::Null,
    };
    let data =
        if attrs.contains_key(COUNTERS) { with_counters(data, &attrs).map_err(|e| corrupt(&format!("{pk}/{sk}: {e}")))? } else { data };
    Ok(Item { pk, sk, data, gsi1, expires_at, version })
}

/// The document of a counter item with its `n_<field>` attributes merged in as `<field>`.
fn with_counters(mut data: Value, attrs: &Attrs) -> Result<Value, String> {
    let Value::Object(map) = &mut data else { return Err("a counter item's document is not an object".into()) };
    for (name, value) in attrs {
        if let Some(field) = name.strip_prefix(COUNTER_PREFIX) {
            let n = value.as_n().ok().and_then(|n| serde_json::from_str::<serde_json::Number>(n).ok());
            map.insert(field.to_string(), Value::Number(n.ok_or_else(|| format!("counter {field} is not a number"))?));
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_round_trip() {
        let data = json!({"s": "x", "n": 1, "f": 0.1, "neg": -7, "b": true, "z": null, "l": [1, "a", {}], "m": {"k": ""}, "e": ""});
        let item = Item::new("p", "s", data).with_index("ip", "is").expiring_at(123);
        let back = from_attrs(to_attrs(&item, 4).expect("attrs")).expect("item");
        assert_eq!(back, Item { version: 4, ..item });
        for scalar in [json!(null), json!(3), json!("x"), json!([])] {
            let item = Item::new("p", "s", scalar);
            assert_eq!(from_attrs(to_attrs(&item, 1).expect("attrs")).expect("item").data, item.data);
        }
    }

    #[test]
    fn documents_dynamodb_cannot_hold_are_stored_as_text() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        for data in [deep, json!({"": 1}), json!({"x": [1e300]}), json!(5e-324)] {
            let attrs = to_attrs(&Item::new("p", "s", data.clone()), 1).expect("attrs");
            assert!(attrs.contains_key(DATA_JSON) && !attrs.contains_key(DATA), "{data}");
            assert_eq!(from_attrs(attrs).expect("item").data, data);
        }
        let attrs = to_attrs(&Item::new("p", "s", json!({"n": 1.5, "big": u64::MAX})), 1).expect("attrs");
        assert!(attrs.contains_key(DATA) && !attrs.contains_key(DATA_JSON));
    }

    #[test]
    fn counters_are_merged_only_into_marked_items() {
        let item = Item::new("p", "s", json!({"code": "X"})).with_index("ip", "is");
        let attrs = counter_attrs(&item, 3, &[("attempts".into(), 4), ("n_x".into(), -1)]).expect("attrs");
        assert_eq!(attrs.get("n_attempts"), Some(&num(4)));
        let back = from_attrs(attrs.clone()).expect("item");
        assert_eq!(back, Item { data: json!({"code": "X", "attempts": 4, "n_x": -1}), version: 3, ..item.clone() });
        let mut unmarked = attrs;
        unmarked.remove(COUNTERS);
        assert_eq!(from_attrs(unmarked).expect("item").data, json!({"code": "X"}), "a Put removed the marker");
        let scalar = counter_attrs(&Item::new("p", "s", json!(1)), 1, &[]).expect("attrs");
        assert!(from_attrs(scalar).is_err());
    }

    #[test]
    fn expiry_is_inclusive_of_now() {
        let attrs = to_attrs(&Item::new("p", "s", json!(1)).expiring_at(10), 1).expect("attrs");
        assert!(expired(&attrs, 10) && !expired(&attrs, 9));
        assert!(!expired(&to_attrs(&Item::new("p", "s", json!(1)), 1).expect("attrs"), i64::MAX));
    }
}
