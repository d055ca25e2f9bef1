//! Listening front end: voice activity detection (Silero VAD, energy fallback), end-of-speech
//! segmentation and wake-word spotting. Everything here works on 16 kHz mono `f32` samples in
//! [-1, 1]; resampling and capture belong to the audio layer, not here.
//!
//! Inference is synchronous: callers run it on a dedicated audio thread, never on the async
//! reactor.

pub mod listener;
pub mod segmenter;
pub mod service;
pub mod vad;
pub mod wakeword;

use std::path::{Path, PathBuf};

pub use listener::{BargeIn, BargeMode, ListenConfig, Listener, ListenerError};
pub use segmenter::{SegmenterConfig, SpeechSegment, VadEvent, VadSegmenter};
pub use service::{add_listening, MicCapture, OnWake, WakeLoop};
pub use vad::{EnergyVad, SileroVad, VoiceActivityDetector};
pub use wakeword::{Detection, WakeWordDetector};

/// Sample rate every listening model expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// Errors of the listening models. Each names the model file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{what} model not found at {path}. Fix: run `skylark models fetch`.")]
    ModelMissing { what: &'static str, path: PathBuf },
    #[error(
        "ONNX Runtime is not loaded, so the {what} model {path} cannot be opened. \
         Fix: call `skylark::onnx::init(models_dir)` first (the daemon does this at start)."
    )]
    RuntimeNotLoaded { what: &'static str, path: PathBuf },
    #[error(
        "could not load the {what} model {path}: {source}. Fix: run `skylark models verify`, \
         then `skylark models fetch` to replace a damaged file."
    )]
    ModelLoad {
        what: &'static str,
        path: PathBuf,
        source: ort::Error,
    },
    #[error("the {what} model {path} failed to run: {source}")]
    Inference {
        what: &'static str,
        path: PathBuf,
        source: ort::Error,
    },
    #[error(
        "the {what} model {path} returned an unexpected output ({detail}); \
         it is probably not the model skylark expects. Fix: run `skylark models fetch`."
    )]
    BadOutput {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("the {what} model takes frames of {expected} samples at 16 kHz, got {got}")]
    FrameSize {
        what: &'static str,
        expected: usize,
        got: usize,
    },
}

/// Open an ONNX session for a small streaming model. One intra-op thread: these models run
/// every few tens of milliseconds next to speech recognition, and extra threads would only
/// add wake-ups and contention on a 2-core head unit.
pub(crate) fn open_session(
    what: &'static str,
    path: &Path,
) -> Result<ort::session::Session, ListenError> {
    if !path.is_file() {
        return Err(ListenError::ModelMissing {
            what,
            path: path.to_path_buf(),
        });
    }
    let env = crate::onnx::environment().ok_or_else(|| ListenError::RuntimeNotLoaded {
        what,
        path: path.to_path_buf(),
    })?;
    let load_err = |source: ort::Error| ListenError::ModelLoad {
        what,
        path: path.to_path_buf(),
        source,
    };
    ort::session::Session::builder(env)
        .map_err(load_err)?
        .with_intra_threads(1)
        .map_err(|e| load_err(ort::Error::<()>::from(e)))?
        .with_inter_threads(1)
        .map_err(|e| load_err(ort::Error::<()>::from(e)))?
        .commit_from_file(path)
        .map_err(load_err)
}
