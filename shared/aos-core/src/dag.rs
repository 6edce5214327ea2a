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

/// For each step (by plan index), the set of steps it transitively depends on, as a bitset over
/// plan indices. Computed once in topological order; steps on a cycle get what could be computed.
pub fn ancestors(plan: &Plan) -> Vec<Vec<u64>> {
    let n = plan.steps.len();
    let words = n.div_ceil(64);
    let index: HashMap<&str, usize> = plan.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let deps: Vec<Vec<usize>> =
        plan.steps.iter().map(|s| s.depends_on.iter().filter_map(|d| index.get(d.as_str()).copied()).collect()).collect();
    let mut indegree: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            children[d].push(i);
        }
    }
    let mut sets = vec![vec![0u64; words]; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &d in &deps[i] {
            let (head, tail) = if d < i {
                let (h, t) = sets.split_at_mut(i);
                (&h[d], &mut t[0])
            } else {
                let (h, t) = sets.split_at_mut(d);
                (&t[0], &mut h[i])
            };
            for (w, src) in tail.iter_mut().zip(head) {
                *w |= src;
            }
            tail[d / 64] |= 1 << (d % 64);
        }
        for &c in &children[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(c);
            }
        }
    }
    sets
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
        let anc = ancestors(&p);
        assert_eq!(anc[0], vec![0b1110], "d depends on b, c and a");
        assert_eq!(anc[1], vec![0b1000], "b depends on a");
        assert_eq!(anc[3], vec![0]);
        let cyc = plan(json!([
            {"id": "a", "skill": "x", "depends_on": ["c"]},
            {"id": "b", "skill": "x", "depends_on": ["a"]},
            {"id": "c", "skill": "x", "depends_on": ["b"]},
            {"id": "z", "skill": "x"}
        ]));
        assert_eq!(topo_order(&cyc).unwrap_err(), ["a", "b", "c"]);
    }
}
