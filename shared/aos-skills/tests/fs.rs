//! fs over both backends — a cap-std directory and S3 (moto at `AOS_TEST_MOTO_URL`, required, never
//! skipped): one suite of operations, limits and quota with the same answers from both, and the
//! escape test: every path of `tests/corpus/fs_hostile_paths.json` (and generated ones) with every
//! operation, after which nothing outside the tenant's sandbox was created, changed or read.

use aos_core::outcome::StepError;
use aos_core::ports::{Secrets, Store, StoreError};
use aos_core::skill::{Skill, SkillContext, TenantScope};
use aos_skills::fs::backend::Backend;
use aos_skills::{Fs, SkillsConfig};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

struct NoSecrets;

#[async_trait::async_trait]
impl Secrets for NoSecrets {
    async fn get(&self, _: &str, _: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    async fn put(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn names(&self, _: &str) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

const OUTSIDE: &str = "OUTSIDE-SENTINEL-7d1f";
const OTHER: &str = "OTHER-TENANT-SENTINEL-93ab";

struct Harness {
    skill: Fs,
    store: Arc<dyn Store>,
    _db: tempfile::TempDir,
    step: std::sync::atomic::AtomicU64,
}

impl Harness {
    fn new(config: &SkillsConfig, backend: Arc<dyn Backend>) -> Self {
        let db = tempfile::tempdir().expect("temp dir");
        let store = aos_store::EmbeddedStore::new(
            aos_store::EmbeddedDb::open(&db.path().join("aos.db"), aos_store::Durability::Relaxed).expect("db"),
        );
        Self { skill: Fs::with_backend(config, Ok(backend)), store: Arc::new(store), _db: db, step: 0.into() }
    }

    async fn call_as(&self, tenant: &str, step: &str, input: Value) -> Result<Value, StepError> {
        let scope = Arc::new(TenantScope::new(tenant, "fs", self.store.clone(), Arc::new(NoSecrets)));
        let ctx = SkillContext::new("run-1", step, 1, 1, 0, 30_000).with_scope(scope);
        // A FIFO or a device must never hang the worker.
        tokio::time::timeout(Duration::from_secs(10), self.skill.execute(&ctx, input))
            .await
            .unwrap_or_else(|_| panic!("fs did not answer within 10 s"))
            .map(|o| o.output)
    }

    /// Each call is its own step (writes are applied once per step).
    async fn call(&self, input: Value) -> Result<Value, StepError> {
        let n = self.step.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.call_as("acme", &format!("s{n}"), input).await
    }

    async fn code(&self, input: Value) -> String {
        match self.call(input).await {
            Ok(v) => format!("ok {v}"),
            Err(e) => e.code,
        }
    }
}

fn small_config() -> SkillsConfig {
    SkillsConfig { fs_max_file_bytes: 1000, fs_quota_bytes: 2500, fs_max_entries: 20, ..SkillsConfig::default() }
}

// ---- the backends ----------------------------------------------------------------------------

struct LocalWorld {
    top: tempfile::TempDir,
}

impl LocalWorld {
    /// `<top>/outside.txt`, `<top>/files/other/secret.txt`, and in acme's sandbox symlinks out, in
    /// and to another tenant, a FIFO and a link to /dev/null.
    fn new() -> Self {
        let top = tempfile::tempdir().expect("temp dir");
        let t = top.path();
        std::fs::write(t.join("outside.txt"), OUTSIDE).unwrap();
        std::fs::create_dir_all(t.join("files/other")).unwrap();
        std::fs::write(t.join("files/other/secret.txt"), OTHER).unwrap();
        let acme = t.join("files/acme");
        std::fs::create_dir_all(acme.join("sub")).unwrap();
        std::fs::write(acme.join("sub/inner.txt"), "inner").unwrap();
        std::os::unix::fs::symlink(t, acme.join("link_out")).unwrap();
        std::os::unix::fs::symlink("../../", acme.join("link_rel")).unwrap();
        std::os::unix::fs::symlink("../other", acme.join("link_other")).unwrap();
        std::os::unix::fs::symlink("sub", acme.join("link_in")).unwrap();
        std::os::unix::fs::symlink("/etc", acme.join("link_abs_etc")).unwrap();
        std::os::unix::fs::symlink("/dev/null", acme.join("devnull")).unwrap();
        let fifo = std::ffi::CString::new(acme.join("fifo").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
        Self { top }
    }

    fn root(&self) -> PathBuf {
        self.top.path().join("files")
    }

    /// Every path under the top directory (symlinks not followed), with a file's content.
    fn snapshot(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut out = BTreeMap::new();
        let mut pending = vec![self.top.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let ft = e.file_type().unwrap();
                let rel = e.path().strip_prefix(self.top.path()).unwrap().to_path_buf();
                if ft.is_dir() {
                    pending.push(e.path());
                    out.insert(rel, None);
                } else if ft.is_file() {
                    out.insert(rel, Some(std::fs::read(e.path()).unwrap()));
                } else {
                    out.insert(rel, None);
                }
            }
        }
        out
    }
}

fn moto_vars() -> Vec<(&'static str, String)> {
    let endpoint = std::env::var("AOS_TEST_MOTO_URL")
        .unwrap_or_else(|_| panic!("AOS_TEST_MOTO_URL is not set: fs's S3 tests need moto (`bash tests/stack/moto.sh start 5599`)"));
    vec![
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_ENDPOINT_URL", endpoint),
    ]
}

async fn s3_client() -> aws_sdk_s3::Client {
    let vars = moto_vars();
    let sdk = aos_aws::sdk_config_from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).expect("SDK config");
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
}

/// A fresh bucket with objects outside acme's prefix: the bucket's root, another tenant, and keys
/// that share acme's prefix as a string (`t/acmex/`, `t/acme.txt`).
async fn s3_world() -> (aws_sdk_s3::Client, String) {
    let client = s3_client().await;
    let bucket = format!("aos-fs-{}", uuid::Uuid::new_v4().simple());
    client.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    for (key, body) in [("outside.txt", OUTSIDE), ("t/other/secret.txt", OTHER), ("t/acmex/y", OTHER), ("t/acme.txt", OTHER)] {
        client.put_object().bucket(&bucket).key(key).body(body.as_bytes().to_vec().into()).send().await.expect("put");
    }
    (client, bucket)
}

async fn s3_snapshot(client: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let mut req = client.list_objects_v2().bucket(bucket);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let page = req.send().await.expect("list");
        for o in page.contents() {
            let key = o.key().unwrap().to_string();
            let body = client.get_object().bucket(bucket).key(&key).send().await.expect("get").body.collect().await.unwrap().into_bytes();
            out.insert(key, body.to_vec());
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
            _ => return out,
        }
    }
}

// ---- one suite, both backends ----------------------------------------------------------------

async fn suite(h: &Harness, backend: &str) {
    let ctx = |what: &str| format!("{backend}: {what}");
    let w = h.call(json!({"op": "write", "path": "reports/2026/btc.txt", "content": "price 64000\n"})).await.expect("write");
    assert_eq!(w, json!({"path": "reports/2026/btc.txt", "size": 12, "created": true}), "{}", ctx("write"));
    let r = h.call(json!({"op": "read", "path": "./reports//2026/btc.txt"})).await.expect("read");
    assert_eq!((r["content"].as_str(), r["size"].as_u64(), r["encoding"].as_str()), (Some("price 64000\n"), Some(12), Some("utf8")));
    let a = h.call(json!({"op": "append", "path": "reports/2026/btc.txt", "content": "price 65000\n"})).await.expect("append");
    assert_eq!(a["size"], 24, "{}", ctx("append"));
    assert_eq!(h.call(json!({"op": "read", "path": "reports/2026/btc.txt"})).await.unwrap()["content"], "price 64000\nprice 65000\n");
    // Binary content in base64; reading it as text is refused with a hint.
    h.call(json!({"op": "write", "path": "bin/blob", "content": "AAEC/w==", "encoding": "base64"})).await.expect("binary");
    assert_eq!(h.call(json!({"op": "read", "path": "bin/blob", "encoding": "base64"})).await.unwrap()["content"], "AAEC/w==");
    assert_eq!(h.code(json!({"op": "read", "path": "bin/blob"})).await, "FS_CONTENT_INVALID", "{}", ctx("binary as text"));
    assert_eq!(h.code(json!({"op": "write", "path": "x", "content": "not base64!", "encoding": "base64"})).await, "FS_CONTENT_INVALID");
    // stat, mkdir, if_absent.
    let s = h.call(json!({"op": "stat", "path": "reports/2026"})).await.unwrap();
    assert_eq!((s["exists"].as_bool(), s["type"].as_str()), (Some(true), Some("dir")), "{}", ctx("stat dir"));
    let s = h.call(json!({"op": "stat", "path": "nope.txt"})).await.unwrap();
    assert_eq!(s["exists"], false);
    assert_eq!(h.call(json!({"op": "mkdir", "path": "empty/dir"})).await.unwrap()["created"], true);
    assert_eq!(h.call(json!({"op": "mkdir", "path": "empty/dir"})).await.unwrap()["created"], false);
    assert_eq!(
        h.code(json!({"op": "write", "path": "reports/2026/btc.txt", "content": "x", "if_absent": true})).await,
        "FS_ALREADY_EXISTS"
    );
    assert_eq!(h.code(json!({"op": "write", "path": "reports/2026", "content": "x"})).await, "FS_IS_A_DIRECTORY", "{}", ctx("write a dir"));
    assert_eq!(h.code(json!({"op": "read", "path": "reports"})).await, "FS_IS_A_DIRECTORY");
    assert_eq!(
        h.code(json!({"op": "write", "path": "bin/blob/child", "content": "x"})).await,
        "FS_NOT_A_DIRECTORY",
        "{}",
        ctx("file as dir")
    );
    assert_eq!(h.code(json!({"op": "mkdir", "path": "bin/blob"})).await, "FS_NOT_A_DIRECTORY");
    assert_eq!(h.code(json!({"op": "read", "path": "missing.txt"})).await, "FS_NOT_FOUND");
    assert_eq!(h.code(json!({"op": "list", "path": "missing"})).await, "FS_NOT_FOUND");
    // list, paged.
    for i in 0..5 {
        h.call(json!({"op": "write", "path": format!("page/f{i}.txt"), "content": "x"})).await.unwrap();
    }
    h.call(json!({"op": "mkdir", "path": "page/d"})).await.unwrap();
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut input = json!({"op": "list", "path": "page", "limit": 2});
        if let Some(c) = &cursor {
            input["cursor"] = json!(c);
        }
        let page = h.call(input).await.expect("list");
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        names.extend(entries.iter().map(|e| format!("{}:{}", e["name"].as_str().unwrap(), e["type"].as_str().unwrap())));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["d:dir", "f0.txt:file", "f1.txt:file", "f2.txt:file", "f3.txt:file", "f4.txt:file"], "{}", ctx("pages"));
    // delete: a file, an empty directory; not a directory with entries.
    assert_eq!(h.code(json!({"op": "delete", "path": "page"})).await, "FS_DIR_NOT_EMPTY", "{}", ctx("delete non-empty"));
    assert_eq!(h.call(json!({"op": "delete", "path": "page/f0.txt"})).await.unwrap()["deleted"], true);
    assert_eq!(h.call(json!({"op": "delete", "path": "page/f0.txt"})).await.unwrap()["deleted"], false);
    assert_eq!(h.call(json!({"op": "delete", "path": "empty/dir"})).await.unwrap()["deleted"], true);
    // Limits: one file, the tenant's bytes, its entries.
    assert_eq!(h.code(json!({"op": "write", "path": "big", "content": "x".repeat(1001)})).await, "FS_FILE_TOO_LARGE");
    h.call(json!({"op": "write", "path": "q/a", "content": "x".repeat(1000)})).await.expect("at the file limit");
    h.call(json!({"op": "write", "path": "q/b", "content": "x".repeat(1000)})).await.expect("under the quota");
    let e = h.call(json!({"op": "write", "path": "q/c", "content": "x".repeat(1000)})).await.expect_err("over the quota");
    assert_eq!((e.code.as_str(), e.details["quota_bytes"].as_u64()), ("FS_QUOTA_EXCEEDED", Some(2500)), "{}", ctx("quota"));
    assert_eq!(h.code(json!({"op": "append", "path": "q/a", "content": "y"})).await, "FS_FILE_TOO_LARGE");
    // Overwriting a file counts its new size, not both.
    h.call(json!({"op": "write", "path": "q/b", "content": "small"})).await.expect("overwrite frees room");
    h.call(json!({"op": "delete", "path": "q/a"})).await.unwrap();
    let mut refused = None;
    for i in 0..30 {
        if let Err(e) = h.call(json!({"op": "write", "path": format!("n/{i}"), "content": ""})).await {
            refused = Some((i, e.code));
            break;
        }
    }
    assert!(matches!(refused, Some((_, ref c)) if c == "FS_QUOTA_EXCEEDED"), "{}: entries quota: {refused:?}", ctx("entries"));
    // Input rules.
    for input in [
        json!({"op": "read"}),
        json!({"op": "read", "path": "a", "content": "x"}),
        json!({"op": "write", "path": "a"}),
        json!({"op": "list", "limit": 0}),
        json!({"op": "stat", "path": "a", "cursor": "b"}),
        json!({"op": "chmod", "path": "a"}),
        json!({"op": "read", "path": "a", "follow": true}),
    ] {
        let code = h.code(input.clone()).await;
        assert!(code == "SKILL_INPUT_INVALID" || code == "FS_PATH_INVALID", "{input}: {code}");
    }
    // Tenants do not see each other's files.
    let other = h.call_as("globex", "g1", json!({"op": "read", "path": "reports/2026/btc.txt"})).await.expect_err("other tenant");
    assert_eq!(other.code, "FS_NOT_FOUND", "{}", ctx("tenant isolation"));
}

