//! `aos init [NAME]`: a new directory with a starter plan (`plan.json`, pointing at its JSON Schema
//! by `$schema`), its inputs, a copy of the schema for editors, and a README saying what to run
//! next. Nothing is overwritten: an existing file of those names refuses the whole command.

use crate::plan;
use anyhow::Context;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The directory to create (the plan is named after it) [default: my-plan].
    #[arg(default_value = "my-plan")]
    pub name: PathBuf,
}

/// The files `aos init` writes, in order.
pub const FILES: [&str; 4] = ["plan.json", "inputs.json", "plan.schema.json", "README.md"];

pub fn init(args: InitArgs) -> anyhow::Result<()> {
    let dir = &args.name;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.trim().is_empty() && n.chars().count() <= 200)
        .with_context(|| format!("`{}`: give a directory whose last part names the plan (1 to 200 characters)", dir.display()))?
        .to_string();
    let existing: Vec<String> = FILES.iter().filter(|f| dir.join(f).exists()).map(|f| dir.join(f).display().to_string()).collect();
    if !existing.is_empty() {
        anyhow::bail!("{} already exist{}: aos init does not overwrite", existing.join(", "), if existing.len() == 1 { "s" } else { "" });
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let contents = [
        pretty(&starter_plan(&name)),
        pretty(&json!({"orders": [{"id": "A-1", "amount": 120.5}, {"id": "A-2", "amount": 80}, {"id": "A-3", "amount": 410}]})),
        plan::schema_json() + "\n",
        readme(&name),
    ];
    for (file, text) in FILES.iter().zip(contents) {
        write_new(&dir.join(file), &text)?;
    }
    println!("Created {}/ with {}.", dir.display(), FILES.join(", "));
    println!("Next (with `aos serve` or `aos dev` running in another terminal):");
    println!("  cd {}", dir.display());
    println!("  aos plan validate plan.json");
    println!("  aos runs submit plan.json --inputs \"$(cat inputs.json)\" --wait");
    Ok(())
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// Refuses to replace a file that appeared since the check (`create_new`).
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("writing {} (aos init does not overwrite)", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Two json_transform steps (they run offline, on any AOS), showing inputs, references between
/// steps, a condition, retries and on_error.
pub fn starter_plan(name: &str) -> serde_json::Value {
    json!({
        "$schema": "./plan.schema.json",
        "name": name,
        "input_schema": {
            "type": "object",
            "required": ["orders"],
            "properties": {
                "orders": {"type": "array", "items": {"type": "object", "required": ["id", "amount"]}}
            }
        },
        "steps": [
            {
                "id": "large_orders",
                "skill": "json_transform",
                "input": {"data": "{{ inputs.orders }}", "expr": "map(select(.amount >= 100))"},
                "retry": {"max_attempts": 2}
            },
            {
                "id": "summary",
                "skill": "json_transform",
                "depends_on": ["large_orders"],
                "condition": ".steps.large_orders.output | length > 0",
                "input": {
                    "data": "{{ steps.large_orders.output }}",
                    "expr": "{count: length, total: (map(.amount) | add), ids: map(.id)}"
                },
                "on_error": {"action": "continue"}
            }
        ],
        "budget": {"max_duration_ms": 60000}
    })
}

fn readme(name: &str) -> String {
    format!(
        "# {name}

An AOS plan: `plan.json` (two `json_transform` steps) and its inputs, `inputs.json`.
`plan.schema.json` is the JSON Schema of plan files (`aos plan schema` prints the current one);
`plan.json` names it by `$schema`, so editors complete and check fields as you type.

With AOS running (`aos serve`, or `aos dev` to call local stand-ins too), from this directory:

```sh
aos plan validate plan.json                                   # every problem, with its field path
aos simulate plan.json                                        # cost, latency and risk, nothing runs
aos runs submit plan.json --inputs \"$(cat inputs.json)\" --wait  # run it and watch it
```

Then edit `plan.json`: add steps (`aos skills list` shows the skills, `aos skills show ID` their
inputs), reference earlier outputs with `{{{{ steps.<id>.output }}}}`, and set `retry`, `timeout_ms`
and `on_error` per step. The plan format: docs/concepts.md in the AOS repository.
"
    )
}
