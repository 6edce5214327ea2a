//! An SDK client built the first time it is used, then shared: what a function might never call
//! (Secrets Manager, SQS) costs its cold start nothing. Building a client parses its service's
//! embedded endpoint partition table and compiles its region patterns, a tenth of a function's
//! init each (docs/performance.md, "Lambda functions"); the authorizer, the metrics function and
//! most API requests never send to SQS or read a secret.

use aws_types::SdkConfig;
use std::sync::{Arc, OnceLock};

/// Clones share the one client.
#[derive(Clone)]
pub(crate) struct LazyClient<C> {
    client: Arc<OnceLock<C>>,
    make: Arc<dyn Fn() -> C + Send + Sync>,
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient").field("built", &self.client.get().is_some()).finish()
    }
}

impl<C: Clone + Send + Sync + 'static> LazyClient<C> {
    /// A client that exists already (tests, callers with their own configuration).
    pub(crate) fn ready(client: C) -> Self {
        Self { client: Arc::new(OnceLock::from(client)), make: Arc::new(|| unreachable!("a ready client is never made")) }
    }

    /// A client made by `make` from `config` at its first use.
    pub(crate) fn from_config(config: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        let config = config.clone();
        Self { client: Arc::new(OnceLock::new()), make: Arc::new(move || make(&config)) }
    }

    pub(crate) fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static MADE: AtomicUsize = AtomicUsize::new(0);

    fn make(_: &SdkConfig) -> String {
        MADE.fetch_add(1, Ordering::SeqCst);
        "client".to_string()
    }

    #[test]
    fn made_once_at_first_use() {
        let lazy = LazyClient::from_config(&SdkConfig::builder().build(), make);
        assert_eq!(MADE.load(Ordering::SeqCst), 0, "nothing is built before the first use");
        let clone = lazy.clone();
        assert_eq!(lazy.get(), "client");
        assert_eq!(clone.get(), "client");
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
        assert_eq!(LazyClient::ready("given".to_string()).get(), "given");
    }
}
