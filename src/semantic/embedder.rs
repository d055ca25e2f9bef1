//! A sentence embedder on ONNX Runtime: `tokenizer.json` + `model.onnx` taking `input_ids` and
//! `attention_mask` and giving `sentence_embedding` (pooled and L2-normalised inside the
//! graph), as `models/convert/e5_q4_to_onnx.py` builds it. e5 models want each text prefixed
//! with `query: ` for symmetric matching; the prefix comes from the model's `config.json`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use super::unigram::UnigramTokenizer;
use super::SemanticError;
use crate::llm::GraphOptimization;

/// Texts embedded in one run (padding waste stays small for short commands).
const BATCH: usize = 32;
/// Tokens kept of one text; commands are far shorter.
const MAX_TOKENS: usize = 128;

/// How the embedder's session runs.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    pub threads: usize,
    pub models_dir: PathBuf,
}

pub struct Embedder {
    session: Mutex<Session>,
    tokenizer: UnigramTokenizer,
    prefix: String,
    path: PathBuf,
    dim: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("path", &self.path)
            .field("dim", &self.dim)
            .finish()
    }
}

impl Embedder {
    /// Loads `dir/model.onnx`, `dir/tokenizer.json` and `dir/config.json`; `id` is the manifest
    /// id the errors name for the fix (`skylark models fetch ID`).
    pub fn load(dir: &Path, id: &str, opts: &EmbedderOptions) -> Result<Self, SemanticError> {
        let file = |name: &str| -> Result<PathBuf, SemanticError> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(SemanticError::MissingFile {
                    path: p,
                    model: id.to_string(),
                })
            }
        };
        let model_path = file("model.onnx")?;
        let tokenizer_path = file("tokenizer.json")?;
        let config_path = file("config.json")?;
        let damaged = |path: &Path, reason: String| SemanticError::Damaged {
            path: path.to_path_buf(),
            model: id.to_string(),
            reason,
        };
        let config: serde_json::Value = std::fs::read_to_string(&config_path)
            .map_err(|e| damaged(&config_path, e.to_string()))
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| damaged(&config_path, e.to_string()))
            })?;
        let prefix = config
            .get("query_prefix")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let dim = config
            .get("hidden_size")
            .and_then(serde_json::Value::as_u64)
            .and_then(|d| usize::try_from(d).ok())
            .filter(|&d| d > 0)
            .ok_or_else(|| damaged(&config_path, "no positive `hidden_size`".into()))?;
        let tokenizer = UnigramTokenizer::from_file(&tokenizer_path)
            .map_err(|e| damaged(&tokenizer_path, e))?;

        let env = crate::onnx::load_environment(&opts.models_dir)?;
        let onnx = |e: ort::Error| damaged(&model_path, e.to_string());
        let builder = Session::builder(env).map_err(onnx)?;
        let (builder, _) = crate::llm::configure_session(
            builder,
            opts.threads,
            false,
            GraphOptimization::All,
            &[],
            &model_path,
        )
        .map_err(onnx)?;
        let session =
            crate::onnx::commit_cached(builder, &model_path, "embedder opt=All").map_err(onnx)?;
        let embedder = Self {
            session: Mutex::new(session),
            tokenizer,
            prefix,
            path: model_path,
            dim,
        };
        // A model that loads but cannot run (wrong graph, truncated weights) fails here, at
        // load time, rather than on the first request.
        embedder.embed(&["ok"])?;
        Ok(embedder)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Unit-length embeddings of `texts`, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        let bad = |reason: String| SemanticError::Inference {
            path: self.path.clone(),
            reason,
        };
        let mut enc = Vec::with_capacity(texts.len());
        for t in texts {
            let ids = self
                .tokenizer
                .encode(&format!("{}{t}", self.prefix), MAX_TOKENS)
                .map_err(|e| bad(format!("tokenizer: {e}")))?;
            enc.push(ids);
        }
        let n = enc.len();
        let len = enc.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = vec![1i64; n * len]; // <pad>, masked out
        let mut mask = vec![0i64; n * len];
        for (row, e) in enc.iter().enumerate() {
            for (j, &id) in e.iter().enumerate() {
                ids[row * len + j] = i64::from(id);
                mask[row * len + j] = 1;
            }
        }
        let ids = Tensor::from_array(([n, len], ids)).map_err(|e| bad(e.to_string()))?;
        let mask = Tensor::from_array(([n, len], mask)).map_err(|e| bad(e.to_string()))?;
        let mut session = match self.session.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let outputs = session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(|e| bad(e.to_string()))?;
        let value = outputs
            .get("sentence_embedding")
            .ok_or_else(|| bad("no `sentence_embedding` output".into()))?;
        let (_, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| bad(format!("`sentence_embedding` is not float32: {e}")))?;
        if data.len() != n * self.dim {
            return Err(bad(format!(
                "`sentence_embedding` has {} values, expected {n} × {}",
                data.len(),
                self.dim
            )));
        }
        Ok(data.chunks(self.dim).map(<[f32]>::to_vec).collect())
    }
}
