//! The stages a turn calls that live in other modules (speech recognition, speech output,
//! capture), each behind a small trait so they plug in without the engine knowing the models.
//!
//! A stage that is absent is `None` in [`Stages`] with the reason, and the calls that need it
//! answer `NotReady` with that reason; turns that only *speak* their answer still finish, in
//! text only.

use std::sync::Arc;

use super::turn::CancelToken;
use crate::nlu::Language;

/// A stage failed; the message names the model or device and the fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StageError(pub String);

/// 16 kHz mono audio, samples in -1..1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
}

/// What command mode tells the recogniser about the active grammar
/// ([`Transcriber::transcribe_command`]; built by [`Engine::command_grammar`](super::Engine::command_grammar)).
#[derive(Default)]
pub struct CommandGrammar {
    /// Sentences the grammar accepts (templates and lists, `SetList` values included): what
    /// grammar-aware decoding primes the recogniser with.
    pub sentences: Vec<String>,
    /// The grammar's sentences that sound most like a transcript, best first; none when the
    /// transcript matches a template as it is. A recogniser that can weighs them against the
    /// audio and may answer with one of them instead of its first reading.
    #[allow(clippy::type_complexity)]
    pub closest: Option<Box<dyn Fn(&str) -> Alternatives + Send + Sync>>,
    /// The grammar as a space to search with the audio when none of the closest sentences
    /// fits: given the words so far, the words that can follow them and whether a sentence
    /// may end there (`nlu::Recognizer::next_words`).
    #[allow(clippy::type_complexity)]
    pub next_words: Option<Box<dyn Fn(&[&str]) -> (Vec<String>, bool) + Send + Sync>>,
}

/// The grammar's closest sentences to a transcript ([`CommandGrammar::closest`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alternatives {
    /// Best first.
    pub sentences: Vec<String>,
    /// Whether the transcript is understood as it is (the tolerant matcher accepts it): then
    /// only a sentence the audio supports better than the transcript should replace it.
    pub understood: bool,
    /// Whether the transcript matches a template word for word without a wildcard: then
    /// there is nothing to weigh or search.
    pub exact: bool,
}

impl std::fmt::Debug for CommandGrammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandGrammar")
            .field("sentences", &self.sentences.len())
            .field("closest", &self.closest.is_some())
            .field("next_words", &self.next_words.is_some())
            .finish()
    }
}

/// Speech → text. Blocking: the engine runs it on a blocking thread.
pub trait Transcriber: Send + Sync {
    fn transcribe(
        &self,
        audio: &Audio,
        language: &Language,
        cancel: &CancelToken,
    ) -> Result<String, StageError>;

    /// Speech → text for a command (after the wake word, `StartListening`,
    /// `recognize --audio`): a recogniser may use the active `grammar` to favour its words
    /// (grammar-aware decoding) or to weigh the grammar's closest sentences against the audio,
    /// while still transcribing anything else freely. Without such support, as
    /// [`transcribe`](Self::transcribe).
    fn transcribe_command(
        &self,
        audio: &Audio,
        language: &Language,
        grammar: &CommandGrammar,
        cancel: &CancelToken,
    ) -> Result<String, StageError> {
        let _ = grammar;
        self.transcribe(audio, language, cancel)
    }

    /// Whether `language` can be transcribed; `Err` says why not (e.g. its model is missing,
    /// and the fix). Callers answer `NotReady` with it.
    fn available(&self, _language: &Language) -> Result<(), String> {
        Ok(())
    }
}

/// Text → sound on the speaker, to the end or until `cancel`. Blocking.
pub trait Speaker: Send + Sync {
    fn speak(
        &self,
        text: &str,
        language: &Language,
        cancel: &CancelToken,
    ) -> Result<(), StageError>;

    /// Text that arrives in chunks (an answer streamed by a model), spoken as it comes: a
    /// speaker that can should start on the first complete clause rather than wait for the
    /// whole text. `text` blocks until the next chunk and ends with the answer.
    /// `first_audio` is called (from any thread) when the first audio goes to the output, for
    /// the turn's trace; a speaker that cannot tell does not call it. The default waits for
    /// all of the text, then [`speak`](Self::speak)s.
    fn speak_stream(
        &self,
        text: &mut (dyn Iterator<Item = String> + Send),
        language: &Language,
        cancel: &CancelToken,
        first_audio: &(dyn Fn() + Sync),
    ) -> Result<(), StageError> {
        let _ = first_audio;
        let whole: String = text.collect();
        self.speak(&whole, language, cancel)
    }

    /// Whether `language` can be spoken; `Err` says why not. A turn in such a language answers
    /// in text only, as with no speaker.
    fn available(&self, _language: &Language) -> Result<(), String> {
        Ok(())
    }

    /// Loudness from now on, 0 (silent) to 1 (as synthesised); also for an utterance that is
    /// playing. A speaker without a volume ignores it.
    fn set_volume(&self, _volume: f32) {}
}

/// Microphone → one utterance (until end of speech or `cancel`). Blocking.
pub trait Capture: Send + Sync {
    fn capture_utterance(&self, cancel: &CancelToken) -> Result<Audio, StageError>;

    /// As [`capture_utterance`](Self::capture_utterance), handing `partial` the utterance so
    /// far every now and then while the user speaks (the turn decodes it for partial
    /// `Transcript`s; that runs on the capturing thread, the audio waits in a ring buffer).
    fn capture_with_partials(
        &self,
        cancel: &CancelToken,
        partial: &mut dyn FnMut(&Audio),
    ) -> Result<Audio, StageError> {
        let _ = partial;
        self.capture_utterance(cancel)
    }
}

/// A stage, or why it is missing.
pub enum Stage<T: ?Sized> {
    Ready(Arc<T>),
    Missing(String),
}

impl<T: ?Sized> Clone for Stage<T> {
    fn clone(&self) -> Self {
        match self {
            Stage::Ready(s) => Stage::Ready(s.clone()),
            Stage::Missing(why) => Stage::Missing(why.clone()),
        }
    }
}

/// The pluggable stages of an engine.
#[derive(Clone)]
pub struct Stages {
    pub transcriber: Stage<dyn Transcriber>,
    pub speaker: Stage<dyn Speaker>,
    pub capture: Stage<dyn Capture>,
    /// Whether a wake-word detector is available (`WakeWordEnabled` can only be turned on then).
    pub wake_word: Option<String>,
}

impl Stages {
    /// No speech stage: what this build has until the speech modules are wired in.
    pub fn text_only() -> Stages {
        const NOT_BUILT: &str = "this build of skylark does not include it yet";
        Stages {
            transcriber: Stage::Missing(format!(
                "speech recognition is not available: {NOT_BUILT}"
            )),
            speaker: Stage::Missing(format!("speech output is not available: {NOT_BUILT}")),
            capture: Stage::Missing(format!("microphone capture is not available: {NOT_BUILT}")),
            wake_word: None,
        }
    }

    /// Why each missing stage is missing, one line each (empty when all are ready).
    pub fn missing(&self) -> Vec<String> {
        let mut why = Vec::new();
        for stage in [
            self.transcriber.missing(),
            self.speaker.missing(),
            self.capture.missing(),
        ]
        .into_iter()
        .flatten()
        {
            why.push(stage.to_string());
        }
        why
    }
}

impl<T: ?Sized> Stage<T> {
    /// Why the stage is missing, or `None` when it is ready.
    pub fn missing(&self) -> Option<&str> {
        match self {
            Stage::Ready(_) => None,
            Stage::Missing(why) => Some(why),
        }
    }
}
