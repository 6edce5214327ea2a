//! Expression building: every attribute goes through a `#name` placeholder (`data` is a DynamoDB
//! reserved word) and only placeholders actually used are sent, as DynamoDB rejects unused ones.
//! Conditions encode expiry, because an expired item is absent until the TTL reaper deletes it.

use super::item::{EXPIRES_AT, PK, VERSION};
use aos_core::ports::Condition;
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
    /// bumps its version (starting at 1 when there was no item).
    pub fn overwrite(&mut self, item: &aos_core::ports::Item) -> Result<String, aos_core::ports::StoreError> {
        let doc = super::item::document(&item.data)?;
        let ((stored, cleared), ver) = (doc.attrs(), self.name(VERSION));
        let (data, other) = (self.name(stored), self.name(cleared));
        let doc = self.value("data", doc.value());
        let (zero, one) = (self.value("zero", num(0)), self.value("one", num(1)));
        let mut set = vec![format!("{data} = {doc}"), format!("{ver} = if_not_exists({ver}, {zero}) + {one}")];
        let mut remove = vec![other];
        match &item.gsi1 {
            Some(key) => {
                set.push(format!("{} = {}", self.name(super::item::GSI1PK), self.value("gpk", AttributeValue::S(key.pk.clone()))));
                set.push(format!("{} = {}", self.name(super::item::GSI1SK), self.value("gsk", AttributeValue::S(key.sk.clone()))));
            }
            None => remove.extend([self.name(super::item::GSI1PK), self.name(super::item::GSI1SK)]),
        }
        match item.expires_at {
            Some(at) => set.push(format!("{} = {}", self.name(EXPIRES_AT), self.value("exp", num(at)))),
            None => remove.push(self.name(EXPIRES_AT)),
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr += &format!(" REMOVE {}", remove.join(", "));
        }
        Ok(expr)
    }
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
        let item = aos_core::ports::Item::new("p", "s", serde_json::json!({"a": 1}));
        let u = e.overwrite(&item).expect("expression");
        assert_eq!(
            u,
            "SET #data = :data, #version = if_not_exists(#version, :zero) + :one REMOVE #data_json, #gsi1pk, #gsi1sk, #expires_at"
        );
    }
}
