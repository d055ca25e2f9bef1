//! The lite LLM as the engine's language-model stage: one loaded model behind a lock (turns
//! take turns on it), the intent fallback and spoken answers with the config's settings.

use std::path::Path;
use std::sync::Mutex;

use super::gate::{GateSettings, GateStep, SentenceGate};
use super::intent::{answer_messages, IntentEngine, IntentOptions, Opinions};
use super::{DecoderModel, Flow, GenerationParams, LlmOptions, Result, SamplingParams};
use crate::engine::{CancelToken, GateReason, LanguageModel, ModelAnswer, ModelIntent, StageError};
use crate::nlu::{IntentCatalog, Language};

/// What the config decides about the LLM's two jobs.
#[derive(Debug, Clone)]
pub struct LiteLlmSettings {
    pub intent: IntentOptions,
    pub answer: GenerationParams,
    /// System prompt of answers ("": the model's own default).
    pub answer_prompt: String,
    /// The model sees at most this many tokens of a request (`llm.max_request_tokens`).
    pub max_request_tokens: usize,
    /// What an answer must pass to be said (`llm.gate_*`).
    pub gate: GateSettings,
}

impl LiteLlmSettings {
    pub fn from_config(c: &crate::config::LlmConfig) -> Self {
        Self {
            intent: IntentOptions {
                threshold: c.intent_threshold,
                examples: c.intent_examples,
                list_intents: c.intent_list_catalog,
                shortlist: c.intent_shortlist,
                retrieval_threshold: c.intent_retrieval_threshold,
                ..IntentOptions::default()
            },
            answer: GenerationParams {
                max_tokens: c.max_tokens,
                stop: vec!["\n\n".into()],
                max_sentences: c.max_sentences,
                sampling: SamplingParams {
                    temperature: c.temperature,
                    top_k: c.top_k,
                    top_p: c.top_p,
                    repetition_penalty: c.repetition_penalty,
                    ..SamplingParams::default()
                },
            },
            answer_prompt: c.answer_prompt.clone(),
            max_request_tokens: c.max_request_tokens,
            gate: GateSettings {
                enabled: c.gate,
                min_logprob: c.gate_min_logprob,
                min_script_share: c.gate_min_script_share,
                max_repetition: c.gate_max_repetition,
                max_echo: c.gate_max_echo,
            },
        }
    }
}

pub struct LiteLlm {
    model: Mutex<DecoderModel>,
    intents: IntentEngine,
    settings: LiteLlmSettings,
}

impl LiteLlm {
    /// Load the model in `dir` and build its constrained-decoding tables.
    pub fn load(dir: &Path, opts: &LlmOptions, settings: LiteLlmSettings) -> Result<Self> {
        let model = DecoderModel::load(dir, opts)?;
        let intents = IntentEngine::new(&model);
        Ok(Self {
            model: Mutex::new(model),
            intents,
            settings,
        })
    }

    fn model(&self) -> std::sync::MutexGuard<'_, DecoderModel> {
        match self.model.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The start of `text` the model is shown: at most `max_request_tokens` tokens. Commands
    /// and questions are far shorter; a longer request is a paste or an attack, and its
    /// prefill would cost memory with the square of its length (a 4 KB Han request took the
    /// daemon from 0.7 to 3.6 GB).
    fn clip<'t>(
        &self,
        model: &DecoderModel,
        text: &'t str,
    ) -> std::result::Result<&'t str, StageError> {
        let max = self.settings.max_request_tokens;
        let clipped = model
            .clip_text(text, max)
            .map_err(|e| StageError(e.to_string()))?;
        if clipped.len() < text.len() {
            static CLIPPED: crate::logging::RateLimit = crate::logging::RateLimit::new();
            if let Some(suppressed) = CLIPPED.allow() {
                tracing::warn!(
                    bytes = text.len(),
                    kept = clipped.len(),
                    suppressed,
                    "a request longer than llm.max_request_tokens ({max}) was cut for the language model"
                );
            }
        }
        Ok(clipped)
    }
}

impl LiteLlm {
    /// Both opinions of the intent fallback on `text`, before its thresholds decide
    /// ([`super::intent::Opinions::decide`] with `settings().intent`): for fitting those
    /// thresholds on a labelled set without a decode per candidate threshold.
    pub fn intent_opinions(
        &self,
        text: &str,
        catalog: &IntentCatalog,
        cancel: &CancelToken,
    ) -> std::result::Result<Opinions, StageError> {
        self.on_model(text, |intents, model, text, opts| {
            intents.opinions(model, text, catalog, opts, cancel.flag())
        })
    }

