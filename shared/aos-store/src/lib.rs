//! Embedded, durable adapters for the AOS ports over one SQLite file: `EmbeddedStore` (items),
//! `EmbeddedQueue` (messages) and `EmbeddedSecrets`, all sharing one `EmbeddedDb` whose single
//! writer thread group-commits. `conformance` is the port test suite every adapter must pass.

pub mod conformance;
mod cursor;
mod db;
mod queue;
mod queue_state;
mod reaper;
mod schema;
mod secrets;
mod store;
mod store_ops;
mod store_query;
mod writer;

pub use db::{Durability, EmbeddedDb, OpenCheck};
pub use queue::EmbeddedQueue;
pub use secrets::EmbeddedSecrets;
pub use store::EmbeddedStore;
