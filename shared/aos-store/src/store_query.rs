//! Store reads: point lookups and paginated partition / index queries, always filtering out
//! expired items so that visibility never depends on the reaper.

use crate::cursor::{bounds, index_cursor, parse_index_cursor, parse_table_cursor, table_cursor};
use crate::writer::db_err;
use aos_core::ports::{IndexKey, Item, Page, Query, StoreError};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, ToSql};

const COLUMNS: &str = "pk, sk, data, gsi1pk, gsi1sk, expires_at, version";

struct RawItem {
    pk: String,
    sk: String,
    data: String,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
    expires_at: Option<i64>,
    version: i64,
}

impl RawItem {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            pk: row.get(0)?,
            sk: row.get(1)?,
            data: row.get(2)?,
            gsi1pk: row.get(3)?,
            gsi1sk: row.get(4)?,
            expires_at: row.get(5)?,
            version: row.get(6)?,
        })
    }

    fn into_item(self) -> Result<Item, StoreError> {
        let data = serde_json::from_str(&self.data)
            .map_err(|e| StoreError::Corrupt(format!("item ({}, {}) has data that is not JSON: {e}", self.pk, self.sk)))?;
        let gsi1 = match (self.gsi1pk, self.gsi1sk) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            _ => None,
        };
        Ok(Item { pk: self.pk, sk: self.sk, data, gsi1, expires_at: self.expires_at, version: self.version as u64 })
    }
}

pub(crate) fn get_item(conn: &Connection, pk: &str, sk: &str, now: i64) -> Result<Option<Item>, StoreError> {
    const GET: &str = "SELECT pk, sk, data, gsi1pk, gsi1sk, expires_at, version FROM items
                       WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)";
    let raw =
        conn.prepare_cached(GET).and_then(|mut stmt| stmt.query_row(params![pk, sk, now], RawItem::read).optional()).map_err(db_err)?;
    raw.map(RawItem::into_item).transpose()
}

/// A bound parameter; text as raw bytes because range bounds may not be valid UTF-8.
enum Bind {
    Text(Vec<u8>),
    Int(i64),
}

impl ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Bind::Text(bytes) => ToSqlOutput::Borrowed(ValueRef::Text(bytes)),
            Bind::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
        })
    }
}

/// One page of a partition query (`index == false`, ordered by sk) or of an index query
/// (ordered by (gsi1sk, pk, sk), since index keys need not be unique).
pub(crate) fn query_page(conn: &Connection, query: &Query, index: bool, now: i64) -> Result<Page, StoreError> {
    // A zero limit would return empty pages forever; one item is the smallest useful page.
    let limit = query.limit.max(1);
    let (sql, binds) = query_sql(query, index, limit, now)?;
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    let mut raw = stmt
        .query_map(params_from_iter(binds.iter()), RawItem::read)
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(db_err)?;
    // One row past the page tells whether another page exists, so the last page has no cursor.
    let more = raw.len() > limit;
    raw.truncate(limit);
    let next = match raw.last() {
        Some(last) if more => Some(match (&last.gsi1sk, index) {
            (Some(gsi1sk), true) => index_cursor(gsi1sk, &last.pk, &last.sk),
            _ => table_cursor(&last.sk),
        }),
        _ => None,
    };
    let items = raw.into_iter().map(RawItem::into_item).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next })
}

