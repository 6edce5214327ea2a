//! json_transform through the Skill trait: output shapes, input validation, jq errors.

use aos_core::outcome::Category;
use aos_core::skill::{Skill, SkillContext};
use aos_skills::JsonTransform;
use serde_json::{json, Value};

async fn run(input: Value) -> Result<Value, aos_core::outcome::StepError> {
    let ctx = SkillContext::new("run1", "step1", 1, 7, 0, 5_000);
    JsonTransform::new().execute(&ctx, input).await.map(|o| o.output)
}

#[tokio::test]
async fn single_result_is_returned_as_is() {
    let out =
        run(json!({"data": {"items": [{"id": 1, "ok": true}, {"id": 2, "ok": false}]}, "expr": ".items | map(select(.ok)) | .[0].id"}))
            .await;
    assert_eq!(out.expect("ok"), json!(1));
}

#[tokio::test]
async fn several_results_become_an_array_and_none_is_null() {
    assert_eq!(run(json!({"data": [1, 2, 3], "expr": ".[] | . * 10"})).await.expect("ok"), json!([10, 20, 30]));
    assert_eq!(run(json!({"data": [1, 2], "expr": ".[] | select(. > 5)"})).await.expect("ok"), Value::Null);
    assert_eq!(run(json!({"data": null, "expr": "\"n=\\(1 + 2)\""})).await.expect("ok"), json!("n=3"));
}

#[tokio::test]
async fn repeated_expressions_use_one_skill_instance() {
    let skill = JsonTransform::new();
    let ctx = SkillContext::new("run1", "step1", 1, 7, 0, 5_000);
    for i in 0..50 {
        let out = skill.execute(&ctx, json!({"data": {"a": i}, "expr": ".a + 1"})).await.expect("ok");
        assert_eq!(out.output, json!(i + 1));
        assert!(out.cost_usd > 0.0);
    }
}

#[tokio::test]
async fn compile_errors_are_validation_failures() {
    let err = run(json!({"data": {}, "expr": ".a | map("})).await.expect_err("bad program");
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("JQ_COMPILE_ERROR", Category::Validation, false));
    assert_eq!(err.details["line"], 1);
    assert!(err.message.contains("line 1"), "{}", err.message);
}

#[tokio::test]
async fn runtime_errors_are_validation_failures() {
    let err = run(json!({"data": {"a": 1}, "expr": ".a + \"x\""})).await.expect_err("type error");
    assert_eq!((err.code.as_str(), err.category, err.retryable), ("JQ_RUNTIME_ERROR", Category::Validation, false));
    let err = run(json!({"data": null, "expr": "error({reason: \"bad\"})"})).await.expect_err("raised");
    assert_eq!(err.details["error_value"], json!({"reason": "bad"}));
    let err = run(json!({"data": null, "expr": "env"})).await.expect_err("impure");
    assert_eq!(err.code, "JQ_RUNTIME_ERROR");
}

#[tokio::test]
async fn runaway_programs_are_stopped() {
    let err = run(json!({"data": null, "expr": "range(1000000000)"})).await.expect_err("too many");
    assert_eq!((err.code.as_str(), err.category), ("JQ_LIMIT_EXCEEDED", Category::Resource));
}

#[tokio::test]
async fn invalid_input_is_rejected() {
    for input in [
        json!({"expr": "."}),
        json!({"data": 1}),
        json!({"data": 1, "expr": 5}),
        json!({"data": 1, "expr": " "}),
        json!({"data": 1, "expr": ".", "x": 1}),
        json!([1]),
    ] {
        let err = run(input.clone()).await.expect_err("invalid");
        assert_eq!(err.code, "SKILL_INPUT_INVALID", "{input}");
    }
}
