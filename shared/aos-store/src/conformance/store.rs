//! `Store` conformance checks: versions, conditions, transactions, pagination, the secondary
//! index, TTL visibility and atomic increments. Each check works under its own unique partition.
//! `get` and `query` must read their own writes; `query_index` may lag (retried for a while).

use super::{is_condition_failed, ok, unique};
use aos_core::ports::{CancelReason, Condition, Item, Page, Query, SkRange, Store, StoreError, WriteOp};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every `Store` check, in order.
pub async fn store_suite(store: &dyn Store) {
    put_get_versions(store).await;
    conditional_puts(store).await;
    conditional_deletes(store).await;
    transactions(store).await;
    pagination(store).await;
    index_queries(store).await;
    ttl_hides_expired_items(store).await;
    increments(store).await;
    counter_additions(store).await;
}

fn epoch_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Follows cursors to the end, checking every page respects the limit.
async fn collect(store: &dyn Store, mut query: Query, index: bool, what: &str) -> Vec<Item> {
    let mut items = Vec::new();
    for _ in 0..1000 {
        let page: Page = if index { ok(store.query_index(query.clone()).await, what) } else { ok(store.query(query.clone()).await, what) };
        assert!(page.items.len() <= query.limit, "{what}: page of {} exceeds limit {}", page.items.len(), query.limit);
        items.extend(page.items);
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return items,
        }
    }
    panic!("{what}: pagination did not end");
}

/// Secondary indexes may be eventually consistent (DynamoDB's are): index reads are retried
/// until `settled` holds or a few seconds pass, and the caller then asserts on the last result.
async fn index_settled(store: &dyn Store, query: Query, what: &str, settled: impl Fn(&[Item]) -> bool) -> Vec<Item> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let items = collect(store, query.clone(), true, what).await;
        if settled(&items) || Instant::now() >= deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sk.clone()).collect()
}

