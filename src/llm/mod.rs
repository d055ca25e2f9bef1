//! The local "lite" LLM: a decoder-only ONNX model with a KV cache, its tokenizer and chat
//! template.
//!
//! What this module owns: loading a decoder exported in a supported I/O layout (detected from
//! the session, not hard-coded to one model), rendering the model's own chat template,
//! prefill + single-token decode with the cache fed back without copies, stopping, and
//! streaming text in UTF-8-safe chunks. What it must not know: audio, D-Bus, intents (the NLU
//! layer asks it for text), or where models are downloaded from (`models` does that).
//!
//! Inference here is synchronous and CPU-bound: callers run it on a blocking thread and stop
//! it with the cancel flag.

mod chat;
pub mod cloud;
mod constrain;
mod decoder;
pub mod gate;
pub mod intent;
mod kv;
mod layout;
pub mod sampling;
mod session;
mod stage;
mod stream;

use std::path::PathBuf;

pub use chat::ChatTemplate;
pub use constrain::accepted_intent_json;
pub use decoder::{DecodeState, DecoderModel};
pub use gate::{GateSettings, GateStep, SentenceGate};
pub use intent::{IntentEngine, IntentOptions, LlmIntent, Opinions};
pub use kv::KvMode;
pub use layout::{DecoderLayout, KvElement};
pub use sampling::{SamplingParams, TokenScore};
pub use session::{available_providers, configure as configure_session, GraphOptimization};
pub use stage::{load_configured, LiteLlm, LiteLlmSettings};
pub use stream::TextStream;

/// Where the default lite model lives, relative to the models directory.
pub const DEFAULT_MODEL_SUBDIR: &str = "llm/smollm2-135m-instruct";

/// One turn of a conversation, as chat templates expect it (`role` is `system`, `user` or
/// `assistant`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// How a model is loaded.
#[derive(Debug, Clone)]
pub struct LlmOptions {
    /// Intra-op threads for ONNX Runtime; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// Where the ONNX Runtime library is found (see [`crate::onnx::init`]).
    pub models_dir: PathBuf,
    /// ONNX Runtime graph optimisation level.
    pub optimization: GraphOptimization,
    /// Execution providers to try in order (`xnnpack`, `openvino`, `qnn`, ...; `cpu` ends the
    /// list). CPU is always the fallback; an unavailable provider is a warning.
    pub execution_providers: Vec<String>,
    /// Let ONNX Runtime's worker threads spin between operators. Faster when the model has
    /// the cores to itself (SmolLM2-135M, 2 threads: 47–51 vs 35–39 tokens/s here), much
    /// slower when another process keeps a core busy (24 vs 34–40 tokens/s).
    pub spin_threads: bool,
}

impl Default for LlmOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            models_dir: crate::models::default_models_dir(),
            optimization: GraphOptimization::All,
            execution_providers: vec!["cpu".into()],
            spin_threads: true,
        }
    }
}

/// What one generation may do.
#[derive(Debug, Clone)]
pub struct GenerationParams {
    /// Upper bound on new tokens (also bounded by the model's context length).
    pub max_tokens: usize,
    /// Text that ends the answer; it is not part of the returned text.
    pub stop: Vec<String>,
    /// How tokens are picked (greedy by default).
    pub sampling: SamplingParams,
    /// End the answer after this many sentences (0: no limit). A spoken answer of one or two
    /// sentences is what a driver can listen to; small models ramble on.
    pub max_sentences: usize,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            stop: Vec::new(),
            sampling: SamplingParams::default(),
            max_sentences: 0,
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model emitted an end-of-turn / end-of-text token.
    EndOfTurn,
    /// One of [`GenerationParams::stop`] appeared.
    StopString,
    /// `max_tokens` or the context length was reached.
    Length,
    /// The cancel flag was raised (barge-in, `Cancel`, shutdown).
    Cancelled,
    /// [`GenerationParams::max_sentences`] sentences were said.
    Sentences,
    /// The model repeated one token over and over; the answer was cut.
    Repetition,
    /// The caller's step callback said [`Flow::Stop`] (the answer gate rejected a sentence).
    Stopped,
}

/// What a step callback of [`DecoderModel::generate_scored`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Go,
    Stop,
}

/// The outcome of [`DecoderModel::generate`].
#[derive(Debug, Clone)]
pub struct Generation {
    /// The answer, without the stop token or stop string.
    pub text: String,
    /// Tokens of the rendered prompt.
    pub prompt_tokens: usize,
    /// Ids of the generated tokens (the end token excluded).
    pub token_ids: Vec<u32>,
    /// The model's confidence in each of them (same order and length as `token_ids`).
    pub scores: Vec<TokenScore>,
    pub finish: FinishReason,
}

/// Errors of the LLM module. Each names the file or model concerned and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("LLM {what} not found at {path}. Fix: run `skylark models fetch` to install the lite model.")]
    MissingFile { what: &'static str, path: PathBuf },
    #[error(transparent)]
    Runtime(#[from] crate::onnx::RuntimeError),
    #[error("ONNX Runtime failed on LLM model {path}: {source}. Fix: run `skylark models verify`; if it reports a damaged file, `skylark models fetch` reinstalls it.")]
    Onnx { path: PathBuf, source: ort::Error },
    #[error("LLM tokenizer {path} could not be used: {reason}. Fix: run `skylark models fetch` to reinstall it.")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("LLM chat template from {path} failed: {reason}")]
    Template { path: PathBuf, reason: String },
    #[error(
        "LLM config {path} is invalid: {reason}. Fix: run `skylark models fetch` to reinstall it."
    )]
    Config { path: PathBuf, reason: String },
    #[error(
        "LLM model {path} has an unsupported input/output layout: {reason}.\n\
         Supported: decoder-only models with `input_ids`, optional `attention_mask` and \
         `position_ids`, `past_key_values.N.key/value` -> `logits`, `present.N.key/value` \
         (Hugging Face Optimum or onnxruntime-genai export).\n\
         Found inputs: {inputs:?}\nFound outputs: {outputs:?}"
    )]
    UnsupportedLayout {
        path: PathBuf,
        reason: String,
        inputs: Vec<String>,
        outputs: Vec<String>,
    },
    #[error("the prompt has {tokens} tokens but LLM model {path} holds at most {limit}")]
    PromptTooLong {
        path: PathBuf,
        tokens: usize,
        limit: usize,
    },
    #[error("LLM model {path} returned unexpected output: {reason}")]
    BadOutput { path: PathBuf, reason: String },
}

pub type Result<T, E = LlmError> = std::result::Result<T, E>;
