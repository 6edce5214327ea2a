//! Unit tests of the jq wrapper: the jq features plans rely on, error messages, numbers and the
//! guards against runaway or impure programs.

use super::*;
use serde_json::json;
use std::time::Instant;

fn one(expr: &str, input: Value) -> Value {
    let out = compile(expr).expect("compiles").run(input).expect("runs");
    assert_eq!(out.len(), 1, "{expr} yielded {out:?}");
    out.into_iter().next().unwrap_or(Value::Null)
}

#[test]
fn field_access() {
    assert_eq!(one(".a.b", json!({"a": {"b": "x"}})), json!("x"));
    assert_eq!(one(".missing", json!({})), Value::Null);
    assert_eq!(one(".[1]", json!([10, 20])), json!(20));
}

#[test]
fn select_over_array() {
    let out =
        compile(".[] | select(.n > 1) | .id").unwrap().run(json!([{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "c", "n": 3}])).unwrap();
    assert_eq!(out, vec![json!("b"), json!("c")]);
}

#[test]
fn map_and_std_library() {
    assert_eq!(one("map(. * 2)", json!([1, 2, 3])), json!([2, 4, 6]));
    assert_eq!(one("to_entries | map(.key)", json!({"x": 1, "y": 2})), json!(["x", "y"]));
    assert_eq!(one("map(tostring)", json!([1, "a"])), json!(["1", "a"]));
    assert_eq!(one("tonumber", json!("42")), json!(42));
    assert_eq!(one("[.[] | ascii_downcase] | join(\",\")", json!(["A", "B"])), json!("a,b"));
    assert_eq!(one("length", json!({"a": 1, "b": 2})), json!(2));
    assert_eq!(one("test(\"^a.c$\")", json!("abc")), json!(true));
}

