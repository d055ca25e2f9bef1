//! Speech recognition: 16 kHz mono audio in, text out.
//!
//! The one implementation is whisper.cpp through `whisper-rs` ([`WhisperRecognizer`]); the
//! types here (options, transcript, errors) are what the engine and the adapters see, so a
//! second recogniser can slot in behind the same shape. Recognition is synchronous, CPU-bound
//! work: callers run it on a blocking thread, never on the async reactor.

mod cer;
mod ggml_check;
mod prompt;
mod whisper;

use std::path::PathBuf;

pub use whisper::{Explore, Fit, GrammarWalk, TextScore, Weighed, WhisperRecognizer};

pub use cer::{cer, char_edits};
pub use prompt::command_prompt;
pub use whisper::SIMPLIFIED_CHINESE_PROMPT;

/// How a recogniser is set up once, at load time.
#[derive(Debug, Clone)]
pub struct AsrOptions {
    /// CPU threads whisper.cpp may use for one transcription.
    pub threads: usize,
    /// Default spoken language, BCP-47 (`en`, `zh-CN`; `zh` and `zh-Hans` mean `zh-CN`), or
    /// `auto` to let whisper detect it. [`TranscribeOptions::language`] overrides it per call.
    pub language: String,
    /// Probability above which whisper's "no speech" token makes a segment count as silence.
    pub no_speech_threshold: f32,
}

impl Default for AsrOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            threads: cores.clamp(1, 4),
            language: "en".into(),
            no_speech_threshold: 0.6,
        }
    }
}

/// Per-utterance choices.
#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// Overrides [`AsrOptions::language`] for this call.
    pub language: Option<String>,
    /// Text that primes the decoder (names, a style). For Mandarin a Simplified-Chinese prompt
    /// is used when none is given, because whisper otherwise often writes Traditional.
    pub initial_prompt: Option<String>,
    /// How much of whisper's 30 s encoder window to run.
    pub audio_ctx: AudioContext,
    /// Greedy decoding or beam search.
    pub search: Search,
}

/// How the decoder picks tokens. Beam search keeps `beam_size` hypotheses and is what
/// whisper-cli runs by default (beam 5); it costs roughly one extra decoder pass per beam, which
/// for a short command is small beside the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Search {
    /// One hypothesis, the most likely token each step: the fastest.
    #[default]
    Greedy,
    /// whisper.cpp's beam search with this many beams (2 to 8).
    Beam { beam_size: u32 },
}

/// Whisper always encodes a 30 s window (1500 frames, 50 a second). For a 2 s command most of
/// that is padding, so by default only the frames the utterance needs are encoded, plus a
/// margin: a context cut right at the last word makes whisper garble it or repeat itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioContext {
    /// The full 30 s window: slowest, the way whisper was trained. For long dictation.
    Full,
    /// 50 frames per second of audio plus `margin` frames, capped at 1500.
    Fit { margin: u32 },
}

impl Default for AudioContext {
    fn default() -> Self {
        AudioContext::Fit { margin: 64 }
    }
}

/// What was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The recognised text, trimmed; empty when nothing was said.
    pub text: String,
    /// Language code whisper decoded in (`en`, `zh`, ...).
    pub language: String,
    /// Whisper's probability that the audio holds no speech: the highest over the segments,
    /// or 1.0 when whisper discarded all audio as non-speech.
    pub no_speech_prob: f32,
    pub segments: Vec<TranscriptSegment>,
}

/// One decoded stretch of audio, with times in milliseconds from the start of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptSegment {
    pub text: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub no_speech_prob: f32,
}

/// Why recognition could not run. Model problems name the file and the command that fixes them.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("speech model not found: {path}. Fix: run `skylark models fetch`")]
    ModelMissing { path: PathBuf },
    #[error(
        "speech model {path} is not a usable whisper ggml model ({reason}); it may be corrupt \
         or truncated. Fix: run `skylark models fetch` (and `skylark models verify`)"
    )]
    ModelCorrupt { path: PathBuf, reason: String },
    #[error("speech model {path} could not be read: {source}")]
    ModelIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("language {language:?} is not one whisper knows (use e.g. `en`, `zh-CN` or `auto`)")]
    UnknownLanguage { language: String },
    #[error(
        "speech model {path} is English-only and cannot recognise {language:?}. Fix: use a \
         multilingual model such as ggml-base-q8_0.bin (`skylark models fetch`)"
    )]
    LanguageNotInModel { path: PathBuf, language: String },
    #[error("invalid audio for speech recognition: {reason}")]
    InvalidAudio { reason: String },
    #[error("initial prompt must not contain NUL characters")]
    InvalidPrompt,
    #[error("whisper failed while {stage}: {source}")]
    Whisper {
        stage: &'static str,
        #[source]
        source: whisper_rs::WhisperError,
    },
    #[error("the speech recogniser is unusable after an earlier failure in another thread")]
    Poisoned,
}

/// The speech-recognition stage as the engine sees it, so tests and a future second
/// recogniser plug in without the engine knowing whisper. Implementations are shared across
/// threads; each call is blocking, CPU-bound work.
pub trait SpeechRecognizer: Send + Sync {
    /// Transcribe one utterance of 16 kHz mono audio in [-1, 1].
    fn transcribe(&self, audio: &[f32], opts: &TranscribeOptions) -> Result<Transcript, AsrError>;
}

impl SpeechRecognizer for WhisperRecognizer {
    fn transcribe(&self, audio: &[f32], opts: &TranscribeOptions) -> Result<Transcript, AsrError> {
        WhisperRecognizer::transcribe(self, audio, opts)
    }
}
