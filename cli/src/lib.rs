//! The embedded server behind `aos serve`, as a library: [`settings`] (environment, then flags),
//! [`serve`] (`Server::build` and `Server::run`) and its HTTP [`listener`]. The `aos` binary's
//! `serve` command uses it, and so do tests that start a server in their own process.

pub mod console;
pub mod http_metrics;
pub mod listener;
pub mod serve;
pub mod settings;

pub use serve::{Server, DEV_TENANT, EXPORT_FILE};
pub use settings::{ServeArgs, ServeSettings};
