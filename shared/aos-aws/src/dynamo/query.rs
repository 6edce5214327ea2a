//! Paginated partition and index queries. DynamoDB applies `Limit` before the expiry filter and
//! returns a LastEvaluatedKey whenever it stopped at `Limit`, so pages are assembled here: read
//! until `limit + 1` visible items or the end, and cut the cursor at the last item returned.

use super::expr::Expr;
use super::item::{self, GSI1, GSI1PK, GSI1SK, PK, SK};
use super::{backend, now, DynamoStore};
use aos_core::ports::{Item, Page, Query, SkRange, StoreError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::{BTreeMap, HashMap};

/// Larger pages are cut to this many items (the port allows fewer than `limit`).
const MAX_PAGE: usize = 10_000;

impl DynamoStore {
    pub(super) async fn page(&self, q: Query, index: bool) -> Result<Page, StoreError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (part, sort) = if index { (GSI1PK, GSI1SK) } else { (PK, SK) };
        let mut e = Expr::default();
        let Some(key_condition) = key_condition(&mut e, part, sort, &q.pk, &q.sk) else {
            return Ok(Page { items: Vec::new(), next: None });
        };
        let filter = e.unexpired(now());
        let has_cursor = q.cursor.is_some();
        let mut start = q.cursor.as_deref().map(|c| decode(c, index, &q.pk)).transpose()?;
        let mut items = Vec::new();
        loop {
            let want = limit + 1 - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.then(|| GSI1.to_string()))
                .key_condition_expression(&key_condition)
                .filter_expression(&filter)
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .scan_index_forward(!q.descending)
                // Index reads are eventually consistent by nature; base-table reads need not be.
                .set_consistent_read((!index).then_some(true))
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| query_err(err, has_cursor))?;
            for attrs in out.items.unwrap_or_default() {
                items.push(item::from_attrs(attrs)?);
            }
            start = out.last_evaluated_key;
            if items.len() > limit || start.is_none() {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more { items.last().map(|i| encode(i, index)) } else { None };
        Ok(Page { items, next })
    }
}

/// The KeyConditionExpression, or `None` when no item can match (DynamoDB keys are never empty,
/// and it rejects an inverted BETWEEN instead of matching nothing).
fn key_condition(e: &mut Expr, part: &str, sort: &str, pk: &str, range: &SkRange) -> Option<String> {
    if pk.is_empty() {
        return None;
    }
    let s = |v: &str| AttributeValue::S(v.to_string());
    let partition = format!("{} = {}", e.name(part), e.value("pk", s(pk)));
    match range {
        SkRange::All => Some(partition),
        SkRange::Prefix(p) if p.is_empty() => Some(partition),
        SkRange::Prefix(p) => Some(format!("{partition} AND begins_with({}, {})", e.name(sort), e.value("prefix", s(p)))),
        SkRange::Between(lo, hi) if lo > hi || hi.is_empty() => None,
        SkRange::Between(lo, hi) if lo.is_empty() => Some(format!("{partition} AND {} <= {}", e.name(sort), e.value("hi", s(hi)))),
        SkRange::Between(lo, hi) => {
            let (key, lo, hi) = (e.name(sort), e.value("lo", s(lo)), e.value("hi", s(hi)));
            Some(format!("{partition} AND {key} BETWEEN {lo} AND {hi}"))
        }
    }
}

fn query_err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
    has_cursor: bool,
) -> StoreError {
    let bad_start = err.code() == Some("ValidationException") && err.message().is_some_and(|m| m.to_lowercase().contains("start"));
    if has_cursor && bad_start {
        StoreError::BadCursor
    } else {
        backend(err)
    }
}

fn key_names(index: bool) -> &'static [&'static str] {
    if index {
        &[PK, SK, GSI1PK, GSI1SK]
    } else {
        &[PK, SK]
    }
}

/// The cursor: the key of the last item returned (for the index, its index key as well, since
/// index keys need not be unique), as base64url JSON. DynamoDB resumes strictly after it.
fn encode(item: &Item, index: bool) -> String {
    let mut key = BTreeMap::from([(PK, item.pk.as_str()), (SK, item.sk.as_str())]);
    if let (true, Some(ix)) = (index, &item.gsi1) {
        key.insert(GSI1PK, ix.pk.as_str());
        key.insert(GSI1SK, ix.sk.as_str());
    }
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key).unwrap_or_default())
}

/// The ExclusiveStartKey of a cursor, which must belong to the queried partition.
fn decode(cursor: &str, index: bool, pk: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::BadCursor)?;
    let key: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    let names = key_names(index);
    let partition = if index { GSI1PK } else { PK };
    if key.len() != names.len() || !names.iter().all(|n| key.contains_key(*n)) || key.get(partition).map(String::as_str) != Some(pk) {
        return Err(StoreError::BadCursor);
    }
    Ok(key.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_and_stay_in_their_partition() {
        let item = Item::new("p", "a.b/ü", json!(1)).with_index("ix", "k");
        let c = encode(&item, true);
        let key = decode(&c, true, "ix").expect("index cursor");
        assert_eq!(key.get(SK), Some(&AttributeValue::S("a.b/ü".into())));
        assert_eq!(decode(&c, true, "other"), Err(StoreError::BadCursor));
        assert_eq!(decode(&c, false, "p"), Err(StoreError::BadCursor));
        assert!(decode(&encode(&item, false), false, "p").is_ok());
        for bad in ["", "not a cursor", "e30", "W10"] {
            assert_eq!(decode(bad, false, "p"), Err(StoreError::BadCursor), "{bad}");
        }
    }

    #[test]
    fn impossible_ranges_match_nothing() {
        let mut e = Expr::default();
        let between = |a: &str, b: &str| SkRange::Between(a.into(), b.into());
        assert_eq!(key_condition(&mut e, PK, SK, "p", &between("b", "a")), None);
        assert_eq!(key_condition(&mut e, PK, SK, "p", &between("", "")), None);
        assert_eq!(key_condition(&mut e, PK, SK, "", &SkRange::All), None);
        assert_eq!(key_condition(&mut e, PK, SK, "p", &between("", "b")).as_deref(), Some("#pk = :pk AND #sk <= :hi"));
        assert_eq!(key_condition(&mut e, PK, SK, "p", &SkRange::Prefix(String::new())).as_deref(), Some("#pk = :pk"));
    }
}