    /// `job` on the model (locked) with `text` clipped to `llm.max_request_tokens`; the
    /// memory the call freed goes back to the system after it.
    fn on_model<T>(
        &self,
        text: &str,
        job: impl FnOnce(&IntentEngine, &mut DecoderModel, &str, &IntentOptions) -> Result<T>,
    ) -> std::result::Result<T, StageError> {
        let mut model = self.model();
        let text = self.clip(&model, text)?;
        let out = job(&self.intents, &mut model, text, &self.settings.intent)
            .map_err(|e| StageError(e.to_string()))?;
        drop(model);
        crate::alloc::give_back();
        Ok(out)
    }

    /// What the config decided about the model's two jobs.
    pub fn settings(&self) -> &LiteLlmSettings {
        &self.settings
    }
}

impl LanguageModel for LiteLlm {
    fn intent(
        &self,
        text: &str,
        catalog: &IntentCatalog,
        cancel: &CancelToken,
    ) -> std::result::Result<Option<ModelIntent>, StageError> {
        let r = self.on_model(text, |intents, model, text, opts| {
            intents.recognize(model, text, catalog, opts, cancel.flag())
        })?;
        tracing::info!(named = %r.named, confidence = r.confidence, nearest_request = r.retrieved, json = %r.json, "LLM intent");
        Ok((!r.intent.is_empty()).then_some(ModelIntent {
            intent: r.intent,
            slots: r.slots,
            confidence: r.confidence,
        }))
    }

    fn answer(
        &self,
        question: &str,
        language: &Language,
        cancel: &CancelToken,
        on_chunk: &mut dyn FnMut(&str),
    ) -> std::result::Result<ModelAnswer, StageError> {
        let mut model = self.model();
        let question = self.clip(&model, question)?;
        let mut gate = SentenceGate::new(question, language, self.settings.gate.clone());
        let prompt = model
            .encode_chat(&answer_messages(question, &self.settings.answer_prompt))
            .map_err(|e| StageError(e.to_string()))?;
        let g = model
            .generate_scored(
                prompt,
                &self.settings.answer,
                cancel.flag(),
                |text, score| match gate.push(text, score) {
                    GateStep::Hold => Flow::Go,
                    GateStep::Say(s) => {
                        on_chunk(&s);
                        if gate.rejected() {
                            Flow::Stop
                        } else {
                            Flow::Go
                        }
                    }
                    GateStep::Stop => Flow::Stop,
                },
            )
            .map_err(|e| StageError(e.to_string()))?;
        drop(model);
        crate::alloc::give_back();
        let (tail, verdict) = gate.finish(g.finish);
        if !tail.is_empty() {
            on_chunk(&tail);
        }
        if verdict.reason.is_some() {
            tracing::info!(
                reason = verdict.reason.map(GateReason::as_str),
                answer = %g.text,
                said = %gate.said(),
                "the answer gate held the model's answer back"
            );
        }
        Ok(ModelAnswer {
            text: gate.said().trim().to_string(),
            verdict,
        })
    }
}

/// The LLM the config asks for, loaded from `models_dir/llm/<llm.model>`; `None` (logged
/// once, with the fix) when disabled, missing or broken — the grammar then answers alone.
pub fn load_configured(config: &crate::config::Config, models_dir: &Path) -> Option<LiteLlm> {
    let c = &config.llm;
    if !c.enabled {
        tracing::info!("the lite LLM is disabled (llm.enabled = false); the grammar answers alone");
        return None;
    }
    let dir = models_dir.join("llm").join(&c.model);
    let opts = LlmOptions {
        threads: if c.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
        } else {
            c.threads
        },
        models_dir: models_dir.to_path_buf(),
        optimization: super::GraphOptimization::parse(&c.graph_optimization).unwrap_or_default(),
        execution_providers: c.execution_providers.clone(),
        spin_threads: c.spin_threads,
    };
    let t = std::time::Instant::now();
    match LiteLlm::load(&dir, &opts, LiteLlmSettings::from_config(c)) {
        Ok(l) => {
            tracing::info!(model = %dir.display(), elapsed = ?t.elapsed(), "lite LLM ready (intent fallback and answers)");
            Some(l)
        }
        Err(e) => {
            tracing::warn!("the lite LLM is not available, the grammar answers alone: {e}");
            None
        }
    }
}