/// A write applied once per step: a redelivery or a retry returns the first result.
async fn once(h: &Harness) {
    let input = json!({"op": "append", "path": "once.log", "content": "line\n"});
    let first = h.call_as("acme", "append-step", input.clone()).await.unwrap();
    let again = h.call_as("acme", "append-step", input.clone()).await.unwrap();
    assert_eq!(first, again);
    let read = h.call(json!({"op": "read", "path": "once.log"})).await.unwrap();
    assert_eq!(read["content"], "line\n", "the step appended twice");
}

#[tokio::test]
async fn local_backend() {
    let world = LocalWorld::new();
    let h = Harness::new(&small_config(), Arc::new(aos_skills::fs::local::LocalFs::new(world.root())));
    // The planted entries are listed as what they are and counted in the quota; remove them first.
    let listed = h.call(json!({"op": "list"})).await.unwrap();
    let kinds: BTreeMap<String, String> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["type"].as_str().unwrap().into()))
        .collect();
    assert_eq!(kinds["link_out"], "other");
    assert_eq!(kinds["fifo"], "other");
    assert_eq!(kinds["sub"], "dir");
    let acme = world.root().join("acme");
    for name in ["link_out", "link_rel", "link_other", "link_in", "link_abs_etc", "devnull", "fifo", "sub/inner.txt", "sub"] {
        let p = acme.join(name);
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    once(&h).await;
    suite(&h, "local").await;
}

