//! A store in front of another, for the tests that watch or break what the workers ask of it:
//! it fails while `down`, as a database whose connection dropped, and records every lease.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roamify_hooks::delivery::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Settlement, Store, StoreCounts, StoreError,
    StoreFuture, StoreLimits,
};

pub struct Tapped {
    /// The store behind it, to read it while this one is down.
    pub inner: Arc<dyn Store>,
    /// While set, enqueues, leases and settlements fail with "connection refused".
    pub down: AtomicBool,
    /// Each lease the store answered: how many jobs were asked for, how many were given.
    pub leases: Mutex<Vec<(usize, usize)>>,
}

impl Tapped {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            leases: Mutex::default(),
        }
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::backend(
                operation,
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
            ))
        } else {
            Ok(())
        }
    }
}

impl Queue for Tapped {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        match self.check("enqueue") {
            Ok(()) => self.inner.enqueue(delivery),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        Box::pin(async move {
            self.check("lease")?;
            let jobs = self.inner.lease(max, visibility).await?;
            self.leases
                .lock()
                .expect("the lease log")
                .push((max, jobs.len()));
            Ok(jobs)
        })
    }
    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        match self.check("settle") {
            Ok(()) => self.inner.settle(batch),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
    fn limits(&self) -> StoreLimits {
        self.inner.limits()
    }
}

impl Admin for Tapped {
    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.inner.dead_letters()
    }
    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.inner.replay(key)
    }
    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        Box::pin(async move {
            self.check("counts")?;
            self.inner.counts().await
        })
    }
    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.inner.discard(key)
    }
}
