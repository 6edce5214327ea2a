//! Single-item writes. The store owns `version`, so each port condition maps to the write that
//! can maintain it atomically: a PutItem when the new version is known (`NotExists` → 1,
//! `VersionIs(v)` → v+1), an in-place UpdateItem that adds 1 otherwise, with a fallback PutItem
//! when an expired-but-unreaped item must restart at version 1. `WriteOp::Add` (counter items,
//! layout in `item.rs`) is an UpdateItem `SET … ADD …`, or a PutItem of the whole item when the
//! one there is expired or was written by a `Put`.

use super::expr::{num, Expr};
use super::item::{self, Attrs, COUNTERS, DATA, VERSION};
use super::{now, write_err, DynamoStore, MAX_RACES};
use aos_core::ports::{Condition, Item, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How a `WriteOp::Add` is written, chosen from the item as last seen.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AddForm {
    /// UpdateItem `SET … ADD …`: there is no item, or a live counter item.
    InPlace,
    /// PutItem of the whole item with its counters at `values`: over an expired item (`over:
    /// None`, version 1), or over a live one a `Put` wrote, at version `over` (the counters then
    /// start from its document's fields, as the embedded adapter's do).
    Whole { over: Option<u64>, values: Vec<(String, i64)> },
}

impl AddForm {
    /// The PutItem's item and ConditionExpression (`Whole` only).
    pub(super) fn whole(&self, item: &Item, e: &mut Expr, now: i64) -> Result<Option<(Attrs, String)>, StoreError> {
        let AddForm::Whole { over, values } = self else { return Ok(None) };
        let cond = match over {
            None => e.absent(now),
            Some(v) => {
                let version = e.condition(&Condition::VersionIs(*v), now).unwrap_or_default();
                format!("{version} AND attribute_not_exists({})", e.name(COUNTERS))
            }
        };
        Ok(Some((item::counter_attrs(item, over.map_or(1, |v| v.saturating_add(1)), values)?, cond)))
    }
}

/// The counters of an `Add`, checked: its document must be an object; a field named twice counts
/// once, with its last delta (as in the embedded adapter).
pub(super) fn checked_counters(item: &Item, counters: &[(String, i64)]) -> Result<Vec<(String, i64)>, StoreError> {
    if !item.data.is_object() {
        return Err(StoreError::Backend(format!("add to ({}, {}): the item's data must be an object", item.pk, item.sk)));
    }
    let unique: BTreeMap<&str, i64> = counters.iter().map(|(f, d)| (f.as_str(), *d)).collect();
    Ok(unique.into_iter().map(|(f, d)| (f.to_string(), d)).collect())
}

/// The form an `Add` of `counters` takes over the stored item `attrs`, or why it cannot be made.
pub(super) fn add_form(attrs: Option<Attrs>, counters: &[(String, i64)], now: i64) -> Result<AddForm, StoreError> {
    let overflow = |field: &str| StoreError::Backend(format!("cannot add to {field}: integer overflow"));
    match attrs {
        None => Ok(AddForm::InPlace),
        Some(attrs) if item::expired(&attrs, now) => Ok(AddForm::Whole { over: None, values: counters.to_vec() }),
        Some(attrs) if attrs.contains_key(COUNTERS) => {
            for (field, delta) in counters {
                let name = item::counter_attr(field);
                let current = if attrs.contains_key(&name) { item::number::<i64>(&attrs, &name) } else { Some(0) };
                current.and_then(|c| c.checked_add(*delta)).ok_or_else(|| overflow(field))?;
            }
            Ok(AddForm::InPlace)
        }
        Some(attrs) => {
            let current = item::from_attrs(attrs)?;
            let values = counters.iter().map(|(field, delta)| {
                let base = match current.data.get(field) {
                    None => 0,
                    Some(v) => v.as_i64().ok_or_else(|| StoreError::Backend(format!("cannot add to {field}: not an integer ({v})")))?,
                };
                base.checked_add(*delta).map(|n| (field.clone(), n)).ok_or_else(|| overflow(field))
            });
            Ok(AddForm::Whole { over: Some(current.version), values: values.collect::<Result<_, _>>()? })
        }
    }
}

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

    /// `Store::add`: one UpdateItem in place, or (when its condition fails) the form the item as
    /// read back calls for, repeated while concurrent writers change the item in between.
    pub(super) async fn add_counters(&self, item: &Item, counters: &[(String, i64)]) -> Result<(), StoreError> {
        let counters = checked_counters(item, counters)?;
        let mut form = AddForm::InPlace;
        for _ in 0..MAX_RACES {
            let (now, mut e) = (now(), Expr::default());
            let written = match form.whole(item, &mut e, now)? {
                Some((attrs, cond)) => {
                    let put = self.client.put_item().table_name(&self.table).set_item(Some(attrs)).condition_expression(cond);
                    let put = put.set_expression_attribute_names(e.names()).set_expression_attribute_values(e.values());
                    put.send().await.map(drop).map_err(|e| write_err(e, |s| s.is_conditional_check_failed_exception()))
                }
                None => {
                    let (update, cond) = e.add_in_place(item, &counters, now)?;
                    let u = self.client.update_item().table_name(&self.table).set_key(Some(item::key(&item.pk, &item.sk)));
                    let u = u.update_expression(update).condition_expression(cond);
                    let u = u.set_expression_attribute_names(e.names()).set_expression_attribute_values(e.values());
                    u.send().await.map(drop).map_err(|e| write_err(e, |s| s.is_conditional_check_failed_exception()))
                }
            };
            match written {
                Err(StoreError::ConditionFailed) => form = add_form(self.get_attrs(&item.pk, &item.sk).await?, &counters, super::now())?,
                other => return other,
            }
        }
        Err(StoreError::Backend(format!("add to {}/{} kept racing with other writers", item.pk, item.sk)))
    }

    /// `increment`: an atomic in-place add on a live item, or a fresh item holding `delta` when
    /// there is none (or only an expired one). Each step is conditional, so concurrent callers
    /// either both add or one creates and the other adds.
    pub(super) async fn increment_field(&self, pk: &str, sk: &str, field: &str, delta: i64) -> Result<i64, StoreError> {
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