#[tokio::test]
async fn s3_backend() {
    let (client, bucket) = s3_world().await;
    let h = Harness::new(&small_config(), Arc::new(aos_skills::fs::s3::S3Fs::with_client(&bucket, client.clone())));
    once(&h).await;
    suite(&h, "s3").await;
    let keys = s3_snapshot(&client, &bucket).await;
    assert!(keys.contains_key("t/acme/reports/2026/btc.txt"), "files are under t/<tenant>/: {:?}", keys.keys());
}

#[tokio::test]
async fn symlinks_and_devices_are_refused_locally() {
    let world = LocalWorld::new();
    let h = Harness::new(&SkillsConfig::default(), Arc::new(aos_skills::fs::local::LocalFs::new(world.root())));
    for (path, code) in [
        ("link_out/outside.txt", "FS_SYMLINK_REFUSED"),
        ("link_rel/outside.txt", "FS_SYMLINK_REFUSED"),
        ("link_other/secret.txt", "FS_SYMLINK_REFUSED"),
        ("link_abs_etc/passwd", "FS_SYMLINK_REFUSED"),
        ("link_in/inner.txt", "FS_SYMLINK_REFUSED"),
        ("devnull", "FS_SYMLINK_REFUSED"),
        ("fifo", "FS_NOT_A_FILE"),
    ] {
        for input in [
            json!({"op": "read", "path": path}),
            json!({"op": "write", "path": path, "content": "x"}),
            json!({"op": "append", "path": path, "content": "x"}),
            json!({"op": "stat", "path": path}),
            json!({"op": "delete", "path": path}),
        ] {
            assert_eq!(h.code(input.clone()).await, code, "{input}");
        }
    }
    assert_eq!(std::fs::read_to_string(world.top.path().join("outside.txt")).unwrap(), OUTSIDE);
    assert_eq!(h.call(json!({"op": "read", "path": "sub/inner.txt"})).await.unwrap()["content"], "inner");
}