#[test]
fn string_interpolation() {
    assert_eq!(one(r#""\(.name) has \(.n) items""#, json!({"name": "box", "n": 3})), json!("box has 3 items"));
}

#[test]
fn several_outputs() {
    assert_eq!(
        compile(".a, .b, (.c | .[])").unwrap().run(json!({"a": 1, "b": 2, "c": [3, 4]})).unwrap(),
        vec![json!(1), json!(2), json!(3), json!(4)]
    );
    assert!(compile("empty").unwrap().run(json!(null)).unwrap().is_empty());
}

#[test]
fn compile_error_has_position() {
    let err = compile(".a | map(").unwrap_err();
    assert!(matches!(err, JqError::Compile { position: Some(_), .. }), "{err:?}");
    assert!(err.to_string().contains("line 1"), "{err}");

    let err = compile(".a |\n  nosuchfilter(1)").unwrap_err();
    let JqError::Compile { message, position } = &err else { panic!("{err:?}") };
    assert!(message.contains("nosuchfilter/1"), "{message}");
    assert_eq!(*position, Some(Position { line: 2, column: 3 }));

    assert!(compile("\"unterminated").is_err());
    assert!(compile("(1").is_err());
    assert!(compile("import \"x\" as x; 1").is_err());
}

#[test]
fn runtime_errors() {
    let err = compile("1 + \"a\"").unwrap().run(json!(null)).unwrap_err();
    assert!(matches!(err, JqError::Runtime { .. }), "{err:?}");
    assert!(err.message().contains("cannot"), "{err}");

    let err = compile("error(\"boom\")").unwrap().run(json!(null)).unwrap_err();
    assert_eq!(err.message(), "boom");

    let err = compile("error({code: 7})").unwrap().run(json!(null)).unwrap_err();
    assert!(matches!(&err, JqError::Runtime { value: Some(v), .. } if *v == json!({"code": 7})), "{err:?}");

    let err = compile(".[]").unwrap().run(json!(3)).unwrap_err();
    assert!(matches!(err, JqError::Runtime { .. }));

    let err = compile("halt").unwrap().run(json!(null)).unwrap_err();
    assert!(err.message().contains("halt"), "{err}");

    assert_eq!(one("try error(\"x\") catch .", json!(null)), json!("x"));
}

#[test]
fn numbers_round_trip() {
    assert_eq!(one(".a", json!({"a": 3})).to_string(), "3");
    assert_eq!(one(".a", json!({"a": -3})).to_string(), "-3");
    assert_eq!(one(".a", json!({"a": 1.5})).to_string(), "1.5");
    assert_eq!(one(".a + 1", json!({"a": 3})).to_string(), "4");
    assert_eq!(one(".a / 2", json!({"a": 4})).to_string(), "2");
    assert_eq!(one(".a / 2", json!({"a": 3})).to_string(), "1.5");
    assert_eq!(one(".", json!(u64::MAX)), json!(u64::MAX));
    assert_eq!(one(".", json!(i64::MIN)), json!(i64::MIN));
    assert_eq!(one("0.1 + 0.2", json!(null)), json!(0.1 + 0.2));
    assert_eq!(one("nan", json!(null)), Value::Null);
    assert_eq!(one("{a: 1, b: [2.5, \"s\", null, true]}", json!(null)), json!({"a": 1, "b": [2.5, "s", null, true]}));
}

#[test]
fn object_key_order_is_preserved() {
    assert_eq!(one("{z: 1, a: 2} | keys_unsorted", json!(null)), json!(["z", "a"]));
}

#[test]
fn truthiness() {
    assert!(!truthy(&Value::Null));
    assert!(!truthy(&json!(false)));
    for v in [json!(true), json!(0), json!(""), json!([]), json!({})] {
        assert!(truthy(&v), "{v}");
    }
}

#[test]
fn output_cap() {
    let err = compile("range(1000000)").unwrap().run(json!(null)).unwrap_err();
    assert!(matches!(err, JqError::Limit { .. }), "{err:?}");
    let limits = Limits { max_outputs: 3, deadline: None };
    assert!(compile("range(3)").unwrap().run_with_limits(json!(null), &limits).is_ok());
    assert!(compile("range(4)").unwrap().run_with_limits(json!(null), &limits).is_err());
}

#[test]
fn deadline_stops_endless_streams() {
    let limits = Limits { max_outputs: usize::MAX, deadline: Some(Instant::now()) };
    let err = compile("repeat(1)").unwrap().run_with_limits(json!(null), &limits).unwrap_err();
    assert!(matches!(err, JqError::Limit { .. }), "{err:?}");
}

#[test]
fn deep_output_is_refused() {
    let err = compile("reduce range(2000) as $i (null; [.])").unwrap().run(json!(null)).unwrap_err();
    assert!(matches!(err, JqError::Limit { .. }), "{err:?}");
}

#[test]
fn impure_filters_are_refused() {
    for expr in [
        "env",
        "now",
        "localtime",
        "0 | strflocaltime(\"%Y\")",
        "$ENV",
        "$__loc__",
        "input",
        "inputs",
        "input_filename",
        "debug",
        "debug(\"x\")",
        "stderr",
        "halt_error",
        "\"x\" | halt_error(1)",
    ] {
        let result = compile(expr).and_then(|p| p.run(json!(0)));
        assert!(result.is_err(), "{expr} gave {result:?}");
    }
    assert_eq!(one("0 | todate", json!(null)), json!("1970-01-01T00:00:00Z"));
}

#[test]
fn program_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Program>();
    let program = compile(".x + 1").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = program.clone();
            std::thread::spawn(move || p.run(json!({"x": i})))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap(), vec![json!(i + 1)]);
    }
}

#[test]
fn deep_recursion_survives_a_small_thread_stack() {
    // Async workers have 2 MiB stacks; jaq recursion that deep would abort the process there.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let program = compile("def f: if . > 0 then (. - 1 | f) + 1 else 0 end; f")?;
            program.run(json!(1000))
        })
        .expect("spawn");
    assert_eq!(handle.join().expect("no overflow").expect("runs"), vec![json!(1000)]);
}

#[test]
fn cache_reuses_and_bounds() {
    let cache = ProgramCache::new(2);
    assert!(cache.is_empty());
    cache.get_or_compile(".a").unwrap();
    cache.get_or_compile(".b").unwrap();
    cache.get_or_compile(".a").unwrap();
    cache.get_or_compile(".c").unwrap();
    assert_eq!(cache.len(), 2);
    assert!(cache.get_or_compile(".[").is_err());
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.get_or_compile(".a").unwrap().run(json!({"a": 1})).unwrap(), vec![json!(1)]);
}
