//! How long a skill may take. `SkillContext::timeout_ms` is documented as a wall-clock deadline
//! (ms since the epoch) but named like a duration; both readings are honoured so neither breaks.

use aos_core::skill::SkillContext;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Epoch-millisecond values are above this (September 2001); no per-attempt duration is.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The time left for this attempt according to the context, or `None` when it sets no limit (0).
pub(crate) fn ctx_budget(ctx: &SkillContext) -> Option<Duration> {
    match ctx.timeout_ms {
        0 => None,
        deadline if deadline >= EPOCH_MS_FLOOR => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            Some(Duration::from_millis(deadline.saturating_sub(now)))
        }
        duration => Some(Duration::from_millis(duration)),
    }
}