// ---- the escape test ---------------------------------------------------------------------------

fn corpus() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/fs_hostile_paths.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the corpus")).expect("JSON");
    doc["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()
}

/// Every operation on `path`; every successful read's content is returned for the leak check.
async fn attack(h: &Harness, path: &str, tally: &mut BTreeMap<String, usize>) -> Vec<String> {
    let mut read = Vec::new();
    for input in [
        json!({"op": "write", "path": path, "content": "HOSTILE"}),
        json!({"op": "append", "path": path, "content": "HOSTILE"}),
        json!({"op": "mkdir", "path": path}),
        json!({"op": "read", "path": path}),
        json!({"op": "read", "path": path, "encoding": "base64"}),
        json!({"op": "stat", "path": path}),
        json!({"op": "list", "path": path}),
        json!({"op": "delete", "path": path}),
    ] {
        match h.call(input).await {
            Ok(out) => {
                *tally.entry("ok".into()).or_default() += 1;
                read.push(out.to_string());
            }
            Err(e) => {
                *tally.entry(e.code.clone()).or_default() += 1;
                read.push(format!("{} {}", e.message, e.details));
            }
        }
    }
    read
}

fn assert_no_leak(texts: &[String], path: &str) {
    for t in texts {
        for needle in [OUTSIDE, OTHER, "root:x:0:0", "T1VUU0lERS1TRU5U", "T1RIRVItVEVOQU5U"] {
            assert!(!t.contains(needle), "{path:?}: an answer carries data from outside the sandbox: {t}");
        }
    }
}

