//! A bounded cache of compiled programs keyed by source. Plans run the same step (and the same
//! condition) thousands of times, and compiling costs far more than running.

// Running a program to completion in-process (`Program::run*`, `Limits`) is for the unit tests
// and the `unsandboxed` benchmark only; sandbox workers stream outputs with `each_output`.
#![cfg_attr(not(any(test, feature = "unsandboxed")), allow(dead_code))]

use crate::eval::{compile, Program};
use crate::JqError;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct ProgramCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tick: u64,
    entries: HashMap<String, (Program, u64)>,
}

impl ProgramCache {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), inner: Mutex::new(Inner::default()) }
    }

    /// The compiled program for `expr`, compiling it on a miss. Compile errors are not cached:
    /// they are cheap to reproduce and a failing expression should not evict working ones.
    pub fn get_or_compile(&self, expr: &str) -> Result<Program, JqError> {
        if let Some(p) = self.lock().touch(expr) {
            return Ok(p);
        }
        // Compile outside the lock so one slow compile does not stall every other step.
        let program = compile(expr)?;
        let mut inner = self.lock();
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(expr) {
            inner.evict_least_recent();
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.entries.insert(expr.to_string(), (program.clone(), tick));
        Ok(program)
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // Every update leaves the map consistent, so a panic elsewhere while holding the lock does
    // not make the contents unusable.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn touch(&mut self, expr: &str) -> Option<Program> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(expr).map(|(p, used)| {
            *used = tick;
            p.clone()
        })
    }

    fn evict_least_recent(&mut self) {
        if let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) {
            self.entries.remove(&oldest);
        }
    }
}
