//! The engine's unit tests.

use super::*;
use crate::delivery::MemoryStore;
use crate::dispatch::Dispatched;

/// A table whose handler keeps 16 KiB across an await, as a handler holding a large
/// payload or buffer does.
struct Large;

impl Dispatch for Large {
    async fn dispatch(&self, event: Event) -> Dispatched {
        let buffer = std::hint::black_box([0_u8; 16 * 1024]);
        tokio::task::yield_now().await;
        drop(event);
        std::hint::black_box(&buffer);
        Dispatched::NoHandler
    }
}

/// Records the events it is given.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Event>>);

impl Dispatch for Recorder {
    async fn dispatch(&self, event: Event) -> Dispatched {
        self.0.lock().expect("not poisoned").push(event);
        Dispatched::Handled { handler: "record" }
    }
}

fn engine(private: bool, table: &Arc<Recorder>) -> Engine {
    Engine::start(
        Role::Both,
        Backing {
            store: Arc::new(MemoryStore::new()),
            private,
            ephemeral: false,
        },
        QueueOptions::default(),
        Runner::new(Arc::clone(table), Arc::default(), None),
    )
    .expect("workers start")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// An event the pipeline parsed from `body` (here deliberately another one, to see which the
/// handler gets): a store only this process reads hands it to the worker; a shared one
/// (whose jobs other processes may run) lets the worker parse the stored body.
#[test]
fn a_private_store_hands_the_parsed_event_to_its_worker_and_a_shared_one_does_not() {
    let (body, other) = super::super::handoff::tests::bodies();
    let stored = crate::parse::parse(&body).expect("parses");
    let handed = crate::parse::parse(&other).expect("parses");
    assert_ne!(stored, handed);
    for private in [true, false] {
        let table = Arc::new(Recorder::default());
        let engine = engine(private, &table);
        block_on(async {
            let accepted = engine
                .accept("k".to_owned(), &body, handed.clone(), None)
                .await;
            assert!(matches!(accepted, Accepted::Stored));
            assert!(matches!(
                engine.wait_idle(Duration::from_secs(10)).await,
                Ok(true)
            ));
        });
        let expected = if private { &handed } else { &stored };
        assert_eq!(
            table.0.lock().expect("not poisoned").as_slice(),
            std::slice::from_ref(expected)
        );
        let kept = engine.shared.handoff.as_ref().map(Handoff::len);
        assert_eq!(kept, private.then_some(0), "nothing left behind");
    }
}

/// A delivery that is not stored takes its event back: a duplicate's (another body under a
/// stored key) would otherwise stay until the bound.
#[test]
fn an_event_whose_delivery_was_not_stored_is_not_kept() {
    let table = Arc::new(Recorder::default());
    let engine = engine(true, &table);
    let (first, again) = super::super::handoff::tests::bodies();
    block_on(async {
        let event = crate::parse::parse(&first).expect("parses");
        let accepted = engine.accept("k".to_owned(), &first, event, None).await;
        assert!(matches!(accepted, Accepted::Stored));
        assert!(matches!(
            engine.wait_idle(Duration::from_secs(10)).await,
            Ok(true)
        ));
        let event = crate::parse::parse(&again).expect("parses");
        let accepted = engine.accept("k".to_owned(), &again, event, None).await;
        assert!(matches!(accepted, Accepted::Duplicate));
    });
    let kept = engine.shared.handoff.as_ref().map(Handoff::len);
    assert_eq!(kept, Some(0));
    assert_eq!(table.0.lock().expect("not poisoned").len(), 1);
}

/// A run must not embed the table's future (whose size is the largest handler's), or every
/// job would copy it in and out of the runner's task.
#[test]
fn a_run_task_does_not_embed_the_tables_future() {
    let (worker, _finished) = Worker::new(
        Arc::new(MemoryStore::new()),
        Runner::new(Arc::new(Large), Arc::default(), None),
        QueueOptions::default(),
        None,
    );
    let slots = Arc::new(Semaphore::new(1));
    let slot = slots.try_acquire_owned().expect("a free slot");
    let job = Job {
        key: "k".to_owned(),
        body: b"{}".to_vec(),
        attempts: 0,
        lease: 1,
        order: None,
        stale: None,
    };
    let run = worker.run(job, slot);
    let size = std::mem::size_of_val(&run);
    assert!(size < 2048, "the run future is {size} bytes");
}