fn query_sql(query: &Query, index: bool, limit: usize, now: i64) -> Result<(String, Vec<Bind>), StoreError> {
    let (part, key) = if index { ("gsi1pk", "gsi1sk") } else { ("pk", "sk") };
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {part} = ?1 AND (expires_at IS NULL OR expires_at > ?2)");
    let mut binds = vec![Bind::Text(query.pk.clone().into_bytes()), Bind::Int(now)];
    let mut placeholder = |value: Bind| {
        binds.push(value);
        format!("?{}", binds.len())
    };
    let mut range = bounds(&query.sk);
    let mut resume = match (&query.cursor, index) {
        (None, _) => None,
        (Some(cursor), false) => Some((parse_table_cursor(cursor)?, None)),
        (Some(cursor), true) => {
            let (gsi1sk, pk, sk) = parse_index_cursor(cursor)?;
            Some((gsi1sk, Some((pk, sk))))
        }
    };
    // The cursor and the range bound on the same side are merged into the tighter one: SQLite
    // seeks on a single bound per side, and a page deep into a range must not rescan it.
    if let Some((at, _)) = &resume {
        let at = at.as_bytes();
        if query.descending {
            if let Some((upper, _)) = &range.upper {
                if at <= upper.as_slice() {
                    range.upper = None;
                } else {
                    resume = None;
                }
            }
        } else if let Some(lower) = &range.lower {
            if at >= lower.as_slice() {
                range.lower = None;
            } else {
                resume = None;
            }
        }
    }
    if let Some(lower) = range.lower {
        sql += &format!(" AND {key} >= {}", placeholder(Bind::Text(lower)));
    }
    if let Some((upper, inclusive)) = range.upper {
        let op = if inclusive { "<=" } else { "<" };
        sql += &format!(" AND {key} {op} {}", placeholder(Bind::Text(upper)));
    }
    let (after, dir) = if query.descending { ("<", "DESC") } else { (">", "ASC") };
    match resume {
        None => {}
        Some((sk, None)) => sql += &format!(" AND sk {after} {}", placeholder(Bind::Text(sk.into_bytes()))),
        Some((gsi1sk, Some((pk, sk)))) => {
            let (a, b, c) = (
                placeholder(Bind::Text(gsi1sk.into_bytes())),
                placeholder(Bind::Text(pk.into_bytes())),
                placeholder(Bind::Text(sk.into_bytes())),
            );
            sql += &format!(" AND (gsi1sk, pk, sk) {after} ({a}, {b}, {c})");
        }
    }
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let limit_param = placeholder(Bind::Int(fetch));
    if index {
        sql += &format!(" ORDER BY gsi1sk {dir}, pk {dir}, sk {dir} LIMIT {limit_param}");
    } else {
        sql += &format!(" ORDER BY sk {dir} LIMIT {limit_param}");
    }
    Ok((sql, binds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, EmbeddedDb};
    use aos_core::ports::SkRange;

    /// Every query shape must be an index range seek in key order: no scan, no sort, no filtering
    /// of key bounds after the seek.
    #[test]
    fn query_shapes_use_an_index_without_sorting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = EmbeddedDb::open(&dir.path().join("db.sqlite"), Durability::Relaxed).expect("open");
        let ranges = [SkRange::All, SkRange::Prefix("a".into()), SkRange::Between("a".into(), "az".into())];
        for index in [false, true] {
            let cursor = if index { index_cursor("a0", "b", "c") } else { table_cursor("a0") };
            for sk in &ranges {
                for descending in [false, true] {
                    for cursor in [None, Some(cursor.clone())] {
                        let query = Query { pk: "p".into(), sk: sk.clone(), limit: 10, cursor, descending };
                        let (sql, binds) = query_sql(&query, index, 10, 0).expect("sql");
                        let plan = db
                            .read_now(|conn| {
                                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(db_err)?;
                                let rows = stmt
                                    .query_map(params_from_iter(binds.iter()), |row| row.get::<_, String>(3))
                                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                                    .map_err(db_err)?;
                                Ok(rows.join("; "))
                            })
                            .expect("plan");
                        let wanted = if index { "items_gsi1 (gsi1pk=?" } else { "PRIMARY KEY (pk=?" };
                        assert!(plan.contains(wanted) && !plan.contains("TEMP B-TREE"), "{sql}\n{plan}");
                        let bounds =
                            [" AND sk ", " AND gsi1sk ", " AND (gsi1sk, pk, sk) "].iter().map(|b| sql.matches(b).count()).sum::<usize>();
                        let seeks = plan.matches(['<', '>']).count();
                        assert_eq!(seeks, bounds, "every key bound must be part of the seek:\n{sql}\n{plan}");
                    }
                }
            }
        }
    }
}
