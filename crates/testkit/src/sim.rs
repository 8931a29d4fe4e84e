//! Deterministic simulation support: a seeded random source and a store
//! wrapper that injects faults and yields at random points, so concurrent
//! writers on a single-threaded runtime interleave differently per seed and
//! identically for the same seed.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use silt_log::{FileMeta, LogStore, StorageError};

use crate::MemoryLogStore;

/// xorshift64*: small, fast, and reproducible from its seed.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Fault probabilities for [`FaultyStore`].
#[derive(Debug, Clone, Copy)]
pub struct FaultRates {
    /// A put fails without writing.
    pub put_fails_before_write: f64,
    /// A put writes, then reports failure (lost response).
    pub put_fails_after_write: f64,
    /// A read fails.
    pub read_fails: f64,
    /// A create-if-absent answers "already exists" without writing (S3's
    /// 409 on a conflicting concurrent request).
    pub put_reports_conflict: f64,
    /// A listing fails.
    pub list_fails: f64,
    /// A listing leaves out its newest entries (an object store whose
    /// listing lags behind its reads).
    pub list_truncated: f64,
    /// An operation yields to other tasks first (slow I/O).
    pub yields: f64,
}

impl Default for FaultRates {
    fn default() -> Self {
        Self {
            put_fails_before_write: 0.05,
            put_fails_after_write: 0.05,
            read_fails: 0.02,
            put_reports_conflict: 0.03,
            list_fails: 0.02,
            list_truncated: 0.05,
            yields: 0.5,
        }
    }
}

/// A [`MemoryLogStore`] with seeded faults and random yields.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<MemoryLogStore>,
    rng: Mutex<SimRng>,
    rates: FaultRates,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<MemoryLogStore>, seed: u64, rates: FaultRates) -> Self {
        Self {
            inner,
            rng: Mutex::new(SimRng::new(seed)),
            rates,
        }
    }

    fn roll(&self, p: f64) -> bool {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).chance(p)
    }

    async fn maybe_yield(&self) {
        let n = if self.roll(self.rates.yields) {
            1 + (self.roll(0.5) as u32) * 3
        } else {
            0
        };
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    fn injected(path: &str) -> StorageError {
        StorageError::Other {
            path: path.into(),
            message: "simulated fault".into(),
        }
    }
}

#[async_trait]
impl LogStore for FaultyStore {
    fn location(&self) -> &str {
        self.inner.location()
    }

    async fn list(
        &self,
        dir: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<FileMeta>, StorageError> {
        self.maybe_yield().await;
        if self.roll(self.rates.list_fails) {
            return Err(Self::injected(dir));
        }
        let mut out = self.inner.list(dir, start_after).await?;
        if !out.is_empty() && self.roll(self.rates.list_truncated) {
            let keep = self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .below(out.len() as u64) as usize;
            out.truncate(keep);
        }
        self.maybe_yield().await;
        Ok(out)
    }

    async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
        self.maybe_yield().await;
        self.inner.list_recursive(dir).await
    }

    async fn read(&self, path: &str) -> Result<Bytes, StorageError> {
        self.maybe_yield().await;
        if self.roll(self.rates.read_fails) {
            return Err(Self::injected(path));
        }
        self.inner.read(path).await
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        self.maybe_yield().await;
        if self.roll(self.rates.put_fails_before_write) {
            return Err(Self::injected(path));
        }
        if self.roll(self.rates.put_reports_conflict) {
            return Err(StorageError::AlreadyExists { path: path.into() });
        }
        let result = self.inner.put_if_absent(path, data).await;
        self.maybe_yield().await;
        if result.is_ok() && self.roll(self.rates.put_fails_after_write) {
            return Err(Self::injected(path));
        }
        result
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StorageError> {
        self.maybe_yield().await;
        LogStore::put(self.inner.as_ref(), path, data).await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.maybe_yield().await;
        LogStore::delete(self.inner.as_ref(), path).await
    }
}
