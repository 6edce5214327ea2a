//! `transact_write` via TransactWriteItems. Puts use the same mapping as single writes (`write.rs`);
//! a `Put` with `Always` is written in place and, if its item turns out to be expired, retried as
//! a fresh item, so its version restarts at 1 as the port requires. Cancellation reasons map one
//! per operation; TransactionConflict (a concurrent transaction on the same items) is retried.
//! An `Add` is an in-place Update; when its condition fails (the item is expired, or a `Put` wrote
//! it, or a counter would overflow) the item is read and the `Add` takes the form it calls for
//! (`write::add_form`) in the retried transaction.

use super::expr::{tautology, Expr};
use super::item::{self, Attrs};
use super::write::{add_form, checked_counters, AddForm};
use super::{backend, now, DynamoStore, MAX_RACES};
use aos_core::ports::{CancelReason, Condition, StoreError, WriteOp};
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use std::collections::HashSet;
use std::time::Duration;

const CONFLICT_RETRIES: u32 = 3;

impl DynamoStore {
    pub(super) async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        distinct_items(&ops)?;
        let ops = ops.into_iter().map(checked).collect::<Result<Vec<_>, _>>()?;
        // Per op: whether a `Put` with `Always` is written in place (or as a fresh item), and how
        // an `Add` is written.
        let mut in_place = vec![true; ops.len()];
        let mut adds = vec![AddForm::InPlace; ops.len()];
        let mut conflicts = 0;
        for _ in 0..MAX_RACES {
            let now = now();
            let items =
                ops.iter().enumerate().map(|(i, op)| self.tx_item(op, in_place[i], &adds[i], now)).collect::<Result<Vec<_>, _>>()?;
            let err = match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let Some(codes) = err.as_service_error().and_then(cancellation_codes) else { return Err(backend(err)) };
            let (mut flipped, mut conflicted) = (false, false);
            let mut reread = Vec::new();
            let mut reasons = Vec::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                reasons.push(match codes.get(i).and_then(Option::as_deref) {
                    None => None,
                    Some("ConditionalCheckFailed") if is_put_always(op) => {
                        // The item's expiry state changed under us: write it the other way.
                        in_place[i] = !in_place[i];
                        flipped = true;
                        None
                    }
                    Some("ConditionalCheckFailed") if matches!(op, WriteOp::Add { .. }) => {
                        // The item is not as this form assumed: read it and choose again.
                        reread.push(i);
                        flipped = true;
                        None
                    }
                    Some("ConditionalCheckFailed") => Some(CancelReason::ConditionalCheckFailed),
                    Some(code) => {
                        conflicted |= code == "TransactionConflict";
                        Some(CancelReason::Other(code.to_string()))
                    }
                });
            }
            let only_conflicts = reasons.iter().flatten().all(|r| *r == CancelReason::Other("TransactionConflict".into()));
            if !only_conflicts || (conflicted && conflicts >= CONFLICT_RETRIES) || !(flipped || conflicted) {
                return Err(StoreError::TransactionCanceled { reasons });
            }
            for &i in &reread {
                if let WriteOp::Add { item, counters } = &ops[i] {
                    adds[i] = add_form(self.get_attrs(&item.pk, &item.sk).await?, counters, super::now())?;
                }
            }
            if conflicted {
                conflicts += 1;
                tokio::time::sleep(Duration::from_millis(25 << conflicts)).await;
            }
        }
        Err(StoreError::Backend("transaction kept racing with other writers".into()))
    }

    fn tx_item(&self, op: &WriteOp, in_place: bool, add: &AddForm, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let built = match op {
            WriteOp::Put { item, condition } => match (condition, in_place) {
                (Condition::NotExists, _) | (Condition::Always, false) => {
                    let cond = e.absent(now);
                    return self.tx_put(item::to_attrs(item, 1)?, &e, Some(cond));
                }
                (Condition::VersionIs(v), _) => {
                    let cond = e.condition(condition, now);
                    return self.tx_put(item::to_attrs(item, v.saturating_add(1))?, &e, cond);
                }
                (Condition::Exists, _) | (Condition::Always, true) => {
                    let cond = if *condition == Condition::Exists { e.live(now) } else { e.unexpired(now) };
                    let update = e.overwrite(item)?;
                    let u = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(item::key(&item.pk, &item.sk)))
                        .update_expression(update)
                        .condition_expression(cond)
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build();
                    u.map(|u| TransactWriteItem::builder().update(u).build())
                }
            },
            WriteOp::Delete { pk, sk, condition } => {
                let cond = e.condition(condition, now);
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::key(pk, sk)))
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .build();
                d.map(|d| TransactWriteItem::builder().delete(d).build())
            }
            WriteOp::Check { pk, sk, condition } => {
                // DynamoDB requires a condition on a ConditionCheck; `Always` still claims the item.
                let cond = e.condition(condition, now).unwrap_or_else(|| tautology(&mut e));
                let c = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::key(pk, sk)))
                    .condition_expression(cond)
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .build();
                c.map(|c| TransactWriteItem::builder().condition_check(c).build())
            }
            WriteOp::Add { item, counters } => {
                if let Some((attrs, cond)) = add.whole(item, &mut e, now)? {
                    return self.tx_put(attrs, &e, Some(cond));
                }
                let (update, cond) = e.add_in_place(item, counters, now)?;
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::key(&item.pk, &item.sk)))
                    .update_expression(update)
                    .condition_expression(cond)
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .build();
                u.map(|u| TransactWriteItem::builder().update(u).build())
            }
        };
        built.map_err(build_err)
    }

    fn tx_put(&self, attrs: Attrs, e: &Expr, cond: Option<String>) -> Result<TransactWriteItem, StoreError> {
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .set_condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(p).build())
    }
}

fn build_err(e: BuildError) -> StoreError {
    StoreError::Backend(format!("cannot build the transaction: {e}"))
}

/// `op` with an `Add`'s counters checked (`write::checked_counters`).
fn checked(op: WriteOp) -> Result<WriteOp, StoreError> {
    match op {
        WriteOp::Add { item, counters } => {
            let counters = checked_counters(&item, &counters)?;
            Ok(WriteOp::Add { item, counters })
        }
        op => Ok(op),
    }
}

fn is_put_always(op: &WriteOp) -> bool {
    matches!(op, WriteOp::Put { condition: Condition::Always, .. })
}

/// The per-item cancellation codes of a cancelled transaction ("None" for items that were fine).
fn cancellation_codes(e: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError) -> Option<Vec<Option<String>>> {
    let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) = e else {
        return None;
    };
    let reasons = c.cancellation_reasons.as_ref()?;
    Some(reasons.iter().map(|r| r.code.clone().filter(|code| code != "None")).collect())
}

/// DynamoDB rejects two operations on one item in a transaction; reject it before the call.
fn distinct_items(ops: &[WriteOp]) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for op in ops {
        let key = op.key();
        if !seen.insert(key) {
            return Err(StoreError::Backend(format!("a transaction cannot include two operations on one item ({}/{})", key.0, key.1)));
        }
    }
    Ok(())
}
