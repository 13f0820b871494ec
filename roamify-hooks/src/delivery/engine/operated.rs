//! The engine's store as operators reach it: a replay or a resume wakes this engine's workers
//! at once.

#[cfg(feature = "admin")]
use std::sync::Arc;

use super::Shared;
use crate::delivery::StoreError;
#[cfg(feature = "admin")]
use crate::delivery::filter::Filter;
#[cfg(feature = "admin")]
use crate::delivery::history::{Delivery, HistoryPage, Page};
use crate::delivery::store::Store;
#[cfg(feature = "admin")]
use crate::delivery::store::{Admin, DeadLetter, StoreCounts, StoreFuture};

/// Replays the dead letter `key` in `store`, waking the workers when it went back to the queue.
pub(super) async fn replay(
    store: &dyn Store,
    shared: &Shared,
    key: String,
) -> Result<bool, StoreError> {
    let replayed = store.replay(key).await?;
    if replayed {
        shared.wake.notify_one();
    }
    Ok(replayed)
}

/// [`Admin`] of the engine's store, waking its workers when a replay queued something.
#[cfg(feature = "admin")]
pub(super) struct Operated {
    pub(super) store: Arc<dyn Store>,
    pub(super) shared: Arc<Shared>,
}

#[cfg(feature = "admin")]
impl Admin for Operated {
    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.store.counts()
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.store.dead_letters()
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        Box::pin(replay(&*self.store, &self.shared, key))
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.store.discard(key)
    }

    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        self.store.history(filter, page)
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        self.store.delivery(key)
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        self.store.pause(kind)
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let resumed = self.store.resume(kind).await?;
            if resumed {
                self.shared.wake.notify_one();
            }
            Ok(resumed)
        })
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        self.store.paused()
    }
}
