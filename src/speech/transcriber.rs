//! [`WhisperTranscriber`]: the engine's speech-recognition stage over whisper.cpp.
//!
//! English uses the configured English model (`asr.model_en`, whisper tiny.en by default:
//! small and fast), Mandarin the multilingual one (`asr.model_multilingual`). Each model is
//! loaded once, at start, and shared by every call (calls on one model take turns on its
//! decoder state). A model that is missing or corrupt only takes its language away: the stage
//! answers for the other, and says which file is at fault and how to fix it for this one.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::asr::{AsrOptions, TranscribeOptions, WhisperRecognizer};
use crate::config::Config;
use crate::engine::{Audio, CancelToken, StageError, Transcriber};
use crate::models::Manifest;
use crate::nlu::Language;

/// A loaded model, or why it could not be loaded (naming the file and the fix).
type Loaded = Result<Arc<WhisperRecognizer>, String>;

pub struct WhisperTranscriber {
    english: Loaded,
    mandarin: Loaded,
}

impl WhisperTranscriber {
    /// Loads the models `config` names from `models_dir`. `Err` when neither loads, with both
    /// reasons.
    pub fn load(config: &Config, models_dir: &Path) -> Result<WhisperTranscriber, String> {
        let manifest = Manifest::builtin().map_err(|e| e.to_string())?;
        let mut options = AsrOptions::default();
        if config.asr.threads > 0 {
            options.threads = config.asr.threads;
        }
        let load = |id: &str, language: &str| -> Loaded {
            let path = manifest.primary_path(models_dir, id).map_err(|e| e.to_string())?;
            let t = Instant::now();
            let opts = AsrOptions { language: language.into(), ..options.clone() };
            let r = WhisperRecognizer::load(&path, &opts).map_err(|e| e.to_string())?;
            tracing::info!(model = %path.display(), language, ms = t.elapsed().as_millis() as u64, "speech model loaded");
            Ok(Arc::new(r))
        };
        let english = load(&config.asr.model_en, "en");
        let mandarin = if config.asr.model_multilingual == config.asr.model_en {
            english.clone()
        } else {
            load(&config.asr.model_multilingual, "zh-CN")
        };
        // English still works from the multilingual model when the English one is missing.
        let english = match (english, &mandarin) {
            (Err(why), Ok(m)) => {
                tracing::warn!("{why}; English is recognised with the multilingual model {}", m.model_path().display());
                Ok(m.clone())
            }
            (e, _) => e,
        };
        match (&english, &mandarin) {
            (Err(en), Err(zh)) if en == zh => Err(en.clone()),
            (Err(en), Err(zh)) => Err(format!("{en}; {zh}")),
            _ => {
                if let Err(why) = &mandarin {
                    tracing::warn!("Mandarin speech recognition is not available: {why}");
                }
                Ok(WhisperTranscriber { english, mandarin })
            }
        }
    }

    fn model(&self, language: &Language) -> Result<&Arc<WhisperRecognizer>, String> {
        let loaded = if language.primary() == "zh" { &self.mandarin } else { &self.english };
        loaded.as_ref().map_err(|why| {
            format!("speech recognition in {language} is not available: {why}")
        })
    }
}

impl Transcriber for WhisperTranscriber {
    fn transcribe(
        &self,
        audio: &Audio,
        language: &Language,
        _cancel: &CancelToken,
    ) -> Result<String, StageError> {
        let model = self.model(language).map_err(StageError)?;
        let t = Instant::now();
        let opts = TranscribeOptions {
            language: Some(language.to_string()),
            ..TranscribeOptions::default()
        };
        let transcript = model
            .transcribe(&audio.samples, &opts)
            .map_err(|e| StageError(e.to_string()))?;
        let secs = audio.samples.len() as f64 / 16_000.0;
        tracing::info!(
            audio_s = secs,
            ms = t.elapsed().as_millis() as u64,
            model = %model.model_path().display(),
            text = %transcript.text,
            "transcribed"
        );
        Ok(transcript.text)
    }

    fn available(&self, language: &Language) -> Result<(), String> {
        self.model(language).map(|_| ())
    }
}
