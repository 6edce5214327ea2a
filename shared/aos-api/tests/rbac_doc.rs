//! `docs/rbac.md` shows the permission matrix as the code has it: the role × permission table
//! comes from `auth::allows`, the route table from the scopes the OpenAPI document declares. This
//! test renders both and fails when the committed section differs. To rewrite it:
//!
//! ```sh
//! AOS_UPDATE_DOCS=1 cargo test -p aos-api --test rbac_doc
//! ```

use aos_api::auth::{allows, Permission};
use aos_runtime::auth::Role;
use serde_json::Value;
use std::path::PathBuf;

const BEGIN: &str = "<!-- BEGIN GENERATED MATRIX: do not edit; AOS_UPDATE_DOCS=1 cargo test -p aos-api --test rbac_doc -->";
const END: &str = "<!-- END GENERATED MATRIX -->";

fn mark(yes: bool) -> &'static str {
    if yes {
        "✓"
    } else {
        "·"
    }
}

fn render() -> String {
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let head = |first: &[&str]| {
        let cols: Vec<String> = first.iter().map(|c| c.to_string()).chain(roles.iter().map(|r| format!("`{r}`"))).collect();
        let rule: Vec<&str> = first.iter().map(|_| "---").chain(roles.iter().map(|_| ":-:")).collect();
        format!("| {} |\n|{}|\n", cols.join(" | "), rule.join("|"))
    };
    let mut out = format!("{BEGIN}\n\n### Permissions by role\n\n");
    out += &head(&["Permission"]);
    for p in Permission::ALL {
        let cells: Vec<&str> = Role::ALL.iter().map(|r| mark(allows(*r, p))).collect();
        out += &format!("| `{}` | {} |\n", p.scope(), cells.join(" | "));
    }
    out += "\n### Routes by role\n\n";
    out += &head(&["Route", "Permission"]);
    let doc: Value = serde_json::from_str(&aos_api::openapi_json()).expect("the OpenAPI document is JSON");
    let mut rows = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let scopes: Vec<&str> = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .flat_map(|r| r["bearer"].as_array().cloned().unwrap_or_default())
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .iter()
                .map(|s| Permission::from_scope(s).unwrap_or_else(|| panic!("{method} {path}: unknown scope {s}")).scope())
                .collect();
            let (permission, cells): (String, Vec<&str>) = match scopes.as_slice() {
                [] => ("none (public)".into(), Role::ALL.iter().map(|_| mark(true)).collect()),
                [s] => {
                    let p = Permission::from_scope(s).expect("known scope");
                    (format!("`{s}`"), Role::ALL.iter().map(|r| mark(allows(*r, p))).collect())
                }
                more => panic!("{method} {path} declares several scopes: {more:?}"),
            };
            rows.push((
                path.clone(),
                method_rank(method),
                format!("| `{} {path}` | {permission} | {} |\n", method.to_uppercase(), cells.join(" | ")),
            ));
        }
    }
    rows.sort();
    for (_, _, row) in rows {
        out += &row;
    }
    out += &format!("\n{END}");
    out
}

fn method_rank(m: &str) -> u8 {
    ["get", "post", "put", "patch", "delete"].iter().position(|x| *x == m).unwrap_or(9) as u8
}

#[test]
fn docs_rbac_md_shows_the_matrix_of_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/rbac.md");
    let text = std::fs::read_to_string(&path).expect("docs/rbac.md");
    let (start, end) =
        (text.find(BEGIN).expect("docs/rbac.md has the BEGIN marker"), text.find(END).expect("docs/rbac.md has the END marker"));
    let current = &text[start..end + END.len()];
    let wanted = render();
    if current == wanted {
        return;
    }
    if std::env::var_os("AOS_UPDATE_DOCS").is_some() {
        let updated = format!("{}{wanted}{}", &text[..start], &text[end + END.len()..]);
        std::fs::write(&path, updated).expect("writing docs/rbac.md");
        return;
    }
    panic!("docs/rbac.md's matrix differs from the code; rewrite it with `AOS_UPDATE_DOCS=1 cargo test -p aos-api --test rbac_doc`.\nwanted:\n{wanted}");
}
