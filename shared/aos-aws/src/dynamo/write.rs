//! Single-item writes. The store owns `version`, so each port condition maps to the write that
//! can maintain it atomically: a PutItem when the new version is known (`NotExists` → 1,
//! `VersionIs(v)` → v+1), an in-place UpdateItem that adds 1 otherwise, with a fallback PutItem
//! when an expired-but-unreaped item must restart at version 1.

use super::expr::{num, Expr};
use super::item::{self, DATA, VERSION};
use super::{now, write_err, DynamoStore, MAX_RACES};
use aos_core::ports::{Condition, Item, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::{json, Value};

impl DynamoStore {
    pub(super) async fn put_item(&self, item: &Item, condition: &Condition) -> Result<u64, StoreError> {
        let now = now();
        match condition {
            Condition::NotExists => self.put_fresh(item, now).await.map(|()| 1),
            Condition::VersionIs(v) => {
                let mut e = Expr::default();
                let cond = e.condition(condition, now);
                let next = v.saturating_add(1);
                self.put_at(item, next, e, cond).await.map(|()| next)
            }
            Condition::Exists => {
                let mut e = Expr::default();
                let cond = e.live(now);
                self.overwrite(item, e, cond).await
            }
            Condition::Always => {
                for _ in 0..MAX_RACES {
                    // One write for an absent or live item; an expired one fails the condition
                    // and is replaced by a fresh item at version 1.
                    let mut e = Expr::default();
                    let cond = e.unexpired(now);
                    match self.overwrite(item, e, cond).await {
                        Err(StoreError::ConditionFailed) => {}
                        other => return other,
                    }
                    match self.put_fresh(item, now).await {
                        Err(StoreError::ConditionFailed) => {}
                        other => return other.map(|()| 1),
                    }
                }
                Err(StoreError::Backend(format!("put of {}/{} kept racing with other writers", item.pk, item.sk)))
            }
        }
    }

    /// PutItem of a new item (version 1) where there is none, or only an expired one.
    async fn put_fresh(&self, item: &Item, now: i64) -> Result<(), StoreError> {
        let mut e = Expr::default();
        let cond = e.absent(now);
        self.put_at(item, 1, e, Some(cond)).await
    }

    async fn put_at(&self, item: &Item, version: u64, e: Expr, cond: Option<String>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::to_attrs(item, version)?))
            .set_condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map(drop)
            .map_err(|e| write_err(e, |s| s.is_conditional_check_failed_exception()))
    }

    /// UpdateItem replacing everything but the key and bumping the version; returns the version.
    async fn overwrite(&self, item: &Item, mut e: Expr, cond: String) -> Result<u64, StoreError> {
        let update = e.overwrite(item)?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(&item.pk, &item.sk)))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| write_err(e, |s| s.is_conditional_check_failed_exception()))?;
        out.attributes
            .as_ref()
            .and_then(|a| item::number(a, VERSION))
            .ok_or_else(|| StoreError::Backend("UpdateItem returned no version".into()))
    }

    /// `increment`: an atomic in-place add on a live item, or a fresh item holding `delta` when
    /// there is none (or only an expired one). Each step is conditional, so concurrent callers
    /// either both add or one creates and the other adds.
    pub(super) async fn add(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
        for _ in 0..MAX_RACES {
            let now = now();
            match self.add_in_place(pk, sk, field, delta, now).await {
                Err(StoreError::ConditionFailed) => {}
                other => return other,
            }
            let fresh = Item::new(pk, sk, json!({ field: delta }));
            match self.put_fresh(&fresh, now).await {
                Err(StoreError::ConditionFailed) => {}
                other => return other.map(|()| delta),
            }
            // Both steps failed: a concurrent create (retry), or a live item whose field cannot
            // take the delta, which the in-place condition refuses rather than overflowing.
            if let Some(current) = super::Store::get(self, pk, sk).await? {
                check_addable(&current.data, field, delta)?;
            }
        }
        Err(StoreError::Backend(format!("increment of {pk}/{sk} kept racing with other writers")))
    }

    async fn add_in_place(&self, pk: &str, sk: &str, field: &str, delta: i64, now: i64) -> Result<i64, StoreError> {
        let mut e = Expr::default();
        let (data, f, ver) = (e.name(DATA), e.alias("f", field), e.name(VERSION));
        let (zero, one, d) = (e.value("zero", num(0)), e.value("one", num(1)), e.value("d", num(delta)));
        // The bound keeps the result within i64, as the embedded adapter guarantees.
        let (op, bound) = if delta >= 0 { ("<=", i64::MAX - delta) } else { (">=", i64::MIN - delta) };
        let (bound, n) = (e.value("bound", num(bound)), e.value("n", AttributeValue::S("N".into())));
        // A non-number field fails the type check instead of reaching the comparison.
        let addable = format!("attribute_type({data}.{f}, {n}) AND {data}.{f} {op} {bound}");
        let cond = format!("{} AND (attribute_not_exists({data}.{f}) OR ({addable}))", e.live(now));
        let update = format!("SET {data}.{f} = if_not_exists({data}.{f}, {zero}) + {d}, {ver} = {ver} + {one}");
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(pk, sk)))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| write_err(e, |s| s.is_conditional_check_failed_exception()))?;
        let doc = out.attributes.and_then(|mut a| a.remove(DATA));
        let value = match doc {
            Some(AttributeValue::M(mut m)) => m.remove(field).and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok())),
            _ => None,
        };
        value.ok_or_else(|| StoreError::Backend(format!("increment of {pk}/{sk} returned no value for {field}")))
    }
}

/// Why `delta` cannot be added to `data[field]`, mirroring the embedded adapter's errors.
fn check_addable(data: &Value, field: &str, delta: i64) -> Result<(), StoreError> {
    let Value::Object(map) = data else {
        return Err(StoreError::Backend(format!("cannot increment {field}: the item's data is not an object")));
    };
    match map.get(field) {
        None => Ok(()),
        Some(v) => match v.as_i64() {
            None => Err(StoreError::Backend(format!("cannot increment {field}: not an integer ({v})"))),
            Some(n) if n.checked_add(delta).is_none() => Err(StoreError::Backend(format!("cannot increment {field}: integer overflow"))),
            Some(_) => Ok(()),
        },
    }
}
