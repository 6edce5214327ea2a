//! Authoring from the terminal against a real `aos serve`: `aos plan validate` prints every problem
//! of a plan with its field path and a "did you mean", and `--json` carries every one too (as does
//! the error of `runs submit`).

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn aos_at(app: &App, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(aos_bin())
        .args(args)
        .env("AOS_URL", &app.base)
        .env("AOS_API_KEY", &app.key)
        .env("AOS_LOG", "error")
        .output()
        .expect("aos");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Six problems the server finds once the plan is read, and one it finds while reading.
const SIX_PROBLEMS: &str = r#"{"name": "bad", "steps": [
 {"id": "a", "skill": "http_cal", "input": {}},
 {"id": "b", "skill": "json_transform", "input": {"data": 1, "expr": "."}, "depends_on": ["zz"]},
 {"id": "b", "skill": "json_transform", "input": {"data": 1}, "retry": {"max_attempts": 0}, "condition": "...("}
]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_validate_prints_every_problem_with_its_path_and_a_suggestion() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, SIX_PROBLEMS).unwrap();
    let typo = dir.path().join("typo.json");
    std::fs::write(
        &typo,
        r#"{"name": "t", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}, "retyr": {}}]}"#,
    )
    .unwrap();
    let good = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-transform.json");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"name\": ").unwrap();
    let app = App::detached(app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || {
        let (code, out, _) = aos_at(&app, &["plan", "validate", good.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("hello-transform.json: valid"), "{out}");

        let (code, out, _) = aos_at(&app, &["plan", "validate", bad.to_str().unwrap(), typo.to_str().unwrap(), broken.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        for expected in [
            "bad.json: 6 problems",
            "steps[0].skill: step `a` uses unknown skill `http_cal` (did you mean `http_call`?)",
            "steps[1].depends_on[0]:",
            "steps[2].id:",
            "steps[2].input:",
            "steps[2].retry.max_attempts:",
            "steps[2].condition: condition does not compile",
            "typo.json: 1 problem",
            "(did you mean `retry`?)",
            "broken.json: 1 problem",
            "INVALID_JSON",
        ] {
            assert!(out.contains(expected), "no `{expected}` in:\n{out}");
        }
        let (code, out, _) = aos_at(&app, &["--json", "plan", "validate", bad.to_str().unwrap()]);
        assert_eq!(code, 1);
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["files"][0]["problems"].as_array().unwrap().len(), 6, "{report}");
        assert_eq!(report["files"][0]["problems"][0]["did_you_mean"], "http_call");

        // A submission's error names every problem too, and `--json` prints the API's whole envelope.
        let (code, _, err) = aos_at(&app, &["runs", "submit", bad.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(err.contains("6 problems:") && err.contains("steps[2].condition"), "{err}");
        let (code, out, _) = aos_at(&app, &["--json", "runs", "submit", bad.to_str().unwrap()]);
        assert_eq!(code, 1);
        let envelope: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(envelope["error"]["details"]["errors"].as_array().unwrap().len(), 6, "{envelope}");
    })
    .await
    .unwrap();
}

fn repo(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The example plans (not their inputs).
fn example_plans() -> Vec<std::path::PathBuf> {
    let mut plans: Vec<_> = std::fs::read_dir(repo("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.to_string_lossy().ends_with(".inputs.json"))
        .collect();
    plans.sort();
    assert!(plans.len() >= 5, "{plans:?}");
    plans
}

fn committed_schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("docs/plan.schema.json")).unwrap()).unwrap()
}

/// Ways to break the hello-transform example that the schema states (the server refuses each too:
/// `schema_and_server_refuse_the_same_broken_plans`).
fn broken_plans() -> Vec<(&'static str, Value)> {
    let good: Value = serde_json::from_str(&std::fs::read_to_string(repo("examples/hello-transform.json")).unwrap()).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut p = good.clone();
        f(&mut p);
        p
    };
    vec![
        ("unknown plan field", edit(&|p| p["stepz"] = serde_json::json!([]))),
        ("unknown step field", edit(&|p| p["steps"][0]["retyr"] = serde_json::json!({}))),
        ("no steps", edit(&|p| p["steps"] = serde_json::json!([]))),
        ("blank name", edit(&|p| p["name"] = serde_json::json!("   "))),
        ("unknown skill", edit(&|p| p["steps"][0]["skill"] = serde_json::json!("http_cal"))),
        ("bad step id", edit(&|p| p["steps"][0]["id"] = serde_json::json!("a b"))),
        ("too many attempts", edit(&|p| p["steps"][0]["retry"] = serde_json::json!({"max_attempts": 21}))),
        ("timeout too long", edit(&|p| p["steps"][0]["timeout_ms"] = serde_json::json!(900_001))),
        ("expr not a string", edit(&|p| p["steps"][0]["input"]["expr"] = serde_json::json!(5))),
        ("expr too long", edit(&|p| p["steps"][0]["input"]["expr"] = serde_json::json!(".".repeat(16_385)))),
        ("input field unknown to the skill", edit(&|p| p["steps"][0]["input"]["exp"] = serde_json::json!("."))),
        ("fallback to an unknown skill", edit(&|p| p["steps"][0]["on_error"] = serde_json::json!({"action": "fallback", "skill": "nope"}))),
        ("$schema not a string", edit(&|p| p["$schema"] = serde_json::json!(5))),
        ("a dependency that is no step id", edit(&|p| p["steps"][1]["depends_on"] = serde_json::json!(["no such step"]))),
        ("budget too long", edit(&|p| p["budget"] = serde_json::json!({"max_duration_ms": 2_592_000_001_u64}))),
    ]
}

/// docs/plan.schema.json is what `aos plan schema` generates from the code (regenerate it with
/// `target/debug/aos plan schema > docs/plan.schema.json`), and a real JSON Schema (2020-12)
/// validator accepts every example plan, which names it by `$schema`, and refuses broken ones.
#[test]
fn the_plan_schema_is_current_and_every_example_satisfies_it() {
    let out = Command::new(aos_bin()).args(["plan", "schema"]).output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(repo("docs/plan.schema.json")).unwrap();
    assert!(
        generated == committed,
        "docs/plan.schema.json differs from the code: regenerate it with `target/debug/aos plan schema > docs/plan.schema.json`"
    );
    let schema = committed_schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let validator = jsonschema::draft202012::new(&schema).expect("docs/plan.schema.json is a valid 2020-12 schema");
    for path in example_plans() {
        let plan: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(plan["$schema"], "../docs/plan.schema.json", "{} names the schema by `$schema`", path.display());
        let errors: Vec<String> = validator.iter_errors(&plan).map(|e| format!("{}: {e}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
    for (what, plan) in broken_plans() {
        assert!(!validator.is_valid(&plan), "the schema accepts a plan with {what}");
    }
    // References stand for any type (the validator checks them at run time), literals do not.
    let templated = serde_json::json!({"name": "t", "steps": [{"id": "a", "skill": "http_call",
        "input": {"url": "{{ inputs.url }}", "timeout_ms": "{{ inputs.t }}", "headers": "{{ inputs.h }}"}}]});
    assert!(validator.is_valid(&templated));
    let literal =
        serde_json::json!({"name": "t", "steps": [{"id": "a", "skill": "http_call", "input": {"url": "http://x", "timeout_ms": "soon"}}]});
    assert!(!validator.is_valid(&literal));
    // The limits the validator has are in the schema.
    assert_eq!(schema["properties"]["steps"]["maxItems"], aos_core::validate::MAX_STEPS);
    assert_eq!(schema["$defs"]["Step"]["properties"]["condition"]["maxLength"], aos_core::validate::MAX_CONDITION_CHARS);
    assert_eq!(schema["$defs"]["RetryPolicy"]["properties"]["max_attempts"]["maximum"], aos_core::validate::MAX_ATTEMPTS);
    assert_eq!(schema["$defs"]["Step"]["properties"]["timeout_ms"]["maximum"], aos_core::validate::MAX_TIMEOUT_MS);
    assert_eq!(schema["$defs"]["Budget"]["properties"]["max_duration_ms"]["maximum"], aos_core::validate::MAX_DURATION_MS);
    assert_eq!(schema["properties"]["name"]["maxLength"], aos_core::validate::MAX_NAME_CHARS);
    assert_eq!(schema["$defs"]["Step"]["properties"]["id"]["maxLength"], aos_core::validate::MAX_STEP_ID_CHARS);
    assert_eq!(schema["$defs"]["Step"]["properties"]["skill"]["maxLength"], aos_core::validate::MAX_SKILL_CHARS);
    assert_eq!(
        schema["$defs"]["input.json_transform"]["anyOf"][0]["properties"]["expr"]["anyOf"][0]["maxLength"],
        aos_core::validate::MAX_EXPR_CHARS
    );
}

/// What the schema refuses, the server refuses (`aos plan validate` exits 1), and the examples pass both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_server_refuse_the_same_broken_plans() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (what, plan)) in broken_plans().into_iter().enumerate() {
        let path = dir.path().join(format!("broken-{i}.json"));
        std::fs::write(&path, serde_json::to_string(&plan).unwrap()).unwrap();
        files.push((what, path));
    }
    let app = App::detached(app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || {
        let examples: Vec<String> = example_plans().iter().map(|p| p.display().to_string()).collect();
        let mut args = vec!["plan", "validate"];
        args.extend(examples.iter().map(String::as_str));
        let (code, out, err) = aos_at(&app, &args);
        assert_eq!(code, 0, "{out}{err}");
        for (what, path) in files {
            let (code, out, _) = aos_at(&app, &["--json", "plan", "validate", path.to_str().unwrap()]);
            let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}: {out}"));
            assert_eq!((code, &report["valid"]), (1, &Value::Bool(false)), "the server accepts a plan with {what}: {report}");
        }
    })
    .await
    .unwrap();
}

/// A json_transform `expr` that cannot compile is refused at submission with the field's path, in a
/// step and in a fallback, and `simulate` refuses it too (it never calls such a plan feasible); a
/// templated `expr` is left to run time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jq_expr_that_cannot_compile_is_refused_naming_its_field() {
    let app = spawn_app().await;
    let plan = serde_json::json!({"name": "bad-jq", "steps": [
        {"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": ".["}},
        {"id": "b", "skill": "json_transform", "input": {"data": 1, "expr": "."},
         "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": "map(("}}}
    ]});
    for path in ["/api/v1/runs", "/api/v1/simulate"] {
        let (status, body) = app.post(path, serde_json::json!({"plan": plan})).await;
        assert_eq!(status, 422, "{path}: {body}");
        let errors = body["error"]["details"]["errors"].as_array().unwrap_or_else(|| panic!("{path}: {body}"));
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e["code"].as_str().unwrap(), e["field"].as_str().unwrap())).collect();
        assert_eq!(
            found,
            vec![("PLAN_INVALID_EXPR", "steps[0].input.expr"), ("PLAN_INVALID_EXPR", "steps[1].on_error.input.expr")],
            "{body}"
        );
        assert!(errors[0]["message"].as_str().unwrap().contains("does not compile"), "{body}");
    }
    let templated = serde_json::json!({"name": "late-jq", "input_schema": {"type": "object", "properties": {"p": {"type": "string"}}},
        "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "{{ inputs.p }}"}}]});
    let (status, body) = app.post("/api/v1/simulate", serde_json::json!({"plan": templated})).await;
    assert_eq!(status, 200, "{body}");
    // The catalog explains the new code.
    let (status, entry) = app.get("/api/v1/catalog/PLAN_INVALID_EXPR").await;
    assert_eq!(status, 200, "{entry}");
}

/// `$schema` is accepted and dropped: not stored, and the plan with it is the same plan for an
/// idempotency key as the plan without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_key_is_accepted_and_is_not_part_of_the_plan() {
    let app = spawn_app().await;
    let with: Value = serde_json::from_str(&std::fs::read_to_string(repo("examples/hello-transform.json")).unwrap()).unwrap();
    let inputs: Value = serde_json::from_str(&std::fs::read_to_string(repo("examples/hello-transform.inputs.json")).unwrap()).unwrap();
    let mut without = with.clone();
    without.as_object_mut().unwrap().remove("$schema");
    let (s1, first) = app.post("/api/v1/runs", serde_json::json!({"plan": with, "inputs": inputs, "idempotency_key": "schema-key"})).await;
    assert_eq!(s1, 202, "{first}");
    let (s2, second) =
        app.post("/api/v1/runs", serde_json::json!({"plan": without, "inputs": inputs, "idempotency_key": "schema-key"})).await;
    assert!(s2 == 200 || s2 == 202, "{second}");
    assert_eq!(first["run_id"], second["run_id"]);
    let run = app.wait_run(first["run_id"].as_str().unwrap(), std::time::Duration::from_secs(30)).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(run["plan"].get("$schema").is_none(), "{}", run["plan"]);
}

