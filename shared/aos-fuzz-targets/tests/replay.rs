//! Replays every committed fuzz input (`fuzz/corpus/<target>/*`: the seed corpus, minimized, and
//! every crash the fuzzer found, kept as a regression) through the same target bodies cargo-fuzz
//! runs, so the stable test command checks them all without a nightly toolchain.

use aos_fuzz_targets::TARGETS;
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

#[test]
fn every_target_has_a_committed_corpus_and_a_cargo_fuzz_entry() {
    let entries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (name, _) in TARGETS {
        let files = std::fs::read_dir(corpus_dir(name)).unwrap_or_else(|e| panic!("fuzz/corpus/{name}: {e}")).count();
        assert!(files >= 3, "fuzz/corpus/{name} has {files} inputs");
        let entry =
            std::fs::read_to_string(entries.join(format!("{name}.rs"))).unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{name}.rs: {e}"));
        assert!(
            entry.contains(&format!("aos_fuzz_targets::{name}(")) && entry.contains(&format!("aos_fuzz_targets::init(\"{name}\")")),
            "fuzz/fuzz_targets/{name}.rs calls another body or warms up another target"
        );
    }
    let on_disk = std::fs::read_dir(&entries).expect("fuzz/fuzz_targets").count();
    assert_eq!(on_disk, TARGETS.len(), "a fuzz target without a replayed corpus, or the reverse");
}

#[test]
fn the_corpus_of_every_target_replays_without_a_failure() {
    for (name, body) in TARGETS {
        aos_fuzz_targets::init(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(name)).expect("corpus").map(|e| e.expect("entry").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("input");
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{name}: {} fails (replay: cargo +nightly fuzz run {name} {})", file.display(), file.display());
        }
    }
}
