//! Without the `openapi` feature (the API Lambdas) the crate serves the committed
//! `docs/openapi.json` instead of generating the document: this copies it into `OUT_DIR`, where
//! `COMMITTED_OPENAPI` includes it, after checking that it is JSON. A file of the repository is
//! then a declared input of the build (rerun when it changes), not a path the source reaches out
//! of the crate for; with the feature nothing is read.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AOS_OPENAPI_JSON");
    if std::env::var_os("CARGO_FEATURE_OPENAPI").is_some() {
        return;
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // The workspace's committed document; AOS_OPENAPI_JSON names another one (a build outside the repository).
    let source = std::env::var_os("AOS_OPENAPI_JSON").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../docs/openapi.json"));
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source).unwrap_or_else(|e| {
        panic!("aos-api without its `openapi` feature serves the committed OpenAPI document, but {} cannot be read ({e}); set AOS_OPENAPI_JSON to its path", source.display())
    });
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
        panic!("{} is not JSON ({e}): regenerate it with `cargo run -p aos-cli -- openapi > docs/openapi.json`", source.display());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.json");
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
