//! The case is written with blocking file work (writes, fsync, hashing, compression), and the
//! evidence crate's API is synchronous. Response runs on an async runtime that is reading API
//! streams at the same time, so that work runs off its workers: a slow disk must not hold up
//! the streams, the watches or the connection drivers of the other tasks.

use kir_evidence::{Case, JournalEntry, JournalRecord};

/// Run `work` on the runtime's blocking threads and wait for it. Work already started finishes
/// even if the caller stops waiting (a journal line is written whole or not at all).
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels blocking work, and nothing is left to wait.
            Err(error) => panic!("file work was cancelled by the runtime shutting down: {error}"),
        },
    }
}

/// Run file work that a synchronous sink does inside async code (a `Write` fed by a stream,
/// which cannot wait): on a multi-thread runtime the worker first hands its other tasks to
/// another thread; elsewhere (a current-thread runtime, in unit tests) it runs as is.
pub fn in_place<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// [`Case::record`] off the async workers.
pub async fn record(case: &Case, record: JournalRecord) -> kir_evidence::Result<JournalEntry> {
    let case = case.clone();
    blocking(move || case.record(record)).await
}

/// [`Case::store_bytes`] off the async workers; what an earlier run stored under the path
/// stays (a resumed run keeps the first copy).
pub async fn store_once(case: &Case, path: &str, source: &str, bytes: Vec<u8>) -> crate::Result<()> {
    let (case, path, source) = (case.clone(), path.to_string(), source.to_string());
    match blocking(move || case.store_bytes(&path, &source, &bytes)).await {
        Ok(_) | Err(kir_evidence::Error::AlreadyCollected { .. }) => Ok(()),
        Err(error) => Err(crate::Error::Case(error)),
    }
}

/// [`Case::entries`] off the async workers.
pub async fn entries(case: &Case) -> kir_evidence::Result<Vec<JournalEntry>> {
    let case = case.clone();
    blocking(move || case.entries()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_is_written_off_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let case = Case::create(dir.path().join("case"), kir_evidence::CaseInfo::new("t")).unwrap();
        let worker = std::thread::current().id();
        let thread = blocking(|| std::thread::current().id()).await;
        assert_ne!(thread, worker, "blocking work runs on another thread");
        record(&case, JournalRecord::new("test", "probe")).await.unwrap();
        assert!(entries(&case).await.unwrap().iter().any(|e| e.action == "probe"));
    }

    #[test]
    fn in_place_runs_without_a_runtime() {
        assert_eq!(in_place(|| 7), 7);
    }

    #[tokio::test]
    async fn in_place_runs_on_a_current_thread_runtime() {
        assert_eq!(in_place(|| 7), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn in_place_lets_other_tasks_run_on_a_multi_thread_runtime() {
        // With one worker, a task that blocked it outright would keep `other` from running.
        let (sender, receiver) = std::sync::mpsc::channel();
        let other = tokio::spawn(async move { sender.send(()).unwrap() });
        let got = in_place(|| receiver.recv_timeout(std::time::Duration::from_secs(10)));
        assert!(got.is_ok(), "the spawned task ran while this one was in blocking work");
        other.await.unwrap();
    }
}
