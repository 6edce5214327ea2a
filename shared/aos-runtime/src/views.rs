//! Settled runs' views, kept serialized: `GET /api/v1/runs/{id}` of a run that will not change
//! again answers with the bytes it answered last time, without reading the store or serializing.
//!
//! Only a *settled* view is kept ([`crate::service::Runtime::get_settled`]: the run finished,
//! every attempt it dispatched has its record, none is claimed), so a kept answer is the answer
//! the store would give. Kept per tenant and run, in two forms (raw, and redacted for viewers),
//! since the caller's role decides which it gets. In one process the orchestrator keeps the raw
//! view of each run it finishes as it finishes it, so the long-polling reader woken by that
//! finish reads nothing from the store. Bounded by construction: at most [`MAX_BYTES`] in all
//! (least recently used out first), no view over [`MAX_VIEW_BYTES`], and an entry lives [`TTL`] at
//! most. Per process: each API Lambda keeps its own.

use bytes::Bytes;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Serialized bytes kept in all.
pub const MAX_BYTES: usize = 32 << 20;
/// A larger view is served from the store every time.
pub const MAX_VIEW_BYTES: usize = 256 << 10;
/// How long a view is kept after it was put.
pub const TTL: Duration = Duration::from_secs(300);
/// Entries kept at most (the byte budget is usually reached first).
const MAX_ENTRIES: usize = 65_536;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    run_id: String,
    redacted: bool,
}

struct Entry {
    body: Bytes,
    put_at: Instant,
}

struct Inner {
    entries: lru::LruCache<Key, Entry>,
    bytes: usize,
}

/// The cache; one per process (the [`Runtime`](crate::service::Runtime)'s).
pub struct SettledViews {
    inner: Mutex<Inner>,
}

impl Default for SettledViews {
    fn default() -> Self {
        let cap = NonZeroUsize::new(MAX_ENTRIES).expect("non-zero");
        Self { inner: Mutex::new(Inner { entries: lru::LruCache::new(cap), bytes: 0 }) }
    }
}

impl SettledViews {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The view kept for this tenant's run in this form, if it is there and fresh.
    pub fn get(&self, tenant: &str, run_id: &str, redacted: bool) -> Option<Bytes> {
        let key = Key { tenant: tenant.to_string(), run_id: run_id.to_string(), redacted };
        let mut inner = self.lock();
        let fresh = inner.entries.get(&key).map(|e| (e.put_at.elapsed() < TTL).then(|| e.body.clone()))?;
        if fresh.is_none() {
            if let Some(old) = inner.entries.pop(&key) {
                inner.bytes -= old.body.len();
            }
        }
        fresh
    }

    /// Keeps a settled view (a larger one than [`MAX_VIEW_BYTES`] is not kept).
    pub fn put(&self, tenant: &str, run_id: &str, redacted: bool, body: Bytes) {
        if body.len() > MAX_VIEW_BYTES {
            return;
        }
        let key = Key { tenant: tenant.to_string(), run_id: run_id.to_string(), redacted };
        let mut inner = self.lock();
        inner.bytes += body.len();
        if let Some((_, old)) = inner.entries.push(key, Entry { body, put_at: Instant::now() }) {
            inner.bytes -= old.body.len();
        }
        while inner.bytes > MAX_BYTES {
            match inner.entries.pop_lru() {
                Some((_, old)) => inner.bytes -= old.body.len(),
                None => break,
            }
        }
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_tenants_are_kept_apart_and_the_budget_holds() {
        let cache = SettledViews::default();
        cache.put("t1", "r", false, Bytes::from_static(b"raw"));
        cache.put("t1", "r", true, Bytes::from_static(b"redacted"));
        assert_eq!(cache.get("t1", "r", false).as_deref(), Some(&b"raw"[..]));
        assert_eq!(cache.get("t1", "r", true).as_deref(), Some(&b"redacted"[..]));
        assert_eq!(cache.get("t2", "r", false), None);
        // Replacing an entry does not count its bytes twice.
        cache.put("t1", "r", false, Bytes::from_static(b"raw2"));
        assert_eq!(cache.bytes(), 4 + 8);
        // Too large to keep.
        cache.put("t1", "big", false, Bytes::from(vec![b'x'; MAX_VIEW_BYTES + 1]));
        assert_eq!(cache.get("t1", "big", false), None);
        // Filling past the budget drops the least recently used first.
        let view = Bytes::from(vec![b'v'; MAX_VIEW_BYTES]);
        for i in 0..(MAX_BYTES / MAX_VIEW_BYTES + 8) {
            cache.put("t1", &format!("r{i}"), false, view.clone());
        }
        assert!(cache.bytes() <= MAX_BYTES);
        assert_eq!(cache.get("t1", "r0", false), None);
        assert!(cache.get("t1", &format!("r{}", MAX_BYTES / MAX_VIEW_BYTES + 7), false).is_some());
    }
}
