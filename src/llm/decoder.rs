//! The decoder session: prefill the prompt, then one token at a time with the KV cache.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Outlet, Tensor};
use tokenizers::Tokenizer;

use super::layout::{self, DecoderLayout, ModelConfig, PortInfo};
use super::{
    ChatMessage, ChatTemplate, FinishReason, Generation, GenerationParams, LlmError, LlmOptions,
    Result, TextStream,
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
        let mut builder = Session::builder(env).map_err(onnx_err)?;
        if opts.threads > 0 {
            builder = builder
                .with_intra_threads(opts.threads)
                .map_err(|e| onnx_err(ort::Error::<()>::from(e)))?;
        }
        let session = builder.commit_from_file(&model_path).map_err(onnx_err)?;

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
            "LLM loaded"
        );
        Ok(Self {
            model_path,
            tokenizer_path,
            session,
            tokenizer,
            template,
            layout,
            stop_ids,
        })
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

    /// Logits at the last prompt position of the first step (for parity checks and for
    /// constrained decoding built on top).
    pub fn first_step_logits(&mut self, messages: &[ChatMessage]) -> Result<Vec<f32>> {
        let ids = self.encode_chat(messages)?;
        self.check_prompt(ids.len())?;
        let mut past = self.empty_past()?;
        self.step(&ids, 0, &mut past)
    }

    /// Greedy generation. `on_text` receives the answer in order, in chunks that never split
    /// a character nor contain (part of) a stop string. `cancel` is polled before every step;
    /// a raised flag ends the generation with [`FinishReason::Cancelled`], not an error.
    pub fn generate(
        &mut self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        cancel: &AtomicBool,
        mut on_text: impl FnMut(&str),
    ) -> Result<Generation> {
        let prompt = self.encode_chat(messages)?;
        self.check_prompt(prompt.len())?;
        let mut budget = params.max_tokens;
        if self.layout.max_positions > 0 {
            budget = budget.min(self.layout.max_positions - prompt.len());
        }
        let span = tracing::info_span!("llm_generate", prompt_tokens = prompt.len(), budget);
        let _guard = span.enter();

        let mut stream = TextStream::new(&params.stop);
        let mut generated: Vec<u32> = Vec::new();
        let mut full = String::new();
        let mut finish = FinishReason::Length;
        if cancel.load(Ordering::Relaxed) {
            finish = FinishReason::Cancelled;
        } else if budget > 0 {
            let mut past = self.empty_past()?;
            let mut logits = self.step(&prompt, 0, &mut past)?;
            let mut pos = prompt.len();
            loop {
                if cancel.load(Ordering::Relaxed) {
                    finish = FinishReason::Cancelled;
                    break;
                }
                let next = argmax(&logits).ok_or_else(|| self.bad_output("empty logits"))?;
                if self.stop_ids.contains(&next) {
                    finish = FinishReason::EndOfTurn;
                    break;
                }
                generated.push(next);
                full = self.decode(&generated)?;
                let (chunk, stopped) = stream.update(&full);
                if !chunk.is_empty() {
                    on_text(&chunk);
                }
                if stopped {
                    finish = FinishReason::StopString;
                    break;
                }
                if generated.len() >= budget {
                    break;
                }
                logits = self.step(&[next], pos, &mut past)?;
                pos += 1;
            }
        }
        let rest = stream.finish(&full);
        if !rest.is_empty() {
            on_text(&rest);
        }
        let text = stream.final_text(&full).to_owned();
        tracing::debug!(new_tokens = generated.len(), ?finish, "LLM generation done");
        Ok(Generation {
            text,
            prompt_tokens: prompt.len(),
            token_ids: generated,
            finish,
        })
    }

    fn check_prompt(&self, tokens: usize) -> Result<()> {
        let limit = self.layout.max_positions;
        if limit > 0 && tokens >= limit {
            return Err(LlmError::PromptTooLong {
                path: self.model_path.clone(),
                tokens,
                limit,
            });
        }
        Ok(())
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
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

    /// A zero-length cache: `[1, kv_heads, 0, head_dim]` per past input.
    fn empty_past(&self) -> Result<Vec<DynValue>> {
        let shape = [1usize, self.layout.kv_heads, 0, self.layout.head_dim];
        (0..self.layout.past_names.len())
            .map(|_| {
                Tensor::<f32>::from_array((shape, Vec::<f32>::new()))
                    .map(|t| t.into_dyn())
                    .map_err(|e| self.onnx(e))
            })
            .collect()
    }

    /// Run the model on `ids` placed after `past_len` cached tokens. The cache values move
    /// into the run and the `present.*` outputs move back into `past`: no tensor is copied.
    /// Returns the logits of the last position.
    fn step(&mut self, ids: &[u32], past_len: usize, past: &mut Vec<DynValue>) -> Result<Vec<f32>> {
        let s = ids.len();
        let total = past_len + s;
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> =
            Vec::with_capacity(3 + past.len());
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
        if past.len() != self.layout.past_names.len() {
            return Err(self.bad_output("KV cache lost after a failed step"));
        }
        for (name, value) in self.layout.past_names.iter().zip(past.drain(..)) {
            inputs.push((Cow::Owned(name.clone()), value.into()));
        }

        let model_path = self.model_path.clone();
        let mut outputs = self.session.run(inputs).map_err(|source| LlmError::Onnx {
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
            past.push(value);
        }
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

/// Index of the largest logit (the first on ties; NaN never wins).
fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in logits.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.and_then(|(i, _)| u32::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn argmax_picks_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), Some(1));
        assert_eq!(argmax(&[f32::NAN, 0.5, f32::NAN]), Some(1));
        assert_eq!(argmax(&[]), None);
    }
}
