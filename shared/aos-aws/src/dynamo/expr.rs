//! Expression building: every attribute goes through a `#name` placeholder (`data` is a DynamoDB
//! reserved word) and only placeholders actually used are sent, as DynamoDB rejects unused ones.
//! Conditions encode expiry, because an expired item is absent until the TTL reaper deletes it.

use super::item::{counter_attr, COUNTERS, EXPIRES_AT, GSI1PK, GSI1SK, PK, VERSION};
use aos_core::ports::{Condition, Item, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub(crate) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// `#attr`, the placeholder of a known attribute.
    pub fn name(&mut self, attr: &str) -> String {
        self.alias(attr, attr)
    }

    /// `#alias` standing for an arbitrary attribute name (e.g. a user-chosen field).
    pub fn alias(&mut self, alias: &str, attr: &str) -> String {
        let key = format!("#{alias}");
        self.names.insert(key.clone(), attr.to_string());
        key
    }

    pub fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let key = format!(":{key}");
        self.values.insert(key.clone(), value);
        key
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// Not expired: no expiry, or one still in the future (true for an absent item too).
    pub fn unexpired(&mut self, now: i64) -> String {
        let (exp, now) = (self.name(EXPIRES_AT), self.value("now", num(now)));
        format!("(attribute_not_exists({exp}) OR {exp} > {now})")
    }

    /// An item exists and has not expired.
    pub fn live(&mut self, now: i64) -> String {
        let pk = self.name(PK);
        format!("attribute_exists({pk}) AND {}", self.unexpired(now))
    }

    /// No item, or only an expired one.
    pub fn absent(&mut self, now: i64) -> String {
        let (pk, exp, now) = (self.name(PK), self.name(EXPIRES_AT), self.value("now", num(now)));
        format!("attribute_not_exists({pk}) OR {exp} <= {now}")
    }

    /// The ConditionExpression of a port condition (`None` for `Always`).
    pub fn condition(&mut self, condition: &Condition, now: i64) -> Option<String> {
        match condition {
            Condition::Always => None,
            Condition::NotExists => Some(self.absent(now)),
            Condition::Exists => Some(self.live(now)),
            Condition::VersionIs(v) => {
                let (ver, v) = (self.name(VERSION), self.value("expected", num(*v)));
                Some(format!("{ver} = {v} AND {}", self.unexpired(now)))
            }
        }
    }

    /// The UpdateExpression that overwrites an item's document, index key and expiry in place and
    /// bumps its version (starting at 1 when there was no item). It removes the counter marker, so
    /// a `Put` over a counter item replaces its counters too (`item.rs`).
    pub fn overwrite(&mut self, item: &Item) -> Result<String, StoreError> {
        let (set, mut remove) = self.document(item)?;
        remove.push(self.name(COUNTERS));
        Ok(update(&set, &remove, &[]))
    }

    /// The UpdateExpression and ConditionExpression of a `WriteOp::Add` in place: the document,
    /// index key, expiry and marker set, the version bumped, each counter `ADD`ed (from 0 when
    /// absent). The condition holds for no item or a live counter item, and keeps each counter
    /// within i64; anything else (an expired item, one a `Put` wrote, an overflow) fails it.
    pub fn add_in_place(&mut self, item: &Item, counters: &[(String, i64)], now: i64) -> Result<(String, String), StoreError> {
        let (mut set, remove) = self.document(item)?;
        let marker = self.name(COUNTERS);
        set.push(format!("{marker} = {}", self.value("marked", AttributeValue::Bool(true))));
        let pk = self.name(PK);
        let mut cond = vec![format!("(attribute_not_exists({pk}) OR ({} AND attribute_exists({marker})))", self.unexpired(now))];
        let mut add = Vec::with_capacity(counters.len());
        for (i, (field, delta)) in counters.iter().enumerate() {
            let (c, d) = (self.alias(&format!("c{i}"), &counter_attr(field)), self.value(&format!("d{i}"), num(delta)));
            add.push(format!("{c} {d}"));
            if *delta != 0 {
                let (op, bound) = if *delta > 0 { ("<=", i64::MAX - delta) } else { (">=", i64::MIN - delta) };
                cond.push(format!("(attribute_not_exists({c}) OR {c} {op} {})", self.value(&format!("b{i}"), num(bound))));
            }
        }
        Ok((update(&set, &remove, &add), cond.join(" AND ")))
    }

    /// The `SET` and `REMOVE` actions writing an item's document, index key and expiry in place
    /// and bumping its version (starting at 1 when there was no item).
    fn document(&mut self, item: &Item) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let doc = super::item::document(&item.data)?;
        let ((stored, cleared), ver) = (doc.attrs(), self.name(VERSION));
        let (data, other) = (self.name(stored), self.name(cleared));
        let doc = self.value("data", doc.value());
        let (zero, one) = (self.value("zero", num(0)), self.value("one", num(1)));
        let mut set = vec![format!("{data} = {doc}"), format!("{ver} = if_not_exists({ver}, {zero}) + {one}")];
        let mut remove = vec![other];
        match &item.gsi1 {
            Some(key) => {
                set.push(format!("{} = {}", self.name(GSI1PK), self.value("gpk", AttributeValue::S(key.pk.clone()))));
                set.push(format!("{} = {}", self.name(GSI1SK), self.value("gsk", AttributeValue::S(key.sk.clone()))));
            }
            None => remove.extend([self.name(GSI1PK), self.name(GSI1SK)]),
        }
        match item.expires_at {
            Some(at) => set.push(format!("{} = {}", self.name(EXPIRES_AT), self.value("exp", num(at)))),
            None => remove.push(self.name(EXPIRES_AT)),
        }
        Ok((set, remove))
    }
}

