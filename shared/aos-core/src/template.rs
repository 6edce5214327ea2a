//! Step-input templating: `{{ inputs.x }}`, `{{ steps.<id>.output.<path> }}`, `{{ secrets.NAME }}`.
//! A string that is exactly one reference becomes the referenced JSON value; references inside
//! longer strings are interpolated as text. Secrets are resolved last, by the worker, so they are
//! never stored in run records.
//!
//! A secret is filled in only where the plan's own text names it: [`resolve_input`] returns, beside
//! the resolved value, a [`SecretSlot`] for every string of the template that references a secret,
//! built from the template (never from substituted data). The worker rebuilds exactly those strings
//! and never scans the input again, so a run input or a fetched response that contains the text
//! `{{ secrets.X }}` stays that text (no second-order template injection).

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

fn ref_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{\s*([^{}]*?)\s*\}\}").expect("static regex"))
}

/// One segment of a path into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Input(Vec<Seg>),
    StepOutput { step: String, path: Vec<Seg> },
    Secret(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{ {0} }}}}` is not a reference: use inputs.<name>, steps.<id>.output[.<path>] or secrets.<NAME>")]
    Syntax(String),
    #[error("`{{{{ {0} }}}}` does not resolve: {1}")]
    Unresolved(String, String),
}

/// Parses the text between `{{` and `}}`.
pub fn parse_ref(text: &str) -> Result<Ref, TemplateError> {
    let bad = || TemplateError::Syntax(text.to_string());
    let segs = parse_path(text).ok_or_else(bad)?;
    let key = |i: usize| match segs.get(i) {
        Some(Seg::Key(k)) => Some(k.clone()),
        _ => None,
    };
    match key(0).as_deref() {
        Some("inputs") if segs.len() >= 2 => Ok(Ref::Input(segs[1..].to_vec())),
        Some("secrets") if segs.len() == 2 => Ok(Ref::Secret(key(1).ok_or_else(bad)?)),
        Some("steps") if segs.len() >= 3 && key(2).as_deref() == Some("output") => {
            Ok(Ref::StepOutput { step: key(1).ok_or_else(bad)?, path: segs[3..].to_vec() })
        }
        _ => Err(bad()),
    }
}

/// `a.b[0].c` or `a.b.0.c` → segments. Numeric dotted segments index arrays (and object keys
/// that are numeric strings).
fn parse_path(text: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    for part in text.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() && rest.is_empty() {
            return None;
        }
        if !name.is_empty() {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return None;
            }
            segs.push(match name.parse::<usize>() {
                Ok(n) => Seg::Index(n),
                Err(_) => Seg::Key(name.to_string()),
            });
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let n = rest[1..close].trim().parse::<usize>().ok()?;
            segs.push(Seg::Index(n));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(segs)
}

/// Follows `path` into `value`.
pub fn lookup<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            (Seg::Index(i), Value::Object(m)) => m.get(&i.to_string())?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Every reference in `value`, with the field path where it occurs (e.g. `input.headers.auth`).
pub fn references(value: &Value, base: &str) -> Vec<(String, Result<Ref, TemplateError>)> {
    let mut out = Vec::new();
    walk_strings(value, base.to_string(), &mut |path, s| {
        for cap in ref_regex().captures_iter(s) {
            out.push((path.clone(), parse_ref(&cap[1])));
        }
    });
    out
}

fn walk_strings(value: &Value, path: String, f: &mut dyn FnMut(&String, &str)) {
    match value {
        Value::String(s) => f(&path, s),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk_strings(v, format!("{path}[{i}]"), f);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                walk_strings(v, format!("{path}.{k}"), f);
            }
        }
        _ => {}
    }
}

/// True when the string contains at least one `{{ ... }}`.
pub fn is_templated(s: &str) -> bool {
    ref_regex().is_match(s)
}

/// What references resolve against.
pub struct Scope<'a> {
    pub inputs: &'a Value,
    /// Final outputs of finished steps.
    pub outputs: &'a HashMap<String, Value>,
    /// Secret values; `None` leaves secret references in place (the orchestrator's pass).
    pub secrets: Option<&'a HashMap<String, String>>,
}

/// Resolves every reference in `value`.
pub fn resolve(value: &Value, scope: &Scope) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => resolve_string(s, scope)?,
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(v, scope)).collect::<Result<_, _>>()?),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| Ok((k.clone(), resolve(v, scope)?))).collect::<Result<_, TemplateError>>()?)
        }
        other => other.clone(),
    })
}

fn resolve_string(s: &str, scope: &Scope) -> Result<Value, TemplateError> {
    let re = ref_regex();
    if !re.is_match(s) {
        return Ok(Value::String(s.to_string()));
    }
    // Exactly one reference and nothing else: keep the JSON type of the referenced value.
    if let Some(cap) = re.captures(s) {
        let whole = cap.get(0).expect("group 0");
        if whole.start() == 0 && whole.end() == s.len() {
            return Ok(resolve_one(&cap[1], scope)?.unwrap_or_else(|| Value::String(s.to_string())));
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for cap in re.captures_iter(s) {
        let m = cap.get(0).expect("group 0");
        out.push_str(&s[last..m.start()]);
        match resolve_one(&cap[1], scope)? {
            Some(Value::String(v)) => out.push_str(&v),
            Some(v) => out.push_str(&crate::canonical::to_canonical_string(&v)),
            None => out.push_str(m.as_str()),
        }
        last = m.end();
    }
    out.push_str(&s[last..]);
    Ok(Value::String(out))
}

/// `Ok(None)` means "leave this reference as written" (a secret during the orchestrator's pass).
fn resolve_one(text: &str, scope: &Scope) -> Result<Option<Value>, TemplateError> {
    let unresolved = |why: &str| TemplateError::Unresolved(text.to_string(), why.to_string());
    match parse_ref(text)? {
        Ref::Input(path) => lookup(scope.inputs, &path).cloned().map(Some).ok_or_else(|| unresolved("no such input")),
        Ref::StepOutput { step, path } => {
            let out = scope.outputs.get(&step).ok_or_else(|| unresolved("that step has no output"))?;
            lookup(out, &path).cloned().map(Some).ok_or_else(|| unresolved("no such field in the step's output"))
        }
        Ref::Secret(name) => match scope.secrets {
            None => Ok(None),
            Some(map) => map.get(&name).map(|v| Some(Value::String(v.clone()))).ok_or_else(|| unresolved("unknown secret")),
        },
    }
}

/// A string of a step input that references secrets, as the plan wrote it: the worker builds the
/// string from `parts` (text already resolved, secrets by name) and puts it at `pointer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretSlot {
    /// RFC 6901 JSON pointer of the string inside the resolved input.
    pub pointer: String,
    pub parts: Vec<SlotPart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotPart {
    Text(String),
    Secret(String),
}

impl SecretSlot {
    /// The secret names this slot needs.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            SlotPart::Secret(n) => Some(n.as_str()),
            SlotPart::Text(_) => None,
        })
    }
}

