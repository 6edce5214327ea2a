//! The step graph: deterministic topological order (ties broken by plan order) and upstream sets.

use crate::plan::Plan;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Step indices in topological order, or the ids of the steps on a cycle.
pub fn topo_order(plan: &Plan) -> Result<Vec<usize>, Vec<String>> {
    let index: HashMap<&str, usize> = plan.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let mut indegree = vec![0usize; plan.steps.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); plan.steps.len()];
    for (i, step) in plan.steps.iter().enumerate() {
        for dep in &step.depends_on {
            if let Some(&d) = index.get(dep.as_str()) {
                indegree[i] += 1;
                children[d].push(i);
            }
        }
    }
    // A BTreeSet of ready indices makes the order independent of hashing and timing.
    let mut ready: BTreeSet<usize> = (0..plan.steps.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(plan.steps.len());
    while let Some(&i) = ready.iter().next() {
        ready.remove(&i);
        order.push(i);
        for &c in &children[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() == plan.steps.len() {
        Ok(order)
    } else {
        let done: HashSet<usize> = order.into_iter().collect();
        Err(plan.steps.iter().enumerate().filter(|(i, _)| !done.contains(i)).map(|(_, s)| s.id.clone()).collect())
    }
}

/// Every step `step_id` transitively depends on.
pub fn upstream(plan: &Plan, step_id: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = plan.step(step_id).map(|s| s.depends_on.clone()).unwrap_or_default();
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone()) {
            if let Some(s) = plan.step(&id) {
                stack.extend(s.depends_on.iter().cloned());
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(steps: serde_json::Value) -> Plan {
        serde_json::from_value(json!({"name": "t", "steps": steps})).unwrap()
    }

    #[test]
    fn orders_deterministically_and_finds_cycles() {
        let p = plan(json!([
            {"id": "d", "skill": "x", "depends_on": ["b", "c"]},
            {"id": "b", "skill": "x", "depends_on": ["a"]},
            {"id": "c", "skill": "x", "depends_on": ["a"]},
            {"id": "a", "skill": "x"}
        ]));
        let ids: Vec<&str> = topo_order(&p).unwrap().into_iter().map(|i| p.steps[i].id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(upstream(&p, "d"), ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
        let cyc = plan(json!([
            {"id": "a", "skill": "x", "depends_on": ["c"]},
            {"id": "b", "skill": "x", "depends_on": ["a"]},
            {"id": "c", "skill": "x", "depends_on": ["b"]},
            {"id": "z", "skill": "x"}
        ]));
        assert_eq!(topo_order(&cyc).unwrap_err(), ["a", "b", "c"]);
    }
}
