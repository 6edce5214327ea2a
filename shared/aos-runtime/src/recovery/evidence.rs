//! Recovery evidence in the store: counters per (tenant, failure code, skill, action, UTC day).
//!
//! The orchestrator adds the observations of a decision (`aos_core::evidence::observations`) in
//! the same transaction that saves the run state deciding them, as [`WriteOp::Add`]s (DynamoDB
//! `ADD`, SQLite an upsert): a decision is saved once, so each recovery is counted once, however
//! often its advance message is delivered. Day buckets let a reader weigh each day by its age
//! (the half-life) and let old evidence expire.

use crate::failures::days::day_label;
use crate::keys;
use aos_core::confidence::Tally;
use aos_core::evidence::{FailureKey, Observation, RecoveryAction};
use aos_core::ports::{Item, Query, SkRange, Store, StoreError, WriteOp};
use serde_json::json;
use std::collections::BTreeMap;

/// Stands for "no skill" in evidence keys (a skill id never contains `*`).
const ANY_SKILL: &str = "*";
/// Items read per suggestion at most: a failure code's evidence partition holds one item per
/// skill, action and day, so this is months of evidence of dozens of actions.
const MAX_ITEMS: usize = 5_000;

/// The writes that add `observations` to the tenant's evidence, merged by item. Evidence expires
/// `keep_days` after its day.
pub fn ops(tenant: &str, observations: &[Observation], keep_days: u32) -> Vec<WriteOp> {
    let mut merged: BTreeMap<(String, String), (Item, i64, i64)> = BTreeMap::new();
    for o in observations {
        let day = day_label(o.at_ms);
        let skill = o.key.skill.as_deref().unwrap_or(ANY_SKILL);
        let (pk, sk) = (keys::evidence_pk(tenant, &o.key.code), keys::evidence_sk(skill, &o.action.key(), &day));
        let expires = o.at_ms.div_euclid(86_400_000) * 86_400 + 86_400 + i64::from(keep_days) * 86_400;
        let entry = merged.entry((pk.clone(), sk.clone())).or_insert_with(|| {
            let data = json!({
                "code": o.key.code, "skill": o.key.skill, "action": o.action.kind(), "params": o.action.params(),
                "day": day, "last_seen_ms": o.at_ms,
            });
            (Item::new(pk, sk, data).expiring_at(expires), 0, 0)
        });
        if entry.0.data["last_seen_ms"].as_i64().unwrap_or(0) < o.at_ms {
            entry.0.data["last_seen_ms"] = json!(o.at_ms);
        }
        entry.1 += 1;
        entry.2 += i64::from(o.succeeded);
    }
    merged
        .into_values()
        .map(|(item, attempts, successes)| WriteOp::Add {
            item,
            counters: vec![("attempts".to_string(), attempts), ("successes".to_string(), successes)],
        })
        .collect()
}

/// The evidence of one action, summed over days.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionEvidence {
    /// Decayed counts.
    pub tally: Tally,
    /// Raw observations.
    pub observed: u64,
    pub successes: u64,
    pub last_seen_ms: Option<i64>,
}

/// The tenant's evidence about `key` (every skill's when `key.skill` is `None`), per action,
/// weighed at `now_ms` with `half_life_days`.
pub async fn read(
    store: &dyn Store,
    tenant: &str,
    key: &FailureKey,
    now_ms: i64,
    half_life_days: f64,
) -> Result<BTreeMap<RecoveryAction, ActionEvidence>, StoreError> {
    let mut q = Query::partition(keys::evidence_pk(tenant, &key.code));
    if let Some(skill) = &key.skill {
        q.sk = SkRange::Prefix(format!("{skill}#"));
    }
    let mut out: BTreeMap<RecoveryAction, ActionEvidence> = BTreeMap::new();
    let mut read = 0;
    loop {
        let page = store.query(q.clone()).await?;
        for item in &page.items {
            let Ok(action) =
                serde_json::from_value::<RecoveryAction>(json!({"action": item.data["action"], "params": item.data["params"]}))
            else {
                continue;
            };
            let attempts = item.data["attempts"].as_u64().unwrap_or(0);
            let successes = item.data["successes"].as_u64().unwrap_or(0).min(attempts);
            let seen = item.data["last_seen_ms"].as_i64().unwrap_or(0);
            let e = out.entry(action).or_default();
            e.tally.add_decayed(attempts, successes, seen, now_ms, half_life_days);
            e.observed += attempts;
            e.successes += successes;
            e.last_seen_ms = e.last_seen_ms.max(Some(seen));
        }
        read += page.items.len();
        match page.next {
            Some(next) if read < MAX_ITEMS => q.cursor = Some(next),
            _ => return Ok(out),
        }
    }
}
