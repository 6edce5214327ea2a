//! The jq sandbox end to end: worker processes (this test binary, re-executed: its `#[ctor]`
//! entry comes from aos-jq linked as a library, as in the `aos` binary and the Lambdas), hostile
//! programs stopped with the right limit in bounded time, the pool serving afterwards, fairness
//! between owners, the output caps, refused I/O builtins, and the workers' confinement.

use aos_jq::sandbox::{self, EvalLimits, SandboxConfig};
use aos_jq::{JqError, LimitKind};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Under `cargo test` all tests share one process and one pool: they run one at a time, so that
/// one test's runaway programs (or killed workers) do not skew another's timings. Under nextest
/// each test has its own process and this lock is uncontended.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn limits(secs: f64) -> EvalLimits {
    EvalLimits::new(Duration::from_secs_f64(secs))
}

/// Four workers where the test needs a known pool (each test runs in its own process under
/// nextest; under `cargo test` the first configuration wins and the tests adapt to it).
fn four_workers() -> SandboxConfig {
    sandbox::configure(SandboxConfig { workers: 4, memory_mb: 256 })
}

async fn healthy() {
    let out = sandbox::run("{a: .x + 1}", &json!({"x": 1}), &limits(10.0)).await;
    assert_eq!(out.expect("the pool serves a cheap program"), vec![json!({"a": 2})]);
}

/// `expr` ends in one of `kinds` within its timeout plus a few seconds, and the pool serves the
/// next program.
async fn expect_limit(expr: &str, timeout: f64, kinds: &[LimitKind]) -> JqError {
    let started = Instant::now();
    let err = sandbox::run(expr, &Value::Null, &limits(timeout)).await.expect_err(expr);
    let took = started.elapsed();
    assert!(err.limit_kind().is_some_and(|k| kinds.contains(&k)), "{expr}: {err:?}, expected one of {kinds:?}");
    assert!(took < Duration::from_secs_f64(timeout + 3.0), "{expr} took {took:?}");
    healthy().await;
    err
}

#[tokio::test]
async fn recursion_past_the_stack_is_a_stack_limit() {
    let _serial = SERIAL.lock().await;
    let err = expect_limit("def f($n): if $n == 0 then 0 else f($n - 1) + 1 end; f(1000000)", 20.0, &[LimitKind::Stack]).await;
    assert!(err.message().contains("recursed too deeply"), "{err}");
    // With a closure parameter every level re-evaluates the whole chain of `n - 1`s: quadratic
    // time on the way down. Debug builds overflow the stack first (after about 5 s), release
    // builds (smaller frames) run out of time first. Both stop it.
    expect_limit("def f(n): if n == 0 then 0 else f(n-1) + 1 end; f(1000000)", 3.0, &[LimitKind::Stack, LimitKind::Time]).await;
}

#[tokio::test]
async fn a_value_too_deep_to_drop_is_a_stack_limit() {
    let _serial = SERIAL.lock().await;
    // `length` answers 1, but dropping a million nested arrays recurses a million levels: the
    // worker dies before it replies, never after.
    expect_limit("reduce range(1000000) as $i (0; [.]) | length", 20.0, &[LimitKind::Stack]).await;
}

#[tokio::test]
async fn unbounded_allocation_is_a_memory_limit() {
    let _serial = SERIAL.lock().await;
    // A smaller cap makes this quicker in debug builds (under `cargo test` the first
    // configuration wins, and the default 256 MiB only takes longer).
    sandbox::configure(SandboxConfig { workers: 4, memory_mb: 64 });
    let err = expect_limit("[range(1e9)] | length", 30.0, &[LimitKind::Memory]).await;
    assert!(err.message().contains("out of memory") && err.message().contains("MiB"), "{err}");
    expect_limit("reduce range(40) as $i (\"xx\"; . + .) | length", 30.0, &[LimitKind::Memory]).await;
    expect_limit("[limit(1e8; repeat(1))] | length", 30.0, &[LimitKind::Memory]).await;
}

#[tokio::test]
async fn programs_that_never_yield_are_killed_at_the_deadline() {
    let _serial = SERIAL.lock().await;
    for expr in ["last(range(1e15))", "def f: f; f", "0 | until(false; . + 1)"] {
        let started = Instant::now();
        let err = expect_limit(expr, 1.0, &[LimitKind::Time]).await;
        assert!(started.elapsed() >= Duration::from_secs(1), "{expr} stopped early: {err}");
        assert!(err.message().contains("ran past its time limit of 1000 ms"), "{err}");
    }
}