/// A step input with its non-secret references resolved, and the slots where secrets go.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Secret references are left as written, so this value is safe to store and hash.
    pub value: Value,
    pub secrets: Vec<SecretSlot>,
}

/// Resolves a step input template: the value [`resolve`] gives without secrets, and a slot for
/// every templated string that names a secret.
pub fn resolve_input(template: &Value, scope: &Scope) -> Result<Resolved, TemplateError> {
    let plain = Scope { inputs: scope.inputs, outputs: scope.outputs, secrets: None };
    let value = resolve(template, &plain)?;
    let mut secrets = Vec::new();
    let mut failed = None;
    walk_pointers(template, &mut String::new(), &mut |pointer, s| match slot_parts(s, &plain) {
        Ok(Some(parts)) => secrets.push(SecretSlot { pointer: pointer.to_string(), parts }),
        Ok(None) => {}
        Err(e) => {
            failed.get_or_insert(e);
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(Resolved { value, secrets }),
    }
}

/// The parts of a template string that names at least one secret; `None` when it names none.
fn slot_parts(s: &str, scope: &Scope) -> Result<Option<Vec<SlotPart>>, TemplateError> {
    let re = ref_regex();
    let mut parts = Vec::new();
    let mut any_secret = false;
    let mut last = 0;
    let mut text = String::new();
    for cap in re.captures_iter(s) {
        let m = cap.get(0).expect("group 0");
        text.push_str(&s[last..m.start()]);
        last = m.end();
        match parse_ref(&cap[1])? {
            Ref::Secret(name) => {
                any_secret = true;
                if !text.is_empty() {
                    parts.push(SlotPart::Text(std::mem::take(&mut text)));
                }
                parts.push(SlotPart::Secret(name));
            }
            _ => match resolve_one(&cap[1], scope)? {
                Some(Value::String(v)) => text.push_str(&v),
                Some(v) => text.push_str(&crate::canonical::to_canonical_string(&v)),
                None => text.push_str(m.as_str()),
            },
        }
    }
    if !any_secret {
        return Ok(None);
    }
    text.push_str(&s[last..]);
    if !text.is_empty() {
        parts.push(SlotPart::Text(text));
    }
    Ok(Some(parts))
}

/// Puts each slot's string, with the secret values, into `value`. Only the slots' names are read
/// from `secrets`; nothing else in `value` is interpreted.
pub fn fill_secrets(value: &mut Value, slots: &[SecretSlot], secrets: &HashMap<String, String>) -> Result<(), TemplateError> {
    for slot in slots {
        let mut text = String::new();
        for part in &slot.parts {
            match part {
                SlotPart::Text(t) => text.push_str(t),
                SlotPart::Secret(name) => match secrets.get(name) {
                    Some(v) => text.push_str(v),
                    None => return Err(TemplateError::Unresolved(format!("secrets.{name}"), "unknown secret".into())),
                },
            }
        }
        match value.pointer_mut(&slot.pointer) {
            Some(target) => *target = Value::String(text),
            None => return Err(TemplateError::Unresolved(format!("secrets at {}", slot.pointer), "the input has no such field".into())),
        }
    }
    Ok(())
}

/// Every secret reference in a template with the JSON pointer of the string that holds it.
pub fn secret_references(template: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk_pointers(template, &mut String::new(), &mut |pointer, s| {
        for cap in ref_regex().captures_iter(s) {
            if let Ok(Ref::Secret(name)) = parse_ref(&cap[1]) {
                out.push((pointer.to_string(), name));
            }
        }
    });
    out
}

fn walk_pointers(value: &Value, pointer: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(pointer, s),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                walk_pointers(v, pointer, f);
                pointer.truncate(len);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                walk_pointers(v, pointer, f);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Names of the secrets `value` references.
pub fn secret_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = references(value, "")
        .into_iter()
        .filter_map(|(_, r)| match r {
            Ok(Ref::Secret(n)) => Some(n),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope_with<'a>(inputs: &'a Value, outputs: &'a HashMap<String, Value>) -> Scope<'a> {
        Scope { inputs, outputs, secrets: None }
    }

    #[test]
    fn whole_reference_keeps_type_and_partial_interpolates() {
        let inputs = json!({"n": 3, "obj": {"a": [1, 2]}});
        let mut outputs = HashMap::new();
        outputs.insert("fetch".to_string(), json!({"body": {"items": [{"price": 42.5}]}}));
        let scope = scope_with(&inputs, &outputs);
        let v = json!({
            "n": "{{ inputs.n }}",
            "o": "{{inputs.obj}}",
            "p": "{{ steps.fetch.output.body.items[0].price }}",
            "p2": "{{ steps.fetch.output.body.items.0.price }}",
            "s": "n={{ inputs.n }} a={{ inputs.obj.a }}",
            "k": "{{ secrets.TOKEN }}"
        });
        let r = resolve(&v, &scope).unwrap();
        assert_eq!(r["n"], json!(3));
        assert_eq!(r["o"], json!({"a": [1, 2]}));
        assert_eq!(r["p"], json!(42.5));
        assert_eq!(r["p2"], json!(42.5));
        assert_eq!(r["s"], json!("n=3 a=[1,2]"));
        assert_eq!(r["k"], json!("{{ secrets.TOKEN }}"), "secrets stay in place without a secret map");
        let secrets: HashMap<String, String> = [("TOKEN".to_string(), "s3cr3t".to_string())].into();
        let scope = Scope { inputs: &inputs, outputs: &outputs, secrets: Some(&secrets) };
        assert_eq!(resolve(&json!("Bearer {{ secrets.TOKEN }}"), &scope).unwrap(), json!("Bearer s3cr3t"));
    }

    #[test]
    fn secrets_come_only_from_the_template_never_from_substituted_data() {
        let inputs = json!({"name": "{{ secrets.LEAK }}", "user": "alice"});
        let mut outputs = HashMap::new();
        outputs.insert("fetch".to_string(), json!({"body": "{{ secrets.LEAK }}"}));
        let scope = scope_with(&inputs, &outputs);
        let template = json!({
            "body": "{{ inputs.name }}",
            "echo": "{{ steps.fetch.output.body }}",
            "headers": {"Authorization": "Bearer {{ secrets.TOKEN }} for {{ inputs.user }} {{ inputs.name }}", "x/y": "{{secrets.TOKEN}}"},
            "list": ["{{ secrets.OTHER }}"]
        });
        let r = resolve_input(&template, &scope).unwrap();
        assert_eq!(r.value["body"], json!("{{ secrets.LEAK }}"));
        let names: Vec<&str> = r.secrets.iter().flat_map(|s| s.names()).collect();
        assert_eq!(names, ["TOKEN", "TOKEN", "OTHER"], "LEAK comes from data, so it is never a slot");
        let secrets: HashMap<String, String> =
            [("TOKEN", "t0k"), ("OTHER", "o"), ("LEAK", "must-not-appear")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        let mut value = r.value.clone();
        fill_secrets(&mut value, &r.secrets, &secrets).unwrap();
        assert_eq!(value["headers"]["Authorization"], json!("Bearer t0k for alice {{ secrets.LEAK }}"));
        assert_eq!(value["headers"]["x/y"], json!("t0k"));
        assert_eq!(value["list"][0], json!("o"));
        assert!(!value.to_string().contains("must-not-appear"));
        assert_eq!(
            secret_references(&template),
            vec![
                ("/headers/Authorization".to_string(), "TOKEN".to_string()),
                ("/headers/x~1y".to_string(), "TOKEN".to_string()),
                ("/list/0".to_string(), "OTHER".to_string())
            ]
        );
    }

    #[test]
    fn missing_paths_and_bad_syntax_are_errors() {
        let inputs = json!({});
        let outputs = HashMap::new();
        let scope = scope_with(&inputs, &outputs);
        assert!(matches!(resolve(&json!("{{ inputs.x }}"), &scope), Err(TemplateError::Unresolved(..))));
        assert!(matches!(parse_ref("steps.a.result"), Err(TemplateError::Syntax(_))));
        assert!(matches!(parse_ref("env.HOME"), Err(TemplateError::Syntax(_))));
        assert_eq!(parse_ref("steps.a.output").unwrap(), Ref::StepOutput { step: "a".into(), path: vec![] });
    }
}
