//! The decoder session: prefill the prompt, then one token at a time with the KV cache.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ort::session::{OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{Outlet, Tensor};
use tokenizers::Tokenizer;

use super::kv::{self, KvCache, KvMode, Rows};
use super::layout::{self, DecoderLayout, ModelConfig, PortInfo};
use super::sampling::{token_score, Sampler, TokenScore};
use super::stream::{repeats_itself, sentences_end};
use super::{
    ChatMessage, ChatTemplate, FinishReason, Flow, Generation, GenerationParams, LlmError,
    LlmOptions, Result, TextStream,
};

/// End-of-turn tokens of common chat formats; whichever the vocabulary has end a generation,
/// besides the config's `eos_token_id`.
const END_TOKENS: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end|>",
    "</s>",
];

/// A loaded decoder-only LLM with its tokenizer and chat template.
pub struct DecoderModel {
    model_path: PathBuf,
    tokenizer_path: PathBuf,
    session: Session,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    layout: DecoderLayout,
    stop_ids: Vec<u32>,
    /// How the KV cache is carried between steps (see `kv.rs`), decided at load.
    kv_mode: KvMode,
    /// While the load-time KV probe runs (ONNX Runtime's errors are expected then).
    probing: bool,
    /// The KV cache of the last prompt, so the next prompt sharing its start (the same
    /// system prompt) only runs its own tokens.
    cache: Option<PrefixCache>,
}

/// Token ids of a prompt and a copy of the cache after them (`[heads, len, dim]` each).
struct PrefixCache {
    ids: Vec<u32>,
    rows: Vec<Rows>,
}

/// Positions a shared cache is allocated with beyond its prompt (it doubles when full).
const KV_HEADROOM: usize = 128;

/// Most prompt tokens run at once in a prefill (see [`DecoderModel::prefill`]).
const PREFILL_CHUNK: usize = 64;
/// Shortest shared prompt start worth reusing from the cache.
const MIN_REUSE: usize = 8;

/// Where a generation is: its KV cache, which knows the next position.
pub struct DecodeState {
    kv: KvCache,
}

impl DecodeState {
    /// Tokens in the cache (prompt + generated).
    pub fn len(&self) -> usize {
        self.kv.len
    }
    pub fn is_empty(&self) -> bool {
        self.kv.len == 0
    }
}

impl std::fmt::Debug for DecoderModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecoderModel")
            .field("model", &self.model_path)
            .field("layout", &self.layout)
            .finish()
    }
}

