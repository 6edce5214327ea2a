//! The command line's own promises, checked on the `aos` binary: `serve --help` names every
//! environment variable the server's settings read, completions are generated for each shell, and
//! a URL without a scheme is refused before any request.

mod common;
use common::aos_bin;
use std::process::Command;

fn aos(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(aos_bin()).args(args).env_remove("AOS_URL").env("NO_COLOR", "1").output().expect("run aos");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The `"AOS_…"` names a source file reads.
fn variables_in(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut names: Vec<String> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("AOS_") && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn serve_help_lists_every_variable_the_server_reads() {
    let (code, help, _) = aos(&["serve", "--help"]);
    assert_eq!(code, 0);
    // Each settings parser `aos serve` goes through (ServeSettings::from_lookup and what it calls),
    // the jq sandbox's and the log's. AOS_JQ_WORKER and AOS_JQ_PARENT_PID are set by the sandbox for
    // its own worker processes, not by people.
    let sources = [
        "cli/src/settings.rs",
        "cli/src/main.rs",
        "shared/aos-runtime/src/settings.rs",
        "shared/aos-runtime/src/oidc.rs",
        "shared/aos-runtime/src/failures/aggregate.rs",
        "shared/aos-runtime/src/recovery/mod.rs",
        "shared/aos-skills/src/config.rs",
        "shared/aos-jq/src/sandbox/mod.rs",
    ];
    let client_side = ["AOS_URL", "AOS_API_KEY", "AOS_JQ_WORKER", "AOS_JQ_PARENT_PID"];
    let mut missing = Vec::new();
    for path in sources {
        for name in variables_in(path) {
            let whole_word = help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|w| w == name);
            if !client_side.contains(&name.as_str()) && !whole_word {
                missing.push(format!("{name} (read in {path})"));
            }
        }
    }
    assert!(missing.is_empty(), "`aos serve --help` does not name {missing:?}: add them to aos_cli::settings::ENVIRONMENT");
    assert!(help.contains("AOS_LOG") && help.contains("AOS_HTTP_ALLOW_HOSTS"), "{help}");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F _aos"), ("zsh", "#compdef aos"), ("fish", "complete -c aos")] {
        let (code, script, err) = aos(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(script.contains(marker), "{shell}: no `{marker}` in the script");
        for sub in ["runs", "failures", "catalog", "completions"] {
            assert!(script.contains(sub), "{shell}: the script does not know `{sub}`");
        }
    }
    let (code, _, err) = aos(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error: {err}");
}

#[test]
fn a_url_without_a_scheme_is_refused() {
    for url in ["127.0.0.1:8080", "localhost:8080"] {
        let (code, out, err) = aos(&["--url", url, "--api-key", "k", "runs", "list"]);
        assert_eq!(code, 1, "{out}");
        assert!(err.contains("is not an http:// or https:// URL"), "{err}");
    }
}