/// An UpdateExpression from its actions (each clause only when it has some).
fn update(set: &[String], remove: &[String], add: &[String]) -> String {
    let clauses = [("SET", set), ("REMOVE", remove), ("ADD", add)];
    clauses
        .iter()
        .filter(|(_, actions)| !actions.is_empty())
        .map(|(verb, actions)| format!("{verb} {}", actions.join(", ")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn num(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The condition a `Check` with `Always` needs (DynamoDB requires one): true for any item.
pub(crate) fn tautology(e: &mut Expr) -> String {
    let pk = e.name(PK);
    format!("attribute_not_exists({pk}) OR attribute_exists({pk})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_send_only_the_placeholders_they_use() {
        let mut e = Expr::default();
        assert_eq!(e.condition(&Condition::Always, 5), None);
        assert_eq!((e.names(), e.values()), (None, None));
        let c = e.condition(&Condition::VersionIs(3), 5).expect("condition");
        assert_eq!(c, "#version = :expected AND (attribute_not_exists(#expires_at) OR #expires_at > :now)");
        let mut names: Vec<String> = e.names().expect("names").into_keys().collect();
        names.sort();
        assert_eq!(names, ["#expires_at", "#version"]);
    }

    #[test]
    fn overwrite_removes_what_the_item_lacks() {
        let mut e = Expr::default();
        let item = Item::new("p", "s", serde_json::json!({"a": 1}));
        let u = e.overwrite(&item).expect("expression");
        assert_eq!(
            u,
            "SET #data = :data, #version = if_not_exists(#version, :zero) + :one REMOVE #data_json, #gsi1pk, #gsi1sk, #expires_at, #counters"
        );
    }

    #[test]
    fn additions_set_the_document_and_add_the_counters() {
        let mut e = Expr::default();
        let item = Item::new("p", "s", serde_json::json!({"a": 1})).with_index("ip", "is").expiring_at(9);
        let counters = [("attempts".to_string(), 2), ("zero".to_string(), 0), ("down".to_string(), -1)];
        let (u, c) = e.add_in_place(&item, &counters, 5).expect("expression");
        assert_eq!(
            u,
            "SET #data = :data, #version = if_not_exists(#version, :zero) + :one, #gsi1pk = :gpk, #gsi1sk = :gsk, #expires_at = :exp, \
             #counters = :marked REMOVE #data_json ADD #c0 :d0, #c1 :d1, #c2 :d2"
        );
        assert_eq!(
            c,
            "(attribute_not_exists(#pk) OR ((attribute_not_exists(#expires_at) OR #expires_at > :now) AND attribute_exists(#counters))) \
             AND (attribute_not_exists(#c0) OR #c0 <= :b0) AND (attribute_not_exists(#c2) OR #c2 >= :b2)"
        );
        assert_eq!(e.names().expect("names").get("#c0").map(String::as_str), Some("n_attempts"));
        assert_eq!(e.values().expect("values").get(":b2"), Some(&num(i64::MIN + 1)));
    }
}
