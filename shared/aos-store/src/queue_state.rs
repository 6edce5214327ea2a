//! In-memory delivery state of one queue: each message's visibility time, receive count and
//! current receipt, plus a schedule ordered by visibility time, so that receiving is a few map
//! operations and the next due time is known without scanning.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

pub(crate) struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
    visible_at: Instant,
    /// Token of the latest receipt; only that receipt may delete or re-hide the message.
    receipt: Option<u64>,
}

/// One delivered message; `seq` and `token` make up its receipt.
pub(crate) struct Delivery {
    pub seq: u64,
    pub token: u64,
    pub id: String,
    pub body: String,
    pub receive_count: u32,
}

pub(crate) struct Taken {
    pub delivered: Vec<Delivery>,
    /// Messages past their receive limit, removed here and to be moved to the dead-letter queue.
    pub dead: Vec<Message>,
    /// When the earliest message still hidden becomes visible.
    pub next_due: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct QueueState {
    messages: HashMap<u64, Message>,
    /// (visible_at, seq): seq breaks ties in arrival order, so equal times stay FIFO.
    schedule: BTreeSet<(Instant, u64)>,
    next_seq: u64,
}

impl QueueState {
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(crate) fn push(&mut self, id: String, body: String, visible_at: Instant, receive_count: u32) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.schedule.insert((visible_at, seq));
        self.messages.insert(seq, Message { id, body, receive_count, visible_at, receipt: None });
    }

    /// Delivers up to `max` messages visible at `now`, hiding each until `hidden_until`. With
    /// `dead_after = Some(n)`, a message already received `n` times is removed into `dead`
    /// instead of being delivered an (n+1)-th time.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        max: usize,
        hidden_until: Instant,
        dead_after: Option<u32>,
        mut token: impl FnMut() -> u64,
    ) -> Taken {
        let mut delivered = Vec::new();
        let mut dead = Vec::new();
        while delivered.len() < max {
            let Some(&(at, seq)) = self.schedule.first() else { break };
            if at > now {
                break;
            }
            self.schedule.pop_first();
            if dead_after.is_some_and(|n| self.messages.get(&seq).is_some_and(|m| m.receive_count >= n)) {
                dead.extend(self.messages.remove(&seq));
                continue;
            }
            let Some(msg) = self.messages.get_mut(&seq) else { continue };
            let token = token();
            msg.receive_count += 1;
            msg.receipt = Some(token);
            msg.visible_at = hidden_until;
            delivered.push(Delivery { seq, token, id: msg.id.clone(), body: msg.body.clone(), receive_count: msg.receive_count });
        }
        // Rescheduled only now, so that a zero visibility cannot deliver a message twice in one call.
        for delivery in &delivered {
            self.schedule.insert((hidden_until, delivery.seq));
        }
        let next_due = self.schedule.first().map(|&(at, _)| at);
        Taken { delivered, dead, next_due }
    }

    /// Removes the message if `token` is its latest receipt.
    pub(crate) fn remove(&mut self, seq: u64, token: u64) -> Option<Message> {
        if self.messages.get(&seq)?.receipt != Some(token) {
            return None;
        }
        let msg = self.messages.remove(&seq)?;
        self.schedule.remove(&(msg.visible_at, seq));
        Some(msg)
    }

    /// Makes the message visible at `at` if `token` is its latest receipt.
    pub(crate) fn hide(&mut self, seq: u64, token: u64, at: Instant) -> bool {
        let Some(msg) = self.messages.get_mut(&seq) else { return false };
        if msg.receipt != Some(token) {
            return false;
        }
        self.schedule.remove(&(msg.visible_at, seq));
        msg.visible_at = at;
        self.schedule.insert((at, seq));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn zero_visibility_delivers_once_per_take_and_stale_tokens_fail() {
        let mut state = QueueState::default();
        let now = Instant::now();
        state.push("a".into(), "body".into(), now, 0);
        let mut next = 0;
        let first = state.take(now, 10, now, None, || {
            next += 1;
            next
        });
        assert_eq!(first.delivered.len(), 1);
        let second = state.take(now, 10, now + Duration::from_secs(1), None, || {
            next += 1;
            next
        });
        assert_eq!(second.delivered[0].receive_count, 2);
        assert!(!state.hide(0, first.delivered[0].token, now));
        assert!(state.remove(0, first.delivered[0].token).is_none());
        assert!(state.remove(0, second.delivered[0].token).is_some());
        assert_eq!(state.len(), 0);
    }

    #[test]
    fn messages_past_the_limit_are_dead() {
        let mut state = QueueState::default();
        let now = Instant::now();
        state.push("a".into(), "body".into(), now, 2);
        let taken = state.take(now, 10, now, Some(2), || 7);
        assert!(taken.delivered.is_empty());
        assert_eq!(taken.dead.len(), 1);
        assert_eq!(state.len(), 0);
    }
}
