//! A permission is declared once, in `auth.rs`'s `permissions!` table, and a route states its
//! permission once, in the type of its handler's `Auth<need::X>` argument: the OpenAPI security
//! scope is made from that type (`document_permission`), never written beside it.

use aos_api::auth::{allows, document_permission, need, permission_of, Auth, Permission};
use aos_api::AppState;
use aos_runtime::auth::Role;
use axum::extract::{Path, State};
use utoipa_axum::router::UtoipaMethodRouter;

/// What `api_routes!` does with the `openapi` feature: the routes of `routes!`, each operation's
/// security made from its handler's `Auth<need::X>`.
macro_rules! api_routes {
    ($($handler:ident),+ $(,)?) => {{
        let mut routes: UtoipaMethodRouter<AppState> = utoipa_axum::routes!($($handler),+);
        $(
            utoipa_axum::paste! {
                document_permission(&mut routes.1, &<[<__path_ $handler>] as utoipa::Path>::path(), &<[<__path_ $handler>] as utoipa::Path>::methods(), permission_of(&$handler));
            }
        )+
        routes
    }};
}

#[utoipa::path(get, path = "/x/{id}", params(("id" = String, Path)), responses((status = 200)))]
async fn read_x(State(_s): State<AppState>, _auth: Auth<need::RunsRead>, Path(_id): Path<String>) {}

#[utoipa::path(post, path = "/x/{id}", params(("id" = String, Path)), responses((status = 200)), security(("bearer" = ["runs:write"])))]
async fn write_x(_auth: Auth<need::RunsWrite>, Path(_id): Path<String>) {}

#[utoipa::path(get, path = "/y", responses((status = 200)), security(("bearer" = ["runs:read"])))]
async fn misdeclared(State(_s): State<AppState>, _auth: Auth<need::KeysManage>) {}

#[utoipa::path(get, path = "/whoami", responses((status = 200)))]
async fn alone(_auth: Auth<need::ProfileRead>) {}

fn security(routes: &UtoipaMethodRouter<AppState>, path: &str, method: &str) -> serde_json::Value {
    serde_json::to_value(&routes.1).unwrap()[path][method]["security"].clone()
}

#[test]
fn a_handlers_permission_is_read_from_its_auth_argument() {
    assert_eq!(permission_of(&read_x), Permission::RunsRead);
    assert_eq!(permission_of(&write_x), Permission::RunsWrite);
    assert_eq!(permission_of(&misdeclared), Permission::KeysManage);
    assert_eq!(permission_of(&alone), Permission::ProfileRead);
}

#[test]
fn the_document_states_the_scope_the_handler_enforces() {
    let routes = api_routes!(read_x, write_x);
    assert_eq!(security(&routes, "/x/{id}", "get"), serde_json::json!([{"bearer": ["runs:read"]}]), "made from the type alone");
    assert_eq!(security(&routes, "/x/{id}", "post"), serde_json::json!([{"bearer": ["runs:write"]}]), "a declared scope that agrees stays");
    let routes = api_routes!(alone);
    assert_eq!(security(&routes, "/whoami", "get"), serde_json::json!([{"bearer": ["profile:read"]}]));
}

#[test]
#[should_panic(expected = "declares a security other than its handler's `Auth<need::KeysManage>` (keys:manage)")]
fn a_declared_scope_that_disagrees_with_the_handler_stops_the_document() {
    let _ = api_routes!(misdeclared);
}

#[test]
fn every_permission_has_a_unique_scope_and_admins_hold_them_all() {
    let mut scopes: Vec<&str> = Permission::ALL.iter().map(|p| p.scope()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    assert_eq!(scopes.len(), Permission::ALL.len());
    for p in Permission::ALL {
        assert!(allows(Role::Admin, p), "{p:?}");
        assert!(
            p.holders().windows(2).all(|w| Role::ALL.iter().position(|r| *r == w[0]) < Role::ALL.iter().position(|r| *r == w[1])),
            "{p:?}: holders in Role::ALL order, each once"
        );
    }
}