/// `aos init NAME` writes a plan (naming its schema), inputs, the schema and a README; the plan
/// satisfies the schema, passes `aos plan validate` and runs on a real `aos serve`; a second
/// `aos init` over it refuses and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aos_init_writes_a_starter_plan_that_runs_and_never_overwrites() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("orders-digest");
    let app = App::detached(app.base.clone(), app.key.clone());
    tokio::task::spawn_blocking(move || {
        let (code, out, err) = aos_at(&app, &["init", target.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}{err}");
        for f in ["plan.json", "inputs.json", "plan.schema.json", "README.md"] {
            assert!(target.join(f).is_file(), "no {f}: {out}");
        }
        let plan: Value = serde_json::from_str(&std::fs::read_to_string(target.join("plan.json")).unwrap()).unwrap();
        assert_eq!(plan["$schema"], "./plan.schema.json");
        assert_eq!(plan["name"], "orders-digest");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(target.join("plan.schema.json")).unwrap()).unwrap();
        assert_eq!(schema, committed_schema());
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        assert!(validator.is_valid(&plan));

        let plan_file = target.join("plan.json");
        let (code, out, err) = aos_at(&app, &["plan", "validate", plan_file.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}{err}");
        let inputs = std::fs::read_to_string(target.join("inputs.json")).unwrap();
        let (code, out, err) = aos_at(&app, &["--json", "runs", "submit", plan_file.to_str().unwrap(), "--inputs", &inputs, "--wait"]);
        assert_eq!(code, 0, "{out}{err}");
        let run: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(run["status"], "succeeded", "{run}");
        let summary = run["step_details"].as_array().unwrap().iter().find(|s| s["step_id"] == "summary").unwrap();
        assert_eq!(summary["output"]["count"], 2, "{summary}");

        let before = std::fs::read_to_string(&plan_file).unwrap();
        std::fs::write(&plan_file, "{\"edited\": true}").unwrap();
        let (code, _, err) = aos_at(&app, &["init", target.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(err.contains("does not overwrite"), "{err}");
        assert_eq!(std::fs::read_to_string(&plan_file).unwrap(), "{\"edited\": true}");
        assert_ne!(before, "{\"edited\": true}");
    })
    .await
    .unwrap();
}