pub async fn put_get_versions(store: &dyn Store) {
    let what = "put_get_versions";
    let pk = unique("put");
    assert_eq!(ok(store.get(&pk, "a").await, what), None, "{what}: absent item");
    let mut item = Item::new(&pk, "a", json!({"n": 1, "s": "x"}));
    item.version = 99;
    assert_eq!(ok(store.put(item, Condition::Always).await, what), 1, "{what}: first version (input version ignored)");
    let got = ok(store.get(&pk, "a").await, what).unwrap_or_else(|| panic!("{what}: item missing after put"));
    assert_eq!((got.pk.as_str(), got.sk.as_str()), (pk.as_str(), "a"), "{what}: key");
    assert_eq!(got.data, json!({"n": 1, "s": "x"}), "{what}: data");
    assert_eq!((got.version, got.gsi1, got.expires_at), (1, None, None), "{what}: version/index/ttl");

    let expiry = epoch_now() + 3600;
    let item = Item::new(&pk, "a", json!({"n": 2})).with_index("ix", "k").expiring_at(expiry);
    assert_eq!(ok(store.put(item, Condition::Always).await, what), 2, "{what}: second version");
    let got = ok(store.get(&pk, "a").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!(got.data, json!({"n": 2}), "{what}: overwritten data");
    assert_eq!(got.version, 2, "{what}: version after overwrite");
    assert_eq!(got.gsi1.map(|k| (k.pk, k.sk)), Some(("ix".into(), "k".into())), "{what}: index key");
    assert_eq!(got.expires_at, Some(expiry), "{what}: expiry");
    assert_eq!(ok(store.put(Item::new(&pk, "a", json!(null)), Condition::Always).await, what), 3, "{what}: third version");
    assert_eq!(ok(store.get(&pk, "b").await, what), None, "{what}: other sort key untouched");
}

pub async fn conditional_puts(store: &dyn Store) {
    let what = "conditional_puts";
    let pk = unique("cond");
    let put = |sk: &str, n: i64, c: Condition| store.put(Item::new(&pk, sk, json!({"n": n})), c);

    assert!(is_condition_failed(&put("a", 0, Condition::Exists).await), "{what}: Exists on absent must fail");
    assert_eq!(ok(store.get(&pk, "a").await, what), None, "{what}: failed Exists must not create");
    assert!(is_condition_failed(&put("a", 0, Condition::VersionIs(1)).await), "{what}: VersionIs on absent must fail");
    assert_eq!(ok(put("a", 1, Condition::NotExists).await, what), 1, "{what}: NotExists on absent");
    assert!(is_condition_failed(&put("a", 2, Condition::NotExists).await), "{what}: NotExists on present must fail");
    assert_eq!(ok(store.get(&pk, "a").await, what).map(|i| i.data), Some(json!({"n": 1})), "{what}: failed put wrote");
    assert_eq!(ok(put("a", 3, Condition::Exists).await, what), 2, "{what}: Exists on present");
    assert_eq!(ok(put("a", 4, Condition::VersionIs(2)).await, what), 3, "{what}: VersionIs current");
    assert!(is_condition_failed(&put("a", 5, Condition::VersionIs(2)).await), "{what}: VersionIs stale must fail");
    let got = ok(store.get(&pk, "a").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!((got.version, got.data), (3, json!({"n": 4})), "{what}: state after stale write");
}

pub async fn conditional_deletes(store: &dyn Store) {
    let what = "conditional_deletes";
    let pk = unique("del");
    ok(store.delete(&pk, "a", Condition::Always).await, &format!("{what}: delete of absent item"));
    assert!(is_condition_failed(&store.delete(&pk, "a", Condition::Exists).await), "{what}: Exists delete of absent must fail");
    ok(store.put(Item::new(&pk, "a", json!(1)), Condition::Always).await, what);
    ok(store.put(Item::new(&pk, "a", json!(2)), Condition::Always).await, what);
    assert!(is_condition_failed(&store.delete(&pk, "a", Condition::NotExists).await), "{what}: NotExists delete of present must fail");
    assert!(is_condition_failed(&store.delete(&pk, "a", Condition::VersionIs(1)).await), "{what}: stale VersionIs delete must fail");
    assert!(ok(store.get(&pk, "a").await, what).is_some(), "{what}: failed delete removed the item");
    ok(store.delete(&pk, "a", Condition::VersionIs(2)).await, &format!("{what}: VersionIs delete"));
    assert_eq!(ok(store.get(&pk, "a").await, what), None, "{what}: item still there after delete");
    assert_eq!(
        ok(store.put(Item::new(&pk, "a", json!(3)), Condition::NotExists).await, what),
        1,
        "{what}: a re-created item starts at version 1"
    );
    ok(store.put(Item::new(&pk, "b", json!(1)), Condition::Always).await, what);
    ok(store.delete(&pk, "b", Condition::Exists).await, &format!("{what}: Exists delete"));
    assert_eq!(ok(store.get(&pk, "b").await, what), None, "{what}: Exists delete kept the item");
}

pub async fn transactions(store: &dyn Store) {
    let what = "transactions";
    let pk = unique("tx");
    let put = |sk: &str, condition| WriteOp::Put { item: Item::new(&pk, sk, json!({"sk": sk})), condition };
    let del = |sk: &str, condition| WriteOp::Delete { pk: pk.clone(), sk: sk.into(), condition };
    let check = |sk: &str, condition| WriteOp::Check { pk: pk.clone(), sk: sk.into(), condition };
    ok(store.put(Item::new(&pk, "a", json!({"sk": "a"})), Condition::Always).await, what);
    ok(store.put(Item::new(&pk, "d", json!({"sk": "d"})), Condition::Always).await, what);
    ok(store.put(Item::new(&pk, "f", json!({"sk": "f"})), Condition::Always).await, what);

    let cancelled = store
        .transact_write(vec![
            put("c", Condition::NotExists),
            put("a", Condition::VersionIs(1)),
            del("b", Condition::Exists),
            check("f", Condition::Exists),
            del("d", Condition::Always),
        ])
        .await;
    let failed = Some(CancelReason::ConditionalCheckFailed);
    assert_eq!(
        cancelled,
        Err(StoreError::TransactionCanceled { reasons: vec![None, None, failed.clone(), None, None] }),
        "{what}: one failed condition cancels with per-op reasons"
    );
    assert_eq!(ok(store.get(&pk, "c").await, what), None, "{what}: cancelled put was applied");
    assert_eq!(ok(store.get(&pk, "a").await, what).map(|i| i.version), Some(1), "{what}: cancelled put was applied");
    assert!(ok(store.get(&pk, "d").await, what).is_some(), "{what}: cancelled delete was applied");

    let cancelled = store.transact_write(vec![put("c", Condition::Always), check("a", Condition::VersionIs(7))]).await;
    assert_eq!(cancelled, Err(StoreError::TransactionCanceled { reasons: vec![None, failed.clone()] }), "{what}: a failed Check cancels");
    assert_eq!(ok(store.get(&pk, "c").await, what), None, "{what}: put of a transaction with failed Check applied");

    let cancelled = store.transact_write(vec![check("x", Condition::Exists), check("y", Condition::Exists)]).await;
    assert_eq!(
        cancelled,
        Err(StoreError::TransactionCanceled { reasons: vec![failed.clone(), failed] }),
        "{what}: every failing op is named"
    );

    ok(
        store
            .transact_write(vec![
                put("c", Condition::NotExists),
                put("a", Condition::VersionIs(1)),
                del("d", Condition::Exists),
                check("e", Condition::NotExists),
                check("f", Condition::VersionIs(1)),
            ])
            .await,
        &format!("{what}: transaction whose conditions hold"),
    );
    assert_eq!(ok(store.get(&pk, "c").await, what).map(|i| i.version), Some(1), "{what}: put c");
    assert_eq!(ok(store.get(&pk, "a").await, what).map(|i| i.version), Some(2), "{what}: put a bumps version");
    assert_eq!(ok(store.get(&pk, "d").await, what), None, "{what}: delete d");
    assert_eq!(ok(store.get(&pk, "e").await, what), None, "{what}: Check must not write");
    assert_eq!(ok(store.get(&pk, "f").await, what).map(|i| i.version), Some(1), "{what}: Check must not write");

    // DynamoDB rejects two operations on one item in a transaction; so must every adapter.
    let twice = store.transact_write(vec![put("g", Condition::Always), check("g", Condition::NotExists)]).await;
    assert!(twice.is_err(), "{what}: two operations on one item must be rejected");
    assert_eq!(ok(store.get(&pk, "g").await, what), None, "{what}: rejected transaction wrote");
}

async fn put_all(store: &dyn Store, pk: &str, sks: &[String], what: &str) {
    for sk in sks {
        ok(store.put(Item::new(pk, sk, json!({"sk": sk})), Condition::Always).await, what);
    }
}

pub async fn pagination(store: &dyn Store) {
    let what = "pagination";
    let pk = unique("page");
    let mut all: Vec<String> = (0..25).map(|i| format!("item#{i:02}")).collect();
    all.extend((0..3).map(|i| format!("other#{i}")));
    put_all(store, &pk, &all, what).await;
    ok(store.put(Item::new(format!("{pk}x"), "item#00", json!(0)), Condition::Always).await, what);

    let q = |sk: SkRange, limit, descending| Query { pk: pk.clone(), sk, limit, cursor: None, descending };
    assert_eq!(sks(&collect(store, q(SkRange::All, 10, false), false, what).await), all, "{what}: all, ascending");
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(sks(&collect(store, q(SkRange::All, 7, true), false, what).await), reversed, "{what}: all, descending");

    let first = ok(store.query(q(SkRange::All, 10, false)).await, what);
    assert_eq!(first.items.len(), 10, "{what}: a full first page");
    let next = first.next.clone().unwrap_or_else(|| panic!("{what}: first page has no cursor"));
    let second = ok(store.query(Query { cursor: Some(next), ..q(SkRange::All, 10, false) }).await, what);
    assert_eq!(sks(&second.items), all[10..20], "{what}: cursor resumes after the last item");

    let exact = ok(store.query(q(SkRange::Prefix("other#".into()), 3, false)).await, what);
    assert_eq!((exact.items.len(), exact.next), (3, None), "{what}: a page that ends the results has no cursor");

    let prefix: Vec<String> = (10..20).map(|i| format!("item#{i}")).collect();
    assert_eq!(sks(&collect(store, q(SkRange::Prefix("item#1".into()), 4, false), false, what).await), prefix, "{what}: prefix");
    let between = |a: &str, b: &str| SkRange::Between(a.into(), b.into());
    assert_eq!(
        sks(&collect(store, q(between("item#05", "item#08"), 3, false), false, what).await),
        ["item#05", "item#06", "item#07", "item#08"],
        "{what}: between is inclusive"
    );
    assert_eq!(
        sks(&collect(store, q(between("item#05", "item#08"), 3, true), false, what).await),
        ["item#08", "item#07", "item#06", "item#05"],
        "{what}: between, descending"
    );
    assert_eq!(
        sks(&collect(store, q(between("item#24", "other#1"), 1, false), false, what).await),
        ["item#24", "other#0", "other#1"],
        "{what}: between across prefixes"
    );
    assert!(collect(store, q(SkRange::Prefix("nothing".into()), 5, false), false, what).await.is_empty(), "{what}: empty prefix match");
    let bad = store.query(Query { cursor: Some("not a cursor".into()), ..q(SkRange::All, 5, false) }).await;
    assert_eq!(bad.err(), Some(StoreError::BadCursor), "{what}: malformed cursor");
}

pub async fn index_queries(store: &dyn Store) {
    let what = "index_queries";
    let base = unique("gsi");
    let ix = format!("{base}-ix");
    // Index sort keys repeat across partitions: the index key is not unique.
    let mut expected = HashSet::new();
    for i in 0..12 {
        let (pk, sk, isk) = (format!("{base}-p{}", i % 5), format!("s{i:02}"), format!("2024-01-0{}", i % 4));
        ok(store.put(Item::new(&pk, &sk, json!(i)).with_index(&ix, &isk), Condition::Always).await, what);
        expected.insert((pk, sk));
    }
    ok(store.put(Item::new(format!("{base}-p0"), "plain", json!(0)), Condition::Always).await, what);
    ok(
        store.put(Item::new(format!("{base}-p0"), "other", json!(0)).with_index(format!("{ix}x"), "2024-01-01"), Condition::Always).await,
        what,
    );

    let q = |sk: SkRange, limit, descending| Query { pk: ix.clone(), sk, limit, cursor: None, descending };
    for descending in [false, true] {
        let items = index_settled(store, q(SkRange::All, 5, descending), what, |i| i.len() >= expected.len()).await;
        let keys: Vec<String> = items.iter().map(|i| i.gsi1.as_ref().map_or(String::new(), |k| k.sk.clone())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if descending {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{what}: index order (descending: {descending})");
        let got: HashSet<(String, String)> = items.iter().map(|i| (i.pk.clone(), i.sk.clone())).collect();
        assert_eq!(items.len(), got.len(), "{what}: an item appeared twice across pages");
        assert_eq!(got, expected, "{what}: every indexed item exactly once (descending: {descending})");
    }
    let items = index_settled(store, q(SkRange::Prefix("2024-01-03".into()), 1, false), what, |i| i.len() == 3).await;
    assert_eq!(items.len(), 3, "{what}: index prefix");
    let between = SkRange::Between("2024-01-01".into(), "2024-01-02".into());
    let items = index_settled(store, q(between, 2, true), what, |i| i.len() == 6).await;
    assert_eq!(items.len(), 6, "{what}: index between");

    // Re-indexing moves an item; dropping the index key removes it from the index.
    let moved = Item::new(format!("{base}-p0"), "s00", json!(0)).with_index(&ix, "2025");
    ok(store.put(moved, Condition::Always).await, what);
    ok(store.put(Item::new(format!("{base}-p1"), "s01", json!(1)), Condition::Always).await, what);
    let items = index_settled(store, q(SkRange::All, 100, true), what, |i| i.len() == 11 && i[0].version == 2).await;
    assert_eq!(items.len(), 11, "{what}: index after updates");
    assert_eq!((items[0].sk.as_str(), items[0].version), ("s00", 2), "{what}: re-indexed item comes last in key order");
}

pub async fn ttl_hides_expired_items(store: &dyn Store) {
    let what = "ttl_hides_expired_items";
    let pk = unique("ttl");
    let ix = format!("{pk}-ix");
    let past = epoch_now() - 10;
    let expired = |sk: &str| Item::new(&pk, sk, json!("old")).with_index(&ix, sk).expiring_at(past);
    ok(store.put(expired("gone"), Condition::Always).await, what);
    ok(store.put(expired("gone2"), Condition::Always).await, what);
    let live = Item::new(&pk, "live", json!("new")).with_index(&ix, "live").expiring_at(epoch_now() + 3600);
    ok(store.put(live, Condition::Always).await, what);

    assert_eq!(ok(store.get(&pk, "gone").await, what), None, "{what}: get returned an expired item");
    assert_eq!(sks(&ok(store.query(Query::partition(&pk)).await, what).items), ["live"], "{what}: query");
    let indexed = index_settled(store, Query::partition(&ix), what, |i| !i.is_empty()).await;
    assert_eq!(sks(&indexed), ["live"], "{what}: query_index");
    assert!(is_condition_failed(&store.put(expired("gone"), Condition::Exists).await), "{what}: Exists over expired");
    assert!(is_condition_failed(&store.put(expired("gone"), Condition::VersionIs(1)).await), "{what}: VersionIs over expired");
    assert!(is_condition_failed(&store.delete(&pk, "gone", Condition::Exists).await), "{what}: Exists delete over expired");
    assert_eq!(
        ok(store.put(Item::new(&pk, "gone", json!("fresh")), Condition::NotExists).await, what),
        1,
        "{what}: NotExists over an expired item succeeds and starts at version 1"
    );
    assert_eq!(ok(store.get(&pk, "gone").await, what).map(|i| i.data), Some(json!("fresh")), "{what}: revived");
    assert_eq!(ok(store.increment(&pk, "gone2", "n", 4).await, what), 4, "{what}: increment over expired starts at 0");
}

pub async fn increments(store: &dyn Store) {
    let what = "increments";
    let pk = unique("inc");
    assert_eq!(ok(store.increment(&pk, "c", "n", 5).await, what), 5, "{what}: creates at 0");
    assert_eq!(ok(store.increment(&pk, "c", "n", -2).await, what), 3, "{what}: negative delta");
    let got = ok(store.get(&pk, "c").await, what).unwrap_or_else(|| panic!("{what}: counter item missing"));
    assert_eq!((got.data, got.version), (json!({"n": 3}), 2), "{what}: counter item");

    ok(store.put(Item::new(&pk, "doc", json!({"name": "x", "n": 10})).with_index("ix", "k"), Condition::Always).await, what);
    assert_eq!(ok(store.increment(&pk, "doc", "n", 1).await, what), 11, "{what}: existing field");
    assert_eq!(ok(store.increment(&pk, "doc", "m", 7).await, what), 7, "{what}: new field of an existing item");
    let got = ok(store.get(&pk, "doc").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!(got.data, json!({"name": "x", "n": 11, "m": 7}), "{what}: other fields preserved");
    assert_eq!((got.version, got.gsi1.is_some()), (3, true), "{what}: version bumped, index kept");

    let results = futures::future::join_all((0..50).map(|_| store.increment(&pk, "hot", "n", 1))).await;
    let mut values: Vec<i64> = results.into_iter().map(|r| ok(r, what)).collect();
    values.sort_unstable();
    assert_eq!(values, (1..=50).collect::<Vec<_>>(), "{what}: 50 concurrent increments must each see a distinct value");
    let got = ok(store.get(&pk, "hot").await, what).unwrap_or_else(|| panic!("{what}: hot counter missing"));
    assert_eq!((got.data, got.version), (json!({"n": 50}), 50), "{what}: 50 concurrent increments");
}

/// `WriteOp::Add`: creates, adds, keeps the document's other fields current, works inside a
/// transaction (and is undone with it), counts every concurrent addition, and starts over an
/// expired item.
pub async fn counter_additions(store: &dyn Store) {
    let what = "counter additions";
    let pk = unique("add");
    let doc = |seen: i64| json!({"code": "X", "last_seen_ms": seen});
    let counters = |a: i64, s: i64| vec![("attempts".to_string(), a), ("successes".to_string(), s)];
    ok(store.add(Item::new(&pk, "k", doc(1)).with_index(format!("{pk}ix"), "k"), counters(1, 0)).await, what);
    ok(store.add(Item::new(&pk, "k", doc(2)).with_index(format!("{pk}ix"), "k"), counters(2, 1)).await, what);
    let got = ok(store.get(&pk, "k").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!(got.data, json!({"code": "X", "last_seen_ms": 2, "attempts": 3, "successes": 1}), "{what}: added");
    assert_eq!((got.version, got.gsi1.is_some()), (2, true), "{what}: version and index");

    // Inside a transaction, with a put.
    ok(
        store
            .transact_write(vec![
                WriteOp::Add { item: Item::new(&pk, "k", doc(3)), counters: counters(1, 1) },
                WriteOp::Put { item: Item::new(&pk, "other", json!({"x": 1})), condition: Condition::NotExists },
            ])
            .await,
        what,
    );
    let got = ok(store.get(&pk, "k").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!(got.data["attempts"], json!(4), "{what}: added in a transaction");
    // A cancelled transaction adds nothing.
    let cancelled = store
        .transact_write(vec![
            WriteOp::Add { item: Item::new(&pk, "k", doc(4)), counters: counters(100, 100) },
            WriteOp::Put { item: Item::new(&pk, "other", json!({"x": 2})), condition: Condition::NotExists },
        ])
        .await;
    assert!(matches!(cancelled, Err(StoreError::TransactionCanceled { .. })), "{what}: cancelled ({cancelled:?})");
    let got = ok(store.get(&pk, "k").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!(
        (got.data["attempts"].clone(), got.data["last_seen_ms"].clone()),
        (json!(4), json!(3)),
        "{what}: undone with the transaction"
    );

    // Concurrent additions all count.
    let adds = (0..16).map(|_| store.add(Item::new(&pk, "c", json!({})), counters(1, 2)));
    for r in futures::future::join_all(adds).await {
        ok(r, what);
    }
    let got = ok(store.get(&pk, "c").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!((got.data["attempts"].clone(), got.data["successes"].clone()), (json!(16), json!(32)), "{what}: concurrent additions");

    // Over an expired item the counters start again.
    let past = epoch_now() - 10;
    ok(store.put(Item::new(&pk, "old", json!({"attempts": 50})).expiring_at(past), Condition::Always).await, what);
    ok(store.add(Item::new(&pk, "old", json!({})).expiring_at(epoch_now() + 3600), counters(1, 1)).await, what);
    let got = ok(store.get(&pk, "old").await, what).unwrap_or_else(|| panic!("{what}: item missing"));
    assert_eq!(got.data["attempts"], json!(1), "{what}: an expired item counts as none");
}
