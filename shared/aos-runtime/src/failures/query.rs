//! Reading failure records: a time range is one partition query per UTC day, newest day first,
//! with the filters applied after the read (like a DynamoDB FilterExpression). The cursor names
//! the day and the store's cursor within it, so pages continue across day partitions.

use super::days::{day_number, label_of_day, DAY_MS};
use super::record::FailureRecord;
use crate::keys;
use aos_core::failure::FailureKind;
use aos_core::outcome::Category;
use aos_core::ports::{Query, SkRange, Store, StoreError};
use aos_core::{DomainError, FieldError};
use serde::{Deserialize, Serialize};

/// The longest time range one request may cover.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Records one list request reads at most; a page may then hold fewer than `limit` records and
/// still have a `next_cursor`.
const MAX_SCANNED_PER_PAGE: usize = 10_000;

/// A time range in ms, both ends inclusive, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl TimeRange {
    /// `to` defaults to `now`, `from` to `to - default_span_ms`.
    pub fn new(from: Option<i64>, to: Option<i64>, now: i64, default_span_ms: i64) -> Result<Self, DomainError> {
        let to_ms = to.unwrap_or(now);
        let from_ms = from.unwrap_or_else(|| (to_ms - default_span_ms).max(0));
        let bad = |field: &str, message: String| DomainError::invalid(FieldError::new("INVALID_QUERY", message).field(field));
        if !(0..=9_999_999_999_999).contains(&to_ms) {
            return Err(bad("to", "to must be a time in ms since the epoch".into()));
        }
        if from_ms < 0 {
            return Err(bad("from", "from must be a time in ms since the epoch".into()));
        }
        if from_ms > to_ms {
            return Err(bad("from", "from must not be after to".into()));
        }
        if to_ms - from_ms > MAX_RANGE_DAYS * DAY_MS {
            return Err(bad("from", format!("the range from..to may span at most {MAX_RANGE_DAYS} days")));
        }
        Ok(Self { from_ms, to_ms })
    }

    fn sk_range(&self) -> SkRange {
        // Sort keys start with the 13-digit time; `~` sorts after the `#` that follows it.
        SkRange::Between(format!("{:013}", self.from_ms), format!("{:013}~", self.to_ms))
    }
}

/// Filters of a failure listing; every given one must hold.
#[derive(Debug, Clone, Default)]
pub struct FailureFilter {
    /// The error code or the catalog entry code.
    pub code: Option<String>,
    pub category: Option<Category>,
    pub skill: Option<String>,
    pub matched: Option<bool>,
    /// `true`: the recovery succeeded; `false`: it did not (failed, pending or never attempted).
    pub recovered: Option<bool>,
    pub kind: Option<FailureKind>,
}

impl FailureFilter {
    pub fn accepts(&self, r: &FailureRecord) -> bool {
        self.code.as_ref().is_none_or(|c| &r.code == c || r.catalog_code.as_ref() == Some(c))
            && self.category.is_none_or(|c| r.category == c)
            && self.skill.as_ref().is_none_or(|s| r.skill.as_ref() == Some(s))
            && self.matched.is_none_or(|m| r.matched == m)
            && self.recovered.is_none_or(|want| (r.recovery_succeeded == Some(true)) == want)
            && self.kind.is_none_or(|k| r.kind == k)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// The day partition to continue in.
    d: i64,
    /// The store's cursor within it; absent to start at the day's newest record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

fn encode(c: &Cursor) -> String {
    hex::encode(serde_json::to_vec(c).unwrap_or_default())
}

fn bad_cursor() -> DomainError {
    DomainError::invalid(FieldError::new("INVALID_CURSOR", "cursor is not valid").field("cursor"))
}

fn decode(s: &str, range: &TimeRange) -> Result<Cursor, DomainError> {
    let bytes = hex::decode(s).map_err(|_| bad_cursor())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    if c.d < day_number(range.from_ms) || c.d > day_number(range.to_ms) {
        return Err(bad_cursor());
    }
    Ok(c)
}

fn storage(e: StoreError) -> DomainError {
    match e {
        StoreError::BadCursor => bad_cursor(),
        other => DomainError::from(other),
    }
}

/// A page of the tenant's failures in `range`, newest first.
pub async fn list(
    store: &dyn Store,
    tenant: &str,
    range: &TimeRange,
    filter: &FailureFilter,
    limit: usize,
    cursor: Option<&str>,
) -> Result<(Vec<FailureRecord>, Option<String>), DomainError> {
    let from_day = day_number(range.from_ms);
    let (mut day, mut inner) = match cursor {
        Some(c) => {
            let c = decode(c, range)?;
            (c.d, c.c)
        }
        None => (day_number(range.to_ms), None),
    };
    let mut out = Vec::new();
    let mut scanned = 0;
    while day >= from_day {
        let q = Query {
            pk: keys::failures_pk(tenant, &label_of_day(day)),
            sk: range.sk_range(),
            // Never read past what the page can hold, so the cursor stays exact.
            limit: limit - out.len(),
            cursor: inner.take(),
            descending: true,
        };
        let page = store.query(q).await.map_err(storage)?;
        scanned += page.items.len();
        out.extend(page.items.iter().filter_map(FailureRecord::from_item).filter(|r| filter.accepts(r)));
        let (next_day, next_inner) = match page.next {
            Some(c) => (day, Some(c)),
            None => (day - 1, None),
        };
        if out.len() >= limit || scanned >= MAX_SCANNED_PER_PAGE {
            let more = next_inner.is_some() || next_day >= from_day;
            return Ok((out, more.then(|| encode(&Cursor { d: next_day, c: next_inner }))));
        }
        day = next_day;
        inner = next_inner;
    }
    Ok((out, None))
}

/// Calls `each` with every record of the tenant in `range`, oldest day first, until `max` were
/// read. Returns whether it stopped at `max` with records left.
pub async fn scan(
    store: &dyn Store,
    tenant: &str,
    range: &TimeRange,
    max: usize,
    mut each: impl FnMut(FailureRecord),
) -> Result<bool, DomainError> {
    let mut read = 0;
    for day in day_number(range.from_ms)..=day_number(range.to_ms) {
        let mut q =
            Query { pk: keys::failures_pk(tenant, &label_of_day(day)), sk: range.sk_range(), limit: 1000, cursor: None, descending: false };
        loop {
            if read >= max {
                return Ok(true);
            }
            q.limit = 1000.min(max - read);
            let page = store.query(q.clone()).await.map_err(storage)?;
            read += page.items.len();
            page.items.iter().filter_map(FailureRecord::from_item).for_each(&mut each);
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(false)
}
