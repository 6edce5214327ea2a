//! Every Lambda function of the serverless deployment, listed from the three places that define
//! them, each once: the API functions are the router groups of `aos_api::routers::ALL`, the skill
//! functions the skills of `aos_skills::BUILTINS`, and the others are [`OTHERS`] below. What the
//! deployment needs per function follows from [`all`]: `aos-lambda`'s deployment test generates
//! the Makefile's build rules and template.yaml's skill resources, routes, log groups and alarms
//! from it, checks that each function has its crate and its resource, and `tests/run.sh` checks
//! each one's own feature set (`make functions` lists them).

use aos_api::routers::Group;
use aos_skills::{Builtin, BUILTINS};

/// A function that is neither an API nor a skill function: its package under `functions/` and
/// what its errors alarm says.
pub struct Other {
    pub package: &'static str,
    pub alarm: &'static str,
}

/// The functions with a `Function` of their own in this crate (`authorizer.rs`, `orchestrator.rs`,
/// `sweeper.rs`, `aggregator.rs`).
pub const OTHERS: &[Other] = &[
    Other {
        package: "authorizer",
        alarm: "authorizer invocations failed (the table or the identity provider's keys unreachable); callers get 500",
    },
    Other { package: "orchestrator", alarm: "orchestrator invocations failed (whole batches; per-record failures are redelivered)" },
    Other { package: "sweeper", alarm: "sweeper invocations failed" },
    Other { package: "aggregator", alarm: "aggregator invocations failed" },
];

/// What a function is.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Serves a router group behind API Gateway.
    Api(Group),
    /// Executes a skill's step tasks from its queue.
    Skill(Builtin),
    Other(&'static Other),
}

/// One function of the deployment.
#[derive(Clone)]
pub struct Deployed {
    /// Its package (and binary) under `functions/`.
    pub package: String,
    /// The stem of its resources' logical ids in template.yaml: `<stem>Function`, `<stem>Logs`,
    /// `<stem>ErrorsAlarm`, and for a skill `<stem>Queue`, `<stem>DeadLetterQueue`,
    /// `<stem>DeadLettersAlarm`. The package's in PascalCase, a skill's id's for a skill function.
    pub stem: String,
    pub kind: Kind,
}

impl Deployed {
    pub fn logical_id(&self) -> String {
        format!("{}Function", self.stem)
    }

    /// What its errors alarm says.
    pub fn alarm(&self) -> String {
        match self.kind {
            Kind::Other(o) => o.alarm.to_string(),
            _ => format!("{} invocations failed", self.package),
        }
    }
}

/// Every function, in the template's order: the authorizer, the API functions, the orchestrator,
/// sweeper and aggregator, then the skills.
pub fn all() -> Vec<Deployed> {
    let other = |o: &'static Other| Deployed { package: o.package.into(), stem: pascal(o.package), kind: Kind::Other(o) };
    let mut out: Vec<Deployed> = OTHERS.iter().take(1).map(other).collect();
    out.extend(aos_api::routers::ALL.iter().map(|g| Deployed {
        package: g.function.into(),
        stem: pascal(g.function),
        kind: Kind::Api(*g),
    }));
    out.extend(OTHERS.iter().skip(1).map(other));
    out.extend(BUILTINS.iter().map(|b| Deployed { package: skill_package(b.id), stem: pascal(b.id), kind: Kind::Skill(*b) }));
    out
}

/// The package of a skill's function: `skill-` and its id, underscores as dashes.
pub fn skill_package(id: &str) -> String {
    format!("skill-{}", id.replace('_', "-"))
}

/// `api-runs`, `http_call` → `ApiRuns`, `HttpCall`.
pub fn pascal(name: &str) -> String {
    name.split(['-', '_']).map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_packages_and_skill_ids() {
        assert_eq!((pascal("api-runs"), pascal("http_call"), pascal("sweeper")), ("ApiRuns".into(), "HttpCall".into(), "Sweeper".into()));
        assert_eq!(skill_package("json_transform"), "skill-json-transform");
        let all = all();
        let ids: Vec<String> = all.iter().map(Deployed::logical_id).collect();
        assert!(ids.contains(&"JsonTransformFunction".to_string()) && ids.contains(&"ApiRunsFunction".to_string()), "{ids:?}");
        for (i, f) in all.iter().enumerate() {
            assert!(all[..i].iter().all(|g| g.package != f.package && g.stem != f.stem), "`{}` is listed twice", f.package);
        }
    }
}
