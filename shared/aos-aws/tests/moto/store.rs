//! DynamoDB behaviour the conformance suite cannot force: items that expired but still exist,
//! cancellation reasons, pages filled across expired items, refused increments, and documents
//! beyond DynamoDB's native types.

use super::support::{config, epoch_now, new_store};
use aos_core::ports::{CancelReason, Condition, Item, Query, SkRange, Store, StoreError, WriteOp};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_items_are_absent_although_moto_keeps_them() {
    let config = config().await;
    let store = new_store(&config).await;
    let raw = aws_sdk_dynamodb::Client::new(&config);
    let past = epoch_now() - 5;
    store.put(Item::new("p", "old", json!({"v": 1})).with_index("ix", "old").expiring_at(past), Condition::Always).await.expect("put");
    store.put(Item::new("p", "new", json!({"v": 2})).with_index("ix", "new"), Condition::Always).await.expect("put");

    let key = HashMap::from([("pk".to_string(), AttributeValue::S("p".into())), ("sk".to_string(), AttributeValue::S("old".into()))]);
    let stored = raw.get_item().table_name(store.table()).set_key(Some(key.clone())).send().await.expect("raw get");
    assert!(stored.item.is_some(), "moto keeps expired items, which is what makes this test meaningful");

    assert_eq!(store.get("p", "old").await.expect("get"), None, "get hides an expired item");
    let sks = |items: Vec<Item>| items.into_iter().map(|i| i.sk).collect::<Vec<_>>();
    assert_eq!(sks(store.query(Query::partition("p")).await.expect("query").items), ["new"]);
    assert_eq!(sks(store.query_index(Query::partition("ix")).await.expect("index").items), ["new"]);

    let revived = Item::new("p", "old", json!({"v": 3}));
    assert_eq!(store.put(revived.clone(), Condition::NotExists).await.expect("NotExists over expired"), 1);
    assert_eq!(store.get("p", "old").await.expect("get").map(|i| (i.version, i.gsi1, i.expires_at)), Some((1, None, None)));

    // `Always` over an expired item (single and transactional) restarts at version 1 too.
    let expired = |sk: &str| Item::new("p", sk, json!(0)).expiring_at(past);
    store.put(expired("a"), Condition::Always).await.expect("put");
    store.put(expired("a"), Condition::Always).await.expect("put");
    assert_eq!(store.put(Item::new("p", "a", json!(1)), Condition::Always).await.expect("put"), 1);
    store.put(expired("b"), Condition::Always).await.expect("put");
    store.put(expired("b"), Condition::Always).await.expect("put");
    store.transact_write(vec![WriteOp::Put { item: Item::new("p", "b", json!(1)), condition: Condition::Always }]).await.expect("tx");
    assert_eq!(store.get("p", "b").await.expect("get").map(|i| i.version), Some(1));
    assert!(
        matches!(store.delete("p", "gone", Condition::Exists).await, Err(StoreError::ConditionFailed)),
        "Exists delete of an absent item"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transaction_cancellation_reasons_name_each_operation() {
    let store = new_store(&config().await).await;
    store.put(Item::new("p", "a", json!(1)), Condition::Always).await.expect("put");
    store.put(Item::new("p", "z", json!(1)).expiring_at(epoch_now() - 1), Condition::Always).await.expect("put");
    let failed = Some(CancelReason::ConditionalCheckFailed);
    let result = store
        .transact_write(vec![
            WriteOp::Put { item: Item::new("p", "a", json!(2)), condition: Condition::NotExists },
            WriteOp::Put { item: Item::new("p", "b", json!(2)), condition: Condition::Always },
            WriteOp::Check { pk: "p".into(), sk: "z".into(), condition: Condition::Exists },
            WriteOp::Delete { pk: "p".into(), sk: "c".into(), condition: Condition::Always },
        ])
        .await;
    assert_eq!(result, Err(StoreError::TransactionCanceled { reasons: vec![failed.clone(), None, failed, None] }));
    assert_eq!(store.get("p", "b").await.expect("get"), None, "a cancelled transaction wrote");
    let many: Vec<WriteOp> =
        (0..100).map(|i| WriteOp::Put { item: Item::new("q", format!("{i:03}"), json!(i)), condition: Condition::Always }).collect();
    store.transact_write(many).await.expect("a transaction of 100 operations");
    assert_eq!(store.query(Query::partition("q")).await.expect("query").items.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_fill_across_expired_items() {
    let store = new_store(&config().await).await;
    let past = epoch_now() - 1;
    let mut live = Vec::new();
    for i in 0..30 {
        let sk = format!("k{i:02}");
        let mut item = Item::new("p", &sk, json!(i)).with_index("ix", &sk);
        // A run of expired items in the middle, longer than a page.
        if (8..20).contains(&i) {
            item = item.expiring_at(past);
        } else {
            live.push(sk);
        }
        store.put(item, Condition::Always).await.expect("put");
    }
    for (index, descending) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut q = Query { pk: if index { "ix".into() } else { "p".into() }, sk: SkRange::All, limit: 4, cursor: None, descending };
        let mut pages = Vec::new();
        loop {
            let page = if index { store.query_index(q.clone()).await } else { store.query(q.clone()).await }.expect("page");
            pages.push(page.items.iter().map(|i| i.sk.clone()).collect::<Vec<_>>());
            match page.next {
                Some(next) => q.cursor = Some(next),
                None => break,
            }
        }
        let what = format!("index {index}, descending {descending}");
        let (last, full) = pages.split_last().expect("at least one page");
        assert!(full.iter().all(|p| p.len() == 4), "{what}: every page but the last is full: {pages:?}");
        assert!(!last.is_empty(), "{what}: a cursor was returned although no item followed");
        let mut expected = live.clone();
        if descending {
            expected.reverse();
        }
        assert_eq!(pages.concat(), expected, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increments_refuse_what_the_embedded_store_refuses() {
    let store = new_store(&config().await).await;
    store.put(Item::new("p", "c", json!({"s": "text", "n": i64::MAX - 1})), Condition::Always).await.expect("put");
    assert_eq!(store.increment("p", "c", "n", 1).await.expect("up to i64::MAX"), i64::MAX);
    let overflow = store.increment("p", "c", "n", 1).await;
    assert!(matches!(&overflow, Err(StoreError::Backend(m)) if m.contains("overflow")), "{overflow:?}");
    let text = store.increment("p", "c", "s", 1).await;
    assert!(matches!(&text, Err(StoreError::Backend(m)) if m.contains("not an integer")), "{text:?}");
    let item = store.get("p", "c").await.expect("get").expect("item");
    assert_eq!((item.data, item.version), (json!({"s": "text", "n": i64::MAX}), 2), "refused increments wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn documents_round_trip_through_dynamodb_types() {
    let store = new_store(&config().await).await;
    let data = json!({
        "text": "ünï/cødé \u{1F600}", "empty": "", "int": -9007199254740993i64, "big": u64::MAX, "float": 0.1,
        "small": 1.5e-7, "t": true, "nothing": null, "list": [1, "a", [], {}], "nested": {"a": {"b": [null]}}
    });
    store.put(Item::new("p", "doc", data.clone()), Condition::Always).await.expect("put");
    assert_eq!(store.get("p", "doc").await.expect("get").map(|i| i.data), Some(data));
    // Beyond DynamoDB's types (nesting, number range, empty keys): kept as text, in every write path.
    let mut deep = json!("leaf");
    for _ in 0..40 {
        deep = json!({ "k": deep });
    }
    let odd = json!({"deep": deep, "huge": 1e300, "tiny": 5e-324, "": "empty key"});
    store.put(Item::new("p", "odd", odd.clone()), Condition::NotExists).await.expect("put");
    store.put(Item::new("p", "odd", odd.clone()), Condition::Always).await.expect("overwrite");
    let tx = WriteOp::Put { item: Item::new("p", "odd2", odd.clone()), condition: Condition::Always };
    store.transact_write(vec![tx]).await.expect("tx");
    assert_eq!(store.get("p", "odd").await.expect("get").map(|i| (i.data, i.version)), Some((odd.clone(), 2)));
    assert_eq!(store.get("p", "odd2").await.expect("get").map(|i| i.data), Some(odd));
    store.put(Item::new("p", "odd", json!({"n": 1})), Condition::Always).await.expect("back to native");
    assert_eq!(store.increment("p", "odd", "n", 1).await.expect("increment"), 2);
}
