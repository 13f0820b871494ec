//! The Tokio runtime a network store owns.
//!
//! Every operation of such a store runs as a task on this runtime, so the store can be called
//! from any executor (actix's workers, the receiver's workers, a test's) and its connections —
//! whose driver tasks live here — never depend on another runtime staying alive.

use std::future::Future;

use super::StoreError;
use super::store::StoreFuture;

pub(super) struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl StoreRuntime {
    /// One worker thread named `thread_name`: a network store waits on I/O, it does not compute.
    pub(super) fn start(thread_name: &'static str) -> Result<Self, StoreError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
            .map_err(|e| StoreError::backend("start the store's runtime", e))
    }

    /// Runs `work` on the runtime; `what` names the operation if its task fails.
    pub(super) fn run<T, Fut>(&self, what: &'static str, work: Fut) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(runtime) = &self.0 else {
            return Box::pin(std::future::ready(Err(StoreError::Closed)));
        };
        let task = runtime.spawn(work);
        Box::pin(async move { task.await.map_err(|e| StoreError::backend(what, e))? })
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks; a store may be dropped inside async code.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