#[tokio::test]
async fn legitimate_deep_recursion_works() {
    let _serial = SERIAL.lock().await;
    for expr in [
        "def f: if . > 0 then (. - 1 | f) + 1 else 0 end; 1000 | f",
        "def f($n): if $n == 0 then 0 else f($n - 1) + 1 end; f(1000)",
        "reduce range(100) as $i (0; [.]) | [paths] | length",
    ] {
        let out = sandbox::run(expr, &Value::Null, &limits(30.0)).await.expect(expr);
        assert_eq!(out.len(), 1, "{expr}");
        assert!(out[0] == json!(1000) || out[0] == json!(100), "{expr}: {out:?}");
    }
}

#[tokio::test]
async fn one_owner_cannot_starve_another() {
    let _serial = SERIAL.lock().await;
    let config = four_workers();
    let per_owner = config.per_owner();
    assert!(config.workers > per_owner, "{config:?}");
    // Owner A fills every worker it may hold with programs that never finish.
    let runaways: Vec<_> = (0..per_owner)
        .map(|_| tokio::spawn(async { sandbox::run("last(range(1e15))", &Value::Null, &limits(8.0).with_owner("tenant-a")).await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // B's cheap program runs at once, on the workers A may not take.
    let started = Instant::now();
    let out = sandbox::run(".x * 2", &json!({"x": 21}), &limits(5.0).with_owner("tenant-b")).await;
    assert_eq!(out.expect("tenant b is served"), vec![json!(42)]);
    assert!(started.elapsed() < Duration::from_secs(2), "tenant b waited {:?}", started.elapsed());
    let out = sandbox::truthy(".x > 1", &json!({"x": 2}), &limits(5.0)).await;
    assert_eq!(out, Ok(true), "a program without an owner is served");

    // A's next program waits for one of A's own workers and gives up at its deadline: busy, not a limit.
    let started = Instant::now();
    let err = sandbox::run("1", &Value::Null, &limits(0.7).with_owner("tenant-a")).await.expect_err("a is capped");
    assert!(matches!(err, JqError::Busy { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(700), "{:?}", started.elapsed());

    for r in runaways {
        let err = r.await.expect("task").expect_err("runaway");
        assert_eq!(err.limit_kind(), Some(LimitKind::Time), "{err:?}");
    }
    let out = sandbox::run("1", &Value::Null, &limits(5.0).with_owner("tenant-a")).await;
    assert_eq!(out.expect("a is served again"), vec![json!(1)]);
}

#[tokio::test]
async fn a_cancelled_call_frees_its_worker() {
    let _serial = SERIAL.lock().await;
    four_workers();
    let per_owner = sandbox::config().per_owner();
    // Owner A's calls are dropped (as a step's timeout drops the skill's future) while they run.
    for _ in 0..per_owner {
        let long = limits(60.0).with_owner("tenant-a");
        let dropped = tokio::time::timeout(Duration::from_millis(300), sandbox::run("last(range(1e15))", &Value::Null, &long)).await;
        assert!(dropped.is_err(), "the runaway finished?");
    }
    // Their workers are killed within moments, so A gets a worker again well before 60 s.
    let started = Instant::now();
    let out = sandbox::run("1", &Value::Null, &limits(3.0).with_owner("tenant-a")).await;
    assert_eq!(out.expect("a is served"), vec![json!(1)]);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn output_caps() {
    let _serial = SERIAL.lock().await;
    let small = EvalLimits { max_output_bytes: 1000, ..limits(10.0) };
    let err = sandbox::run("[range(1000)]", &Value::Null, &small).await.expect_err("too large");
    assert_eq!(err.limit_kind(), Some(LimitKind::OutputSize), "{err:?}");
    let err = sandbox::run("range(1000) | tostring", &Value::Null, &small).await.expect_err("too large in all");
    assert_eq!(err.limit_kind(), Some(LimitKind::OutputSize), "{err:?}");
    assert_eq!(sandbox::run("[range(100)]", &Value::Null, &small).await.expect("fits").len(), 1);

    // The default cap is 1 MiB: a 3-million-element array is refused in the worker, not shipped.
    let err = sandbox::run("[range(3000000)]", &Value::Null, &limits(30.0)).await.expect_err("over 1 MiB");
    assert!(err.message().contains("larger than 1048576 bytes"), "{err}");
    let out = sandbox::run("\"x\" * 500000", &Value::Null, &limits(10.0)).await.expect("under 1 MiB");
    assert_eq!(out[0].as_str().map(str::len), Some(500000));

    let few = EvalLimits { max_outputs: 3, ..limits(10.0) };
    assert_eq!(sandbox::run("range(3)", &Value::Null, &few).await.expect("3 outputs").len(), 3);
    let err = sandbox::run("range(4)", &Value::Null, &few).await.expect_err("4 outputs");
    assert_eq!(err.limit_kind(), Some(LimitKind::Outputs), "{err:?}");
    let err = sandbox::run("range(1e9)", &Value::Null, &limits(30.0)).await.expect_err("a billion outputs");
    assert_eq!(err.limit_kind(), Some(LimitKind::Outputs), "{err:?}");

    // serde_json parses 127 nested levels and no more: deeper outputs are refused in the worker.
    let out = sandbox::run("reduce range(127) as $i (0; [.])", &Value::Null, &limits(10.0)).await.expect("127 levels");
    assert_eq!(out.len(), 1);
    let err = sandbox::run("reduce range(128) as $i (0; [.])", &Value::Null, &limits(10.0)).await.expect_err("128 levels");
    assert_eq!(err.limit_kind(), Some(LimitKind::Depth), "{err:?}");

    // A raised value too large for the reply is dropped; the message stays.
    let err = sandbox::run("error([range(100000)])", &Value::Null, &limits(10.0)).await.expect_err("raised");
    assert!(matches!(err, JqError::Runtime { value: None, .. }), "{err:?}");

    let huge = Value::String("x".repeat(65 << 20));
    let err = sandbox::run("length", &huge, &limits(10.0)).await.expect_err("input too large");
    assert_eq!(err.limit_kind(), Some(LimitKind::InputSize), "{err:?}");
    healthy().await;
}

#[tokio::test]
async fn builtins_that_reach_the_process_are_refused() {
    let _serial = SERIAL.lock().await;
    for expr in [
        "input",
        "inputs",
        "[inputs]",
        "debug",
        "debug(\"x\")",
        "\"x\" | stderr",
        "\"x\" | halt_error",
        "\"x\" | halt_error(1)",
        "env",
        "env.PATH",
        "$ENV",
        "$ENV.PATH",
        "now",
        "0 | localtime",
        "0 | strflocaltime(\"%Y\")",
        "input_filename",
        "$__loc__",
        "input_line_number",
        "import \"../../etc/passwd\" as $p; $p",
        "include \"/etc/passwd\"; .",
    ] {
        let err = sandbox::run(expr, &json!({"a": 1}), &limits(10.0)).await.expect_err(expr);
        assert!(matches!(err, JqError::Compile { .. } | JqError::Runtime { .. }), "{expr}: {err:?}");
    }
    let err = sandbox::run("halt", &Value::Null, &limits(10.0)).await.expect_err("halt");
    assert!(err.message().contains("halt"), "{err}");
    // The worker read no frame of its protocol as a jq input and is still in step.
    healthy().await;
    assert_eq!(sandbox::run(".a", &json!({"a": [1]}), &limits(10.0)).await, Ok(vec![json!([1])]));
}

#[tokio::test]
async fn errors_round_trip() {
    let _serial = SERIAL.lock().await;
    let err = sandbox::run(".a |\n  nosuchfilter(1)", &Value::Null, &limits(10.0)).await.expect_err("compile");
    let JqError::Compile { message, position } = &err else { panic!("{err:?}") };
    assert!(message.contains("nosuchfilter/1"), "{message}");
    assert_eq!(position.map(|p| (p.line, p.column)), Some((2, 3)));

    let err = sandbox::run("error({code: 7})", &Value::Null, &limits(10.0)).await.expect_err("raised");
    assert!(matches!(&err, JqError::Runtime { value: Some(v), .. } if *v == json!({"code": 7})), "{err:?}");
    let err = sandbox::run("error(\"boom\")", &Value::Null, &limits(10.0)).await.expect_err("raised");
    assert_eq!(err, JqError::Runtime { message: "boom".into(), value: None });
    let err = sandbox::run("1 + \"a\"", &Value::Null, &limits(10.0)).await.expect_err("type error");
    assert!(matches!(err, JqError::Runtime { .. }), "{err:?}");

    let out = sandbox::run(".[] | .n", &json!([{"n": 1.5}, {"n": u64::MAX}, {"n": "s"}, {"n": null}]), &limits(10.0)).await;
    assert_eq!(out, Ok(vec![json!(1.5), json!(u64::MAX), json!("s"), Value::Null]));
    let out = sandbox::run("{z: 1, a: 2} | keys_unsorted, (4 / 2)", &Value::Null, &limits(10.0)).await;
    assert_eq!(out, Ok(vec![json!(["z", "a"]), json!(2)]));
    assert_eq!(sandbox::run("empty", &Value::Null, &limits(10.0)).await, Ok(vec![]));

    // Extreme timeouts: none left is a time limit at once; an unrepresentable one still works.
    let err = sandbox::run("1", &Value::Null, &EvalLimits::new(Duration::ZERO)).await.expect_err("no time");
    assert_eq!(err.limit_kind(), Some(LimitKind::Time), "{err:?}");
    assert_eq!(sandbox::run("1", &Value::Null, &EvalLimits::new(Duration::MAX)).await, Ok(vec![json!(1)]));
}

#[tokio::test]
async fn truthy_sends_back_one_bit() {
    let _serial = SERIAL.lock().await;
    let t = |expr: &'static str, input: Value| async move { sandbox::truthy(expr, &input, &limits(10.0)).await };
    assert_eq!(t(".a > 1", json!({"a": 2})).await, Ok(true));
    assert_eq!(t(".a > 1", json!({"a": 0})).await, Ok(false));
    assert_eq!(t(".missing", json!({})).await, Ok(false));
    assert_eq!(t("empty", json!({})).await, Ok(false));
    assert_eq!(t("0, error(\"never reached\")", json!({})).await, Ok(true));
    // The first output is far over the output cap, but only whether it is truthy comes back.
    assert_eq!(t("[range(3000000)]", Value::Null).await, Ok(true));
    let err = t("error(\"x\")", Value::Null).await.expect_err("raised");
    assert_eq!(err.message(), "x");
    let err = sandbox::truthy("last(range(1e15)) > 0", &Value::Null, &limits(1.0)).await.expect_err("endless");
    assert_eq!(err.limit_kind(), Some(LimitKind::Time), "{err:?}");
    let err = sandbox::truthy("(range(1e15) | select(. < 0)), true", &Value::Null, &limits(1.0)).await.expect_err("no output");
    assert_eq!(err.limit_kind(), Some(LimitKind::Time), "{err:?}");
}

#[tokio::test]
async fn check_compiles_a_batch_and_blames_the_program_that_kills_its_worker() {
    let _serial = SERIAL.lock().await;
    assert!(sandbox::check(&[]).await.is_empty());
    let deep = format!("{}1{}", "(".repeat(1_000_000), ")".repeat(1_000_000));
    let exprs: Vec<String> = vec![".a".into(), deep, ".[".into(), "map(.x) | length > 0".into(), "env".into()];
    let started = Instant::now();
    let results = sandbox::check(&exprs).await;
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1].as_ref().err().and_then(JqError::limit_kind), Some(LimitKind::Stack), "{:?}", results[1]);
    assert!(matches!(results[2], Err(JqError::Compile { position: Some(_), .. })), "{:?}", results[2]);
    assert_eq!(results[3], Ok(()));
    assert_eq!(results[4], Ok(()), "refused builtins compile; they fail when run");
    assert!(started.elapsed() < sandbox::CHECK_TIMEOUT, "{:?}", started.elapsed());

    let many: Vec<String> = (0..200).map(|i| format!(".steps.s{i}.output.ok == true")).collect();
    let started = Instant::now();
    assert!(sandbox::check(&many).await.iter().all(Result::is_ok));
    eprintln!("200 conditions checked in {:?}", started.elapsed());
}

/// The hostile programs of `tests/hostile/cases_jq.py`: each ends in a limit (or an error, for the
/// ones that are refused) within its timeout plus a few seconds.
#[tokio::test]
async fn hostile_programs_end_in_limits() {
    let _serial = SERIAL.lock().await;
    const LIMIT: &str = "limit";
    const ERROR: &str = "error";
    const OK: &str = "ok";
    let cases: &[(&str, &[&str])] = &[
        ("def f(n): if n == 0 then 0 else f(n-1) + 1 end; f(1000000)", &[LIMIT]),
        ("reduce range(1000000) as $i (0; [.]) | length", &[LIMIT]),
        ("[range(1e9)] | length", &[LIMIT]),
        ("last(range(1e15))", &[LIMIT]),
        ("def f: f; f", &[LIMIT]),
        ("def f: [f]; f", &[LIMIT]),
        ("def f(x): f([x]); f(0)", &[LIMIT]),
        ("def f: def g: f; g; f", &[LIMIT]),
        ("0 | recurse(. + 1) | select(. < 0)", &[LIMIT]),
        ("0 | until(false; . + 1)", &[LIMIT]),
        ("last(range(0; 1; 0))", &[LIMIT]),
        ("[0 | while(true; . + 1)] | length", &[LIMIT]),
        // jaq refuses to repeat a string that often.
        ("\"x\" * 1e9 | length", &[LIMIT, ERROR]),
        ("reduce range(40) as $i (\"xx\"; . + .) | length", &[LIMIT]),
        ("([range(100000)] | tostring) * 100000 | length", &[LIMIT]),
        ("[limit(1e8; repeat(1))] | length", &[LIMIT]),
        ("[[range(1000)], [range(1000)], [range(1000)]] | [combinations] | length", &[LIMIT]),
        ("null | setpath([1e9]; 1) | length", &[LIMIT, ERROR]),
        ("[] | .[1e9] = 1 | length", &[LIMIT, ERROR]),
        ("reduce range(100000) as $i (0; [.]) | tojson | length", &[LIMIT]),
        ("(\"[\" * 100000) + (\"]\" * 100000) | fromjson | length", &[LIMIT, ERROR]),
        ("range(1e9)", &[LIMIT]),
        ("(\"a\" * 1000000) | indices(\"a\" * 1000) | length", &[LIMIT, OK]),
        ("\"a\" | test(\"((a{100}){100}){100}\")", &[LIMIT, ERROR]),
        ("[55296, 1114112, -1] | implode", &[ERROR]),
    ];
    let workers = sandbox::config().workers;
    let started = Instant::now();
    for chunk in cases.chunks(workers) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|(expr, accepted)| {
                tokio::spawn(async move {
                    let t = Instant::now();
                    let result = sandbox::run(expr, &Value::Null, &limits(2.0)).await;
                    let outcome = match &result {
                        Ok(_) => OK,
                        Err(JqError::Limit { .. }) => LIMIT,
                        Err(JqError::Busy { .. }) => "busy",
                        Err(_) => ERROR,
                    };
                    let took = t.elapsed();
                    assert!(accepted.contains(&outcome), "{expr}: {result:?}");
                    assert!(took < Duration::from_secs(5), "{expr} took {took:?}");
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("case passes");
        }
    }
    eprintln!("{} hostile programs in {:?}", cases.len(), started.elapsed());
    healthy().await;
}

fn worker_pids() -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The command name is in parentheses and may hold spaces: fields after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(me) && cmdline.starts_with(b"aos-jq-worker") {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test]
async fn a_killed_worker_is_replaced() {
    let _serial = SERIAL.lock().await;
    healthy().await;
    let pids = worker_pids();
    assert!(!pids.is_empty(), "no worker process found");
    for pid in &pids {
        unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(100));
    // The idle worker died outside any request: the next request gets a fresh one, not an error.
    healthy().await;
    let now = worker_pids();
    assert!(!now.is_empty() && now.iter().all(|p| !pids.contains(p)), "before {pids:?}, after {now:?}");
}

#[tokio::test]
async fn workers_are_confined() {
    let _serial = SERIAL.lock().await;
    let config = sandbox::config();
    healthy().await;
    let pid = *worker_pids().first().expect("a worker");

    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let names: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| String::from_utf8_lossy(kv.split(|b| *b == b'=').next().unwrap_or_default()).into_owned())
        .collect();
    for name in &names {
        assert!(
            ["AOS_JQ_WORKER", "AOS_JQ_PARENT_PID", "AOS_JQ_MEMORY_MB", "LD_LIBRARY_PATH", "MIMALLOC_ARENA_RESERVE"]
                .contains(&name.as_str()),
            "the worker's environment has {name}: {names:?}"
        );
    }

    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let row = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {limits}"));
        line[name.len()..].split_whitespace().map(str::to_string).collect()
    };
    let data = (config.memory_mb << 20) + (64 << 20) + (32 << 20);
    assert_eq!(row("Max data size")[..2], [data.to_string(), data.to_string()]);
    assert_eq!(row("Max file size")[..2], ["0", "0"]);
    assert_eq!(row("Max core file size")[..2], ["0", "0"]);
    assert_eq!(row("Max open files")[..2], ["16", "16"]);

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.lines().any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')), "{status}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect(")") + 2..];
    // Field 19 of stat is the nice value; `rest` starts at field 3.
    assert_eq!(rest.split_whitespace().nth(16), Some("10"), "{stat}");
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2], "only the protocol's pipes and stderr are open");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    assert_eq!(cwd, std::path::Path::new("/"));
}