#[tokio::test]
async fn no_hostile_path_escapes_the_local_sandbox() {
    let paths = corpus();
    assert!(paths.len() >= 200, "the corpus has {} paths", paths.len());
    let world = LocalWorld::new();
    let before = world.snapshot();
    let h = Harness::new(&SkillsConfig::default(), Arc::new(aos_skills::fs::local::LocalFs::new(world.root())));
    let mut tally = BTreeMap::new();
    for p in &paths {
        let texts = attack(&h, p, &mut tally).await;
        assert_no_leak(&texts, p);
    }
    let after = world.snapshot();
    for (path, content) in &before {
        if !path.starts_with("files/acme") {
            assert_eq!(after.get(path), Some(content), "{} outside the sandbox changed or disappeared", path.display());
        }
    }
    for path in after.keys() {
        assert!(before.contains_key(path) || path.starts_with("files/acme/"), "{} was created outside acme's sandbox", path.display());
        // Nothing made inside has a name the path rules refuse.
        if let Ok(rel) = path.strip_prefix("files/acme") {
            let name = rel.to_string_lossy();
            assert!(aos_skills::fs::path::parse(&name).is_ok(), "a refused name was created: {name:?}");
        }
    }
    eprintln!("local: {} paths x 8 operations: {tally:?}", paths.len());
}

