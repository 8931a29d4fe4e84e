//! The clock and the random ids silt-log uses: commit and in-commit
//! timestamps, tombstone expiry, transaction ids, table ids, checkpoint and
//! sidecar file names, physical column names. Everything reaches them
//! through [`Environment`], so a seeded simulation controls time and ids
//! and replays exactly; [`SystemEnvironment`] is the real clock and
//! random UUIDs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Time and unique ids for protocol code.
pub trait Environment: Send + Sync + fmt::Debug {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// A new unique id (a UUID).
    fn new_id(&self) -> uuid::Uuid;
}

/// The wall clock and random version-4 UUIDs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::new_v4()
    }
}

/// The system environment, shared.
pub fn system_environment() -> Arc<dyn Environment> {
    Arc::new(SystemEnvironment)
}

/// A deterministic environment: a clock that starts at `start_ms` and
/// advances `step_ms` each time it is read, and ids drawn from a seeded
/// generator (SplitMix64). Two runs from the same seed see the same times
/// and ids.
#[derive(Debug)]
pub struct SeededEnvironment {
    clock: AtomicI64,
    step_ms: i64,
    ids: AtomicU64,
}

impl SeededEnvironment {
    /// A clock at `start_ms` stepping `step_ms` per read; ids from `seed`.
    pub fn new(seed: u64, start_ms: i64, step_ms: i64) -> Self {
        Self {
            clock: AtomicI64::new(start_ms),
            step_ms,
            ids: AtomicU64::new(seed),
        }
    }

    /// Sets the clock (a simulation moving time on).
    pub fn set_now(&self, ms: i64) {
        self.clock.store(ms, Ordering::SeqCst);
    }

    fn next_u64(&self) -> u64 {
        let mut z = self
            .ids
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Environment for SeededEnvironment {
    fn now_ms(&self) -> i64 {
        self.clock.fetch_add(self.step_ms, Ordering::SeqCst)
    }

    fn new_id(&self) -> uuid::Uuid {
        let hi = self.next_u64();
        let lo = self.next_u64();
        // Shaped as a version-4 UUID, as the random ones are.
        uuid::Builder::from_random_bytes(((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes())
            .into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_environments_repeat_and_differ_by_seed() {
        let a = SeededEnvironment::new(7, 1_000, 5);
        let b = SeededEnvironment::new(7, 1_000, 5);
        let c = SeededEnvironment::new(8, 1_000, 5);
        assert_eq!([a.now_ms(), a.now_ms()], [1_000, 1_005]);
        let ids_a: Vec<_> = (0..4).map(|_| a.new_id()).collect();
        let ids_b: Vec<_> = (0..4).map(|_| b.new_id()).collect();
        assert_eq!(ids_a, ids_b);
        assert_ne!(ids_a[0], c.new_id());
        assert_eq!(ids_a[0].get_version_num(), 4);
        let unique: std::collections::HashSet<_> = ids_a.iter().collect();
        assert_eq!(unique.len(), 4);
    }
}
