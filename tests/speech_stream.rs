//! An answer streamed by the real lite LLM reaches the speaker as it streams: the speaker is
//! handed the first chunk before the model has finished the answer, not the whole answer at the
//! end. The speaker here records what it is handed (a stand-in for the sound device, not for a
//! model: nothing is synthesised); the LLM is the real SmolLM2 of the models directory.
//!
//! `cargo test --release --test speech_stream`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use skylark::config::Config;
use skylark::engine::{
    AskOptions, CancelToken, Engine, EngineConfig, Event, Speaker, Stage, StageError, Stages,
};
use skylark::nlu::{Grammar, Language, Recognizer};

/// Records each chunk it is handed and when.
#[derive(Default)]
struct RecordingSpeaker {
    chunks: Mutex<Vec<(Instant, String)>>,
}

impl Speaker for RecordingSpeaker {
    fn speak(&self, text: &str, _: &Language, _: &CancelToken) -> Result<(), StageError> {
        self.chunks
            .lock()
            .map_err(|_| StageError("poisoned".into()))?
            .push((Instant::now(), text.to_string()));
        Ok(())
    }

    fn speak_stream(
        &self,
        text: &mut (dyn Iterator<Item = String> + Send),
        _: &Language,
        _: &CancelToken,
        first_audio: &(dyn Fn() + Sync),
    ) -> Result<(), StageError> {
        first_audio();
        for chunk in text {
            self.chunks
                .lock()
                .map_err(|_| StageError("poisoned".into()))?
                .push((Instant::now(), chunk));
        }
        Ok(())
    }
}

async fn turn_events(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
) -> (Vec<(Instant, String)>, String) {
    let mut chunks = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("the turn finishes")
            .expect("event");
        match e {
            Event::ResponseChunk { text, .. } => chunks.push((Instant::now(), text)),
            Event::TurnFinished { response, .. } => return (chunks, response),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_speaker_starts_on_the_first_chunk_of_a_streamed_answer() {
    let models = skylark::models::default_models_dir();
    // The answer gate is off: SmolLM2-135M's story does not pass it (nothing would stream);
    // what is tested here is how streamed text reaches the speaker.
    let mut config = Config::default();
    config.llm.gate = false;
    let llm = skylark::llm::load_configured(&config, &models)
        .unwrap_or_else(|| panic!("the lite LLM is missing: run `skylark models fetch`"));
    let speaker = Arc::new(RecordingSpeaker::default());
    let mut stages = Stages::text_only();
    stages.speaker = Stage::Ready(speaker.clone());
    let recognizer = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compiles");
    let engine = Engine::new(
        EngineConfig::from_config(&config).expect("config"),
        recognizer,
        stages,
    );
    engine.set_llm(Arc::new(llm), 4);

    // A command: its one response is spoken whole.
    let mut rx = engine.subscribe();
    engine
        .ask(
            "turn on the ac",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    let (_, response) = turn_events(&mut rx).await;
    let said: Vec<String> = speaker
        .chunks
        .lock()
        .unwrap()
        .drain(..)
        .map(|c| c.1)
        .collect();
    assert_eq!(said, vec![response]);

    // An open question: the LLM's answer streams, and so does what the speaker is handed.
    engine
        .ask(
            "Tell me a long story about a dragon.",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    let (events, response) = turn_events(&mut rx).await;
    let handed = speaker.chunks.lock().unwrap().clone();
    eprintln!(
        "answer {response:?}: {} chunks shown, {} handed to the speaker",
        events.len(),
        handed.len()
    );
    assert!(events.len() > 2, "the answer did not stream: {events:?}");
    let shown: String = events.iter().map(|c| c.1.as_str()).collect();
    let spoken: String = handed.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(spoken, shown, "the speaker says what the client was shown");
    assert!(handed.len() > 1, "handed all at once: {handed:?}");
    let (first_handed, last_shown) = (handed[0].0, events[events.len() - 1].0);
    assert!(
        first_handed < last_shown,
        "the speaker got its first chunk only after the answer was complete"
    );
}