#[tokio::test]
async fn no_hostile_path_escapes_the_s3_prefix() {
    let paths = corpus();
    let (client, bucket) = s3_world().await;
    let before = s3_snapshot(&client, &bucket).await;
    let h = Harness::new(&SkillsConfig::default(), Arc::new(aos_skills::fs::s3::S3Fs::with_client(&bucket, client.clone())));
    let mut tally = BTreeMap::new();
    for p in &paths {
        let texts = attack(&h, p, &mut tally).await;
        assert_no_leak(&texts, p);
    }
    let after = s3_snapshot(&client, &bucket).await;
    for (key, body) in &before {
        assert_eq!(after.get(key), Some(body), "{key} outside the tenant's prefix changed or disappeared");
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        let rel = key.strip_prefix("t/acme/").unwrap_or_else(|| panic!("{key} was written outside t/acme/"));
        assert!(
            aos_skills::fs::path::parse(rel).is_ok() && !rel.contains("//") && !rel.starts_with('/'),
            "a refused key was written: {key:?}"
        );
    }
    eprintln!("s3: {} paths x 8 operations: {tally:?}", paths.len());
}

/// Generated paths: components from an alphabet of traversal pieces and odd characters. The
/// invariant, for both backends: a path is refused, or everything it touched is in the sandbox.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        Just("a".to_string()),
        Just("outside.txt".to_string()),
        Just("other".to_string()),
        Just("link_out".to_string()),
        "[a-z.\\\\%~:\\x00-\\x1f\\u{202e}\\u{ff0e} ]{1,6}",
    ]
}

fn generated() -> impl Strategy<Value = String> {
    (any::<bool>(), proptest::collection::vec(component(), 1..8)).prop_map(|(absolute, parts)| {
        let joined = parts.join("/");
        if absolute {
            format!("/{joined}")
        } else {
            joined
        }
    })
}

#[test]
fn generated_paths_never_escape_either_backend() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let world = LocalWorld::new();
    let before = world.snapshot();
    let local = Harness::new(&SkillsConfig::default(), Arc::new(aos_skills::fs::local::LocalFs::new(world.root())));
    let (client, bucket) = rt.block_on(s3_world());
    let s3_before = rt.block_on(s3_snapshot(&client, &bucket));
    let s3 = Harness::new(&SkillsConfig::default(), Arc::new(aos_skills::fs::s3::S3Fs::with_client(&bucket, client.clone())));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 96, ..ProptestConfig::default() });
    runner
        .run(&generated(), |path| {
            let mut tally = BTreeMap::new();
            for h in [&local, &s3] {
                let texts = rt.block_on(attack(h, &path, &mut tally));
                assert_no_leak(&texts, &path);
            }
            // Lexically: what parse accepts stays below the root.
            if let Ok(p) = aos_skills::fs::path::parse(&path) {
                prop_assert!(p.parts().iter().all(|c| c != ".." && c != "." && !c.is_empty() && !c.contains('/')));
            }
            Ok(())
        })
        .unwrap();
    let after = world.snapshot();
    for (path, content) in &before {
        if !path.starts_with("files/acme") {
            assert_eq!(after.get(path), Some(content), "{} changed", path.display());
        }
    }
    assert!(after.keys().all(|p| before.contains_key(p) || p.starts_with("files/acme/")), "a path outside acme's sandbox was created");
    let s3_after = rt.block_on(s3_snapshot(&client, &bucket));
    for (key, body) in &s3_before {
        assert_eq!(s3_after.get(key), Some(body), "{key} changed");
    }
    assert!(s3_after.keys().all(|k| s3_before.contains_key(k) || k.starts_with("t/acme/")), "a key outside t/acme/ was written");
}
