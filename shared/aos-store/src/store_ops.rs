//! Store writes as they run inside the writer's transaction: conditions are judged against the
//! live (unexpired) item in the same transaction as the write, which is what makes them atomic.

use crate::writer::db_err;
use aos_core::ports::{CancelReason, Condition, Item, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

/// An item ready to be written, its document already serialized off the writer thread.
pub(crate) struct Row {
    pub pk: String,
    pub sk: String,
    pub data: String,
    pub gsi1: Option<(String, String)>,
    pub expires_at: Option<i64>,
}

impl Row {
    pub(crate) fn from_item(item: Item) -> Result<Self, StoreError> {
        let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self { pk: item.pk, sk: item.sk, data, gsi1: item.gsi1.map(|k| (k.pk, k.sk)), expires_at: item.expires_at })
    }
}

pub(crate) enum TxOp {
    Put(Row, Condition),
    Delete(String, String, Condition),
    Check(String, String, Condition),
    /// Counters added into the live document, or a fresh item (see `WriteOp::Add`).
    Add(Row, Vec<(String, i64)>),
}

impl TxOp {
    pub(crate) fn key(&self) -> (&str, &str) {
        match self {
            TxOp::Put(row, _) | TxOp::Add(row, _) => (&row.pk, &row.sk),
            TxOp::Delete(pk, sk, _) | TxOp::Check(pk, sk, _) => (pk, sk),
        }
    }

    fn condition(&self) -> &Condition {
        match self {
            TxOp::Put(_, c) | TxOp::Delete(_, _, c) | TxOp::Check(_, _, c) => c,
            TxOp::Add(..) => &Condition::Always,
        }
    }
}

/// The version of the item at the key, unless it is absent or expired.
fn live_version(conn: &Connection, pk: &str, sk: &str, now: i64) -> Result<Option<u64>, StoreError> {
    conn.prepare_cached("SELECT version FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)")
        .and_then(|mut stmt| stmt.query_row(params![pk, sk, now], |row| row.get::<_, i64>(0)).optional())
        .map(|v| v.map(|v| v as u64))
        .map_err(db_err)
}

fn holds(condition: &Condition, live: Option<u64>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => live.is_none(),
        Condition::Exists => live.is_some(),
        Condition::VersionIs(v) => live == Some(*v),
    }
}

fn check(conn: &Connection, pk: &str, sk: &str, condition: &Condition, now: i64) -> Result<Option<u64>, StoreError> {
    let live = live_version(conn, pk, sk, now)?;
    if holds(condition, live) {
        Ok(live)
    } else {
        Err(StoreError::ConditionFailed)
    }
}

pub(crate) fn put(conn: &Connection, row: &Row, condition: &Condition, now: i64) -> Result<u64, StoreError> {
    let live = check(conn, &row.pk, &row.sk, condition, now)?;
    // An expired item is absent: writing over it starts a new item at version 1.
    let version = live.map_or(1, |v| v + 1);
    write_row(conn, row, version)?;
    Ok(version)
}

fn write_row(conn: &Connection, row: &Row, version: u64) -> Result<(), StoreError> {
    let (gsi1pk, gsi1sk) = match &row.gsi1 {
        Some((pk, sk)) => (Some(pk.as_str()), Some(sk.as_str())),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT INTO items(pk, sk, data, gsi1pk, gsi1sk, expires_at, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(pk, sk) DO UPDATE SET data = excluded.data, gsi1pk = excluded.gsi1pk,
           gsi1sk = excluded.gsi1sk, expires_at = excluded.expires_at, version = excluded.version",
    )
    .and_then(|mut stmt| stmt.execute(params![row.pk, row.sk, row.data, gsi1pk, gsi1sk, row.expires_at, version as i64]))
    .map(drop)
    .map_err(db_err)
}

pub(crate) fn delete(conn: &Connection, pk: &str, sk: &str, condition: &Condition, now: i64) -> Result<(), StoreError> {
    check(conn, pk, sk, condition, now)?;
    delete_row(conn, pk, sk)
}

fn delete_row(conn: &Connection, pk: &str, sk: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| stmt.execute(params![pk, sk]))
        .map(drop)
        .map_err(db_err)
}