impl DecoderModel {
    /// Load `dir/model.onnx`, `dir/tokenizer.json` and the chat template / configs beside them.
    /// Files are checked before ONNX Runtime is touched, so a half-installed model gives a
    /// message naming the missing file.
    pub fn load(dir: &Path, opts: &LlmOptions) -> Result<Self> {
        let model_path = dir.join("model.onnx");
        if !model_path.is_file() {
            return Err(LlmError::MissingFile {
                what: "model",
                path: model_path,
            });
        }
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(LlmError::MissingFile {
                what: "tokenizer",
                path: tokenizer_path,
            });
        }
        let template = ChatTemplate::load(dir)?;
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| LlmError::Tokenizer {
            path: tokenizer_path.clone(),
            reason: e.to_string(),
        })?;
        let cfg = ModelConfig::read(dir)?;

        let env = crate::onnx::load_environment(&opts.models_dir)?;
        let onnx_err = |source: ort::Error| LlmError::Onnx {
            path: model_path.clone(),
            source,
        };
        let builder = Session::builder(env).map_err(onnx_err)?;
        let (builder, providers) = super::session::configure(
            builder,
            opts.threads,
            opts.spin_threads,
            opts.optimization,
            &opts.execution_providers,
            &model_path,
        )
        .map_err(onnx_err)?;
        // The optimised graph with prepacked weights is cached for CPU only: a graph with an
        // accelerator's compiled nodes cannot be saved.
        let session = if providers.is_empty() {
            let variant = format!("llm opt={:?}", opts.optimization);
            crate::onnx::commit_cached(builder, &model_path, &variant)
        } else {
            let mut builder = builder;
            builder.commit_from_file(&model_path)
        }
        .map_err(onnx_err)?;

        let inputs = ports(session.inputs());
        let outputs = ports(session.outputs());
        let layout = layout::detect(&model_path, &inputs, &outputs, &cfg)?;

        let mut stop_ids = cfg.eos_ids.clone();
        let mut end_tokens: Vec<&str> = END_TOKENS.to_vec();
        if !template.eos_token.is_empty() {
            end_tokens.push(&template.eos_token);
        }
        stop_ids.extend(end_tokens.iter().filter_map(|t| tokenizer.token_to_id(t)));
        stop_ids.sort_unstable();
        stop_ids.dedup();
        tracing::info!(
            model = %model_path.display(),
            layers = layout.num_layers,
            kv_heads = layout.kv_heads,
            head_dim = layout.head_dim,
            position_ids = layout.has_position_ids,
            providers = ?providers,
            "LLM loaded"
        );
        let mut model = Self {
            model_path,
            tokenizer_path,
            session,
            tokenizer,
            template,
            layout,
            stop_ids,
            kv_mode: KvMode::Grow,
            probing: false,
            cache: None,
        };
        let verdict = kv::verdict_file(
            &crate::models::default_cache_dir(),
            &model.model_path,
            opts.threads,
        );
        let remembered = verdict.as_deref().and_then(kv::read_verdict);
        model.kv_mode = match remembered {
            Some(mode) => mode,
            None => {
                let mode = model.choose_kv_mode();
                if let Some(file) = &verdict {
                    kv::write_verdict(file, mode);
                }
                mode
            }
        };
        tracing::info!(model = %model.model_path.display(), kv = ?model.kv_mode, remembered = remembered.is_some(), "LLM KV cache");
        Ok(model)
    }

    /// The shared (in-place) KV cache when this model computes exactly the same logits with
    /// it as with the growing one (`kv::probe`), else growing.
    fn choose_kv_mode(&mut self) -> KvMode {
        let ids: Vec<u32> = match self.encode_text("Hello, how are you today?") {
            Ok(ids) if ids.len() >= 4 => ids[..4].to_vec(),
            _ => return KvMode::Grow,
        };
        kv::probe(|mode| {
            // ONNX Runtime's errors are expected while the shared cache is tried.
            self.probing = mode == KvMode::Shared;
            let r = (|| {
                let mut kv = self.new_cache(mode, 2)?;
                let a = self.step(&ids[..3], &mut kv)?;
                let b = self.step(&ids[3..], &mut kv)?;
                Ok((a, b))
            })();
            self.probing = false;
            r.map_err(|e: LlmError| e.to_string())
        })
    }

    /// How the KV cache is carried between steps.
    pub fn kv_mode(&self) -> KvMode {
        self.kv_mode
    }

    /// An empty cache for a generation of about `positions` tokens.
    fn new_cache(&self, mode: KvMode, positions: usize) -> Result<KvCache> {
        let l = &self.layout;
        KvCache::empty(
            l.past_names.len(),
            l.kv_heads,
            l.head_dim,
            mode,
            self.capacity_for(positions),
        )
        .map_err(|e| self.onnx(e))
    }

    /// Buffer length for `positions` tokens plus headroom, within the context window.
    fn capacity_for(&self, positions: usize) -> usize {
        let want = positions + KV_HEADROOM;
        match self.layout.max_positions {
            0 => want,
            limit => want.min(limit).max(positions),
        }
    }

    /// The `model.onnx` this decoder runs.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    pub fn layout(&self) -> &DecoderLayout {
        &self.layout
    }

    /// Token ids that end a generation.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The prompt text for `messages` (chat template applied, assistant turn opened).
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String> {
        self.template.render(messages)
    }

    /// Token ids of the chat-templated prompt. The template writes the special tokens itself,
    /// so the tokenizer adds none.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let prompt = self.template.render(messages)?;
        let enc = self
            .tokenizer
            .encode(prompt, false)
            .map_err(|e| LlmError::Tokenizer {
                path: self.tokenizer_path.clone(),
                reason: e.to_string(),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Logits at the last prompt position of the first step (for parity checks). Runs the
    /// whole prompt, without the prefix cache.
    pub fn first_step_logits(&mut self, messages: &[ChatMessage]) -> Result<Vec<f32>> {
        let ids = self.encode_chat(messages)?;
        let ids = self.fit_prompt(ids, 1);
        let mut kv = self.new_cache(self.kv_mode, ids.len())?;
        self.step(&ids, &mut kv)
    }

    /// Token ids of `text` as plain text (no special tokens added).
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode_plain(text)?.get_ids().to_vec())
    }

    /// The tokenizer's encoding of `text` as plain text (no special tokens added).
    fn encode_plain(&self, text: &str) -> Result<tokenizers::Encoding> {
        self.tokenizer
            .encode(text, false)
            .map_err(|e| LlmError::Tokenizer {
                path: self.tokenizer_path.clone(),
                reason: e.to_string(),
            })
    }

    /// The start of `text` that is at most `max_tokens` tokens long (all of it when shorter),
    /// cut at a character boundary. What the model sees of a request is bounded this way: a
    /// 4 KB request of Han characters is thousands of tokens, and a prefill's memory grows
    /// with the square of its length.
    pub fn clip_text<'t>(&self, text: &'t str, max_tokens: usize) -> Result<&'t str> {
        let enc = self.encode_plain(text)?;
        if enc.len() <= max_tokens {
            return Ok(text);
        }
        // Offsets are bytes of `text`; the first token left out starts where the cut goes.
        let mut cut = enc
            .get_offsets()
            .get(max_tokens)
            .map_or(text.len(), |&(start, _)| start.min(text.len()));
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Ok(&text[..cut])
    }

    /// The tokenizer (for building per-token tables such as constrained-decoding masks).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Vocabulary size as the model's logits see it (0 before the first step is unknown; the
    /// tokenizer's size with added tokens otherwise).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Keep a prompt inside the context window, leaving room for `reserve` new tokens. A prompt
    /// that does not fit loses its *start* (the most recent words matter most for an answer),
    /// with a warning — never an error.
    pub fn fit_prompt(&self, ids: Vec<u32>, reserve: usize) -> Vec<u32> {
        let limit = self.layout.max_positions;
        if limit == 0 {
            return ids;
        }
        let keep = limit
            .saturating_sub(reserve.clamp(1, limit / 2).max(1))
            .max(1);
        if ids.len() <= keep {
            return ids;
        }
        tracing::warn!(
            model = %self.model_path.display(),
            prompt_tokens = ids.len(),
            context = limit,
            kept = keep,
            "the prompt is longer than the model's context window; its start was cut off"
        );
        ids[ids.len() - keep..].to_vec()
    }

    /// Run a prompt; return the logits of its last token and the state to continue from. The
    /// longest start it shares with the previous prompt is taken from the prefix cache.
    pub fn prefill(&mut self, ids: &[u32]) -> Result<(Vec<f32>, DecodeState)> {
        if ids.is_empty() {
            return Err(self.bad_output("empty prompt"));
        }
        let reuse = match &self.cache {
            Some(c) => {
                let common = c.ids.iter().zip(ids).take_while(|(a, b)| a == b).count();
                // The last prompt token must run to give logits.
                let common = common.min(ids.len() - 1);
                if common >= MIN_REUSE {
                    common
                } else {
                    0
                }
            }
            None => 0,
        };
        let mut kv = match (&self.cache, reuse) {
            (Some(c), n) if n > 0 => {
                let l = &self.layout;
                KvCache::from_rows(
                    &c.rows,
                    n,
                    l.kv_heads,
                    l.head_dim,
                    self.kv_mode,
                    self.capacity_for(ids.len()),
                )
                .map_err(|e| self.onnx(e))?
            }
            _ => self.new_cache(self.kv_mode, ids.len())?,
        };
        // In chunks: the model returns logits for every position it runs (vocabulary × 4
        // bytes each, 196 KB for SmolLM2), so a 600-token prefill in one run held 118 MB of
        // logits of which only the last row is used.
        let mut logits = Vec::new();
        for chunk in ids[reuse..].chunks(PREFILL_CHUNK) {
            logits = self.step(chunk, &mut kv)?;
        }
        self.cache = kv.rows().map(|rows| PrefixCache {
            ids: ids.to_vec(),
            rows,
        });
        Ok((logits, DecodeState { kv }))
    }

    /// Feed `ids` (one sampled token, or several forced ones) after `state`; logits of the last.
    pub fn advance(&mut self, state: &mut DecodeState, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Err(self.bad_output("nothing to advance by"));
        }
        self.step(ids, &mut state.kv)
    }

    /// Room left in the context window after `state` (usize::MAX when unknown).
    pub fn room(&self, state: &DecodeState) -> usize {
        match self.layout.max_positions {
            0 => usize::MAX,
            limit => limit.saturating_sub(state.kv.len),
        }
    }

    /// Generation with the sampling of `params` (greedy by default). `on_text` receives the
    /// answer in order, in chunks that never split a character nor contain (part of) a stop
    /// string. `cancel` is polled before every model step, so a raised flag stops the
    /// generation within one token with [`FinishReason::Cancelled`], not an error.
    pub fn generate(
        &mut self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        cancel: &AtomicBool,
        on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        let prompt = self.encode_chat(messages)?;
        self.generate_from_ids(prompt, params, cancel, on_text)
    }

    /// [`DecoderModel::generate`] on an already tokenized prompt (benchmarks, raw prompts).
    pub fn generate_from_ids(
        &mut self,
        prompt: Vec<u32>,
        params: &GenerationParams,
        cancel: &AtomicBool,
        mut on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        self.generate_scored(prompt, params, cancel, |text, _| {
            if !text.is_empty() {
                on_text(text);
            }
            Flow::Go
        })
    }

    /// [`DecoderModel::generate`] with the model's confidence in each token: `on_step` gets,
    /// after every token, the new text that is safe to hand out (often empty) and the token's
    /// [`TokenScore`]; at the end once more with the held-back rest and no score. Returning
    /// [`Flow::Stop`] ends the generation ([`FinishReason::Stopped`]): the answer gate stops a
    /// sentence it rejected from costing more tokens.
    pub fn generate_scored(
        &mut self,
        prompt: Vec<u32>,
        params: &GenerationParams,
        cancel: &AtomicBool,
        mut on_step: impl FnMut(&str, Option<TokenScore>) -> Flow,
    ) -> Result<Generation> {
        let prompt = self.fit_prompt(prompt, params.max_tokens);
        let mut budget = params.max_tokens;
        if self.layout.max_positions > 0 {
            budget = budget.min(self.layout.max_positions.saturating_sub(prompt.len()));
        }
        let span = tracing::info_span!("llm_generate", prompt_tokens = prompt.len(), budget);
        let _guard = span.enter();

        let mut sampler = Sampler::new(params.sampling.clone());
        let mut stream = TextStream::new(&params.stop);
        let mut generated: Vec<u32> = Vec::new();
        let mut scores: Vec<TokenScore> = Vec::new();
        let mut full = String::new();
        let mut finish = FinishReason::Length;
        if cancel.load(Ordering::Relaxed) {
            finish = FinishReason::Cancelled;
        } else if budget > 0 {
            let (mut logits, mut state) = self.prefill(&prompt)?;
            let mut seen: Vec<u32> = prompt.clone();
            loop {
                if cancel.load(Ordering::Relaxed) {
                    finish = FinishReason::Cancelled;
                    break;
                }
                sampler.penalize(&mut logits, &seen);
                let next = sampler
                    .pick(&logits)
                    .ok_or_else(|| self.bad_output("the logits are all NaN (a damaged model?)"))?;
                if self.stop_ids.contains(&next) {
                    finish = FinishReason::EndOfTurn;
                    break;
                }
                let score = token_score(&logits, next);
                scores.push(score);
                generated.push(next);
                seen.push(next);
                full = self.decode(&generated)?;
                let enough = sentences_end(&full, params.max_sentences);
                if let Some(end) = enough {
                    full.truncate(end);
                }
                let (chunk, stopped) = stream.update(&full);
                if on_step(&chunk, Some(score)) == Flow::Stop {
                    finish = FinishReason::Stopped;
                    break;
                }
                if stopped {
                    finish = FinishReason::StopString;
                    break;
                }
                if enough.is_some() {
                    finish = FinishReason::Sentences;
                    break;
                }
                if repeats_itself(&generated) {
                    tracing::debug!("the model repeats one token; answer cut");
                    finish = FinishReason::Repetition;
                    break;
                }
                if generated.len() >= budget {
                    break;
                }
                if cancel.load(Ordering::Relaxed) {
                    finish = FinishReason::Cancelled;
                    break;
                }
                logits = self.advance(&mut state, &[next])?;
            }
        }
        let rest = stream.finish(&full);
        if !rest.is_empty() {
            let _ = on_step(&rest, None);
        }
        let text = stream.final_text(&full).to_owned();
        tracing::debug!(new_tokens = generated.len(), ?finish, "LLM generation done");
        Ok(Generation {
            text,
            prompt_tokens: prompt.len(),
            token_ids: generated,
            scores,
            finish,
        })
    }

    /// Text of `ids` (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| LlmError::Tokenizer {
                path: self.tokenizer_path.clone(),
                reason: e.to_string(),
            })
    }

    fn onnx(&self, source: ort::Error) -> LlmError {
        LlmError::Onnx {
            path: self.model_path.clone(),
            source,
        }
    }

    fn bad_output(&self, reason: impl Into<String>) -> LlmError {
        LlmError::BadOutput {
            path: self.model_path.clone(),
            reason: reason.into(),
        }
    }

    /// Run the model on `ids` placed after the `kv.len` cached tokens; `kv` then holds them
    /// too. Growing: the cache values move into the run and the `present.*` outputs move back
    /// into `kv` (nothing copied on our side). Shared: the buffers are the preallocated
    /// present outputs and a view of each the past input. Returns the logits of the last
    /// position.
    fn step(&mut self, ids: &[u32], kv: &mut KvCache) -> Result<Vec<f32>> {
        let s = ids.len();
        let past_len = kv.len;
        let total = past_len + s;
        kv.reserve(total, self.layout.max_positions)
            .map_err(|e| self.onnx(e))?;
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> =
            Vec::with_capacity(3 + kv.values.len());
        let ids64: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let t = Tensor::from_array(([1usize, s], ids64)).map_err(|e| self.onnx(e))?;
        inputs.push(("input_ids".into(), t.into()));
        if self.layout.has_attention_mask {
            let t = Tensor::from_array(([1usize, total], vec![1i64; total]))
                .map_err(|e| self.onnx(e))?;
            inputs.push(("attention_mask".into(), t.into()));
        }
        if self.layout.has_position_ids {
            let pos: Vec<i64> = (past_len..total).map(|p| p as i64).collect();
            let t = Tensor::from_array(([1usize, s], pos)).map_err(|e| self.onnx(e))?;
            inputs.push(("position_ids".into(), t.into()));
        }
        if kv.values.len() != self.layout.past_names.len() {
            return Err(self.bad_output("KV cache lost after a failed step"));
        }
        let mut selector = OutputSelector::default();
        if kv.capacity.is_some() {
            let views = kv.input_views().map_err(|e| self.onnx(e))?;
            for (name, view) in self.layout.past_names.iter().zip(views) {
                inputs.push((Cow::Owned(name.clone()), view.into()));
            }
            for (name, value) in self.layout.present_names.iter().zip(kv.values.drain(..)) {
                selector = selector.preallocate(name.clone(), value);
            }
        } else {
            for (name, value) in self.layout.past_names.iter().zip(kv.values.drain(..)) {
                inputs.push((Cow::Owned(name.clone()), value.into()));
            }
        }
        let mut options = RunOptions::new()
            .map_err(|e| self.onnx(e))?
            .with_outputs(selector);
        if self.probing {
            // The load-time probe of the shared cache fails on most attention kinds: that is
            // an answer, not an error for ONNX Runtime's log.
            options
                .set_log_level(ort::logging::LogLevel::Fatal)
                .map_err(|e| self.onnx(e))?;
        }

        let model_path = self.model_path.clone();
        let mut outputs = self
            .session
            .run_with_options(inputs, &options)
            .map_err(|source| LlmError::Onnx {
                path: model_path.clone(),
                source,
            })?;
        let bad = |reason: String| LlmError::BadOutput {
            path: model_path.clone(),
            reason,
        };
        let logits = {
            let value = outputs
                .get("logits")
                .ok_or_else(|| bad("no `logits` output".into()))?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| bad(format!("`logits` is not a float32 tensor: {e}")))?;
            let dims: &[i64] = shape;
            let vocab = dims
                .last()
                .copied()
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(0);
            if vocab == 0 || data.len() < vocab {
                return Err(bad(format!("`logits` has shape {dims:?}")));
            }
            data[data.len() - vocab..].to_vec()
        };
        for name in &self.layout.present_names {
            let value = outputs
                .remove(name)
                .ok_or_else(|| bad(format!("no `{name}` output")))?;
            kv.values.push(value);
        }
        kv.len = total;
        Ok(logits)
    }
}

fn ports(outlets: &[Outlet]) -> Vec<PortInfo> {
    outlets
        .iter()
        .map(|o| PortInfo {
            name: o.name().to_owned(),
            elem: o.dtype().tensor_type(),
            dims: o
                .dtype()
                .tensor_shape()
                .map(|s| s.to_vec())
                .unwrap_or_default(),
        })
        .collect()
}
