//! Work that leaves the reactor for a blocking thread (capture, recognition, the LLM, speech)
//! keeps the turn's span: the thread enters a `stage` span (`name` = the stage) under the turn
//! that started it, so whisper's, ONNX Runtime's and the stage's own logs carry the turn id,
//! and the stage's latency is logged when it ends (journal fields TURN_ID, STAGE, LATENCY_MS).

use std::time::Instant;

use tokio::task::JoinHandle;

/// `tokio::task::spawn_blocking` inside a `stage` span that is a child of the caller's span.
pub(super) fn stage<T, F>(name: &'static str, work: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::info_span!("stage", name);
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let start = Instant::now();
        let out = work();
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(latency_ms, "stage done");
        out
    })
}