/// Judges every condition first (so that the cancellation names each failing operation, as
/// DynamoDB does), then applies all operations; the writer's savepoint undoes partial work.
pub(crate) fn transact(conn: &Connection, ops: &[TxOp], now: i64) -> Result<(), StoreError> {
    let mut lives = Vec::with_capacity(ops.len());
    for op in ops {
        let (pk, sk) = op.key();
        lives.push(live_version(conn, pk, sk, now)?);
    }
    let reasons: Vec<Option<CancelReason>> =
        ops.iter().zip(&lives).map(|(op, live)| (!holds(op.condition(), *live)).then_some(CancelReason::ConditionalCheckFailed)).collect();
    if reasons.iter().any(Option::is_some) {
        return Err(StoreError::TransactionCanceled { reasons });
    }
    // Keys are distinct within a transaction, so each op's live version is still the one read.
    for (op, live) in ops.iter().zip(lives) {
        match op {
            TxOp::Put(row, _) => write_row(conn, row, live.map_or(1, |v| v + 1))?,
            TxOp::Delete(pk, sk, _) => delete_row(conn, pk, sk)?,
            TxOp::Check(..) => {}
            TxOp::Add(row, counters) => add(conn, row, counters, live, now)?,
        }
    }
    Ok(())
}

/// `WriteOp::Add`: the row's document with each counter added to the live item's value (absent
/// or expired: 0).
fn add(conn: &Connection, row: &Row, counters: &[(String, i64)], live: Option<u64>, now: i64) -> Result<(), StoreError> {
    let mut doc: Value = serde_json::from_str(&row.data)
        .map_err(|e| StoreError::Backend(format!("add to ({}, {}): data is not JSON: {e}", row.pk, row.sk)))?;
    let Value::Object(map) = &mut doc else {
        return Err(StoreError::Backend(format!("add to ({}, {}): the item's data must be an object", row.pk, row.sk)));
    };
    let previous: Option<Value> = match live {
        None => None,
        Some(_) => conn
            .prepare_cached("SELECT data FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)")
            .and_then(|mut stmt| stmt.query_row(params![row.pk, row.sk, now], |r| r.get::<_, String>(0)).optional())
            .map_err(db_err)?
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("item ({}, {}) has data that is not JSON: {e}", row.pk, row.sk)))?,
    };
    for (field, delta) in counters {
        let current = match previous.as_ref().and_then(|p| p.get(field)) {
            None => 0,
            Some(v) => v.as_i64().ok_or_else(|| StoreError::Backend(format!("cannot add to {field}: not an integer ({v})")))?,
        };
        let next = current.checked_add(*delta).ok_or_else(|| StoreError::Backend(format!("cannot add to {field}: integer overflow")))?;
        map.insert(field.clone(), Value::from(next));
    }
    let written = Row { pk: row.pk.clone(), sk: row.sk.clone(), data: doc.to_string(), gsi1: row.gsi1.clone(), expires_at: row.expires_at };
    write_row(conn, &written, live.map_or(1, |v| v + 1))
}

pub(crate) fn increment(conn: &Connection, pk: &str, sk: &str, field: &str, delta: i64, now: i64) -> Result<i64, StoreError> {
    let live: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT data, version FROM items
             WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        )
        .and_then(|mut stmt| stmt.query_row(params![pk, sk, now], |row| Ok((row.get(0)?, row.get(1)?))).optional())
        .map_err(db_err)?;
    let Some((data, version)) = live else {
        let data = Value::Object(Map::from_iter([(field.to_string(), Value::from(delta))]));
        let row = Row { pk: pk.into(), sk: sk.into(), data: data.to_string(), gsi1: None, expires_at: None };
        write_row(conn, &row, 1)?;
        return Ok(delta);
    };
    let mut doc: Value =
        serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("item ({pk}, {sk}) has data that is not JSON: {e}")))?;
    let Value::Object(map) = &mut doc else {
        return Err(StoreError::Backend(format!("cannot increment {field}: the item's data is not an object")));
    };
    let current = match map.get(field) {
        None => 0,
        Some(value) => value.as_i64().ok_or_else(|| StoreError::Backend(format!("cannot increment {field}: not an integer ({value})")))?,
    };
    let next = current.checked_add(delta).ok_or_else(|| StoreError::Backend(format!("cannot increment {field}: integer overflow")))?;
    map.insert(field.to_string(), Value::from(next));
    conn.prepare_cached("UPDATE items SET data = ?3, version = ?4 WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| stmt.execute(params![pk, sk, doc.to_string(), version + 1]))
        .map_err(db_err)?;
    Ok(next)
}
