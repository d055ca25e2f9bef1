//! The semantic tier: between the exact grammar and the lite LLM, a small sentence-embedding
//! model finds the grammar sentences nearest in meaning to a request the templates missed
//! ("I'm starving, anything good to eat around"), and takes their intent when they are close
//! enough and agree. Slots come from what the sentence states (the grammar's lists and
//! numbers, [`crate::nlu::Recognizer::stated_slots`]); the engine asks the LLM, constrained
//! to the chosen intent, for required slots the sentence does not state.
//!
//! The index is the grammar's own generated sentences (`nlu::samples`) plus the open
//! questions the LLM tier knows and requests the car cannot do (`none` anchors,
//! [`none_anchors`]), embedded once per language and grammar generation; an embedding is
//! kept per text, so a dynamic list update embeds only new texts.
//! No model here is trained on the catalog: a user's own grammar files teach it their
//! intents too.

mod embedder;
mod index;
mod unigram;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use embedder::{Embedder, EmbedderOptions};
pub use index::{decide, Decision, Neighbour, SemanticIndex};
pub use unigram::UnigramTokenizer;

use crate::engine::{SemanticIntent, SemanticMatcher, StageError};
use crate::nlu::{Language, Recognizer};

#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    #[error("sentence-embedding model file {path} is missing. Fix: run `skylark models fetch {model}` (or set semantic.enabled = false)")]
    MissingFile { path: PathBuf, model: String },
    #[error("sentence-embedding model file {path} could not be used: {reason}. Fix: run `skylark models verify`, then `skylark models fetch {model}` to reinstall it")]
    Damaged {
        path: PathBuf,
        model: String,
        reason: String,
    },
    #[error(transparent)]
    Runtime(#[from] crate::onnx::RuntimeError),
    #[error("sentence-embedding model {path} failed: {reason}")]
    Inference { path: PathBuf, reason: String },
}

/// How the tier decides (`[semantic]` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticSettings {
    /// The nearest sentence must be at least this alike (cosine, 0..1).
    pub threshold: f32,
    /// The threshold of a language (primary subtag), when it has its own.
    pub thresholds: std::collections::BTreeMap<String, f32>,
    /// ...and this much more alike than the nearest sentence of any other intent (or open
    /// question).
    pub margin: f32,
    /// The margin of a language (primary subtag), when it has its own.
    pub margins: std::collections::BTreeMap<String, f32>,
    /// Neighbours read.
    pub k: usize,
}

impl SemanticSettings {
    /// These settings with the threshold and margin of `language`.
    pub fn for_language(&self, language: &Language) -> SemanticSettings {
        SemanticSettings {
            threshold: self
                .thresholds
                .get(language.primary())
                .copied()
                .unwrap_or(self.threshold),
            margin: self
                .margins
                .get(language.primary())
                .copied()
                .unwrap_or(self.margin),
            ..self.clone()
        }
    }

    pub fn from_config(c: &crate::config::SemanticConfig) -> Self {
        Self {
            threshold: c.threshold,
            thresholds: c.thresholds.clone(),
            margin: c.margin,
            margins: c.margins.clone(),
            k: c.k.max(1),
        }
    }
}

/// The embedding model with its per-language indexes.
pub struct SemanticTier {
    embedder: Embedder,
    settings: SemanticSettings,
    /// (language, grammar generation) → index.
    indexes: Mutex<Vec<(Language, u64, Arc<SemanticIndex>)>>,
    /// Text → embedding, across generations: a list update embeds only its new sentences.
    cache: Mutex<HashMap<String, Arc<[f32]>>>,
    /// Where the embeddings are kept between runs (`None`: not kept).
    cache_file: Option<PathBuf>,
}

impl SemanticTier {
    pub fn new(embedder: Embedder, settings: SemanticSettings) -> Self {
        Self {
            embedder,
            settings,
            indexes: Mutex::new(Vec::new()),
            cache: Mutex::new(HashMap::new()),
            cache_file: None,
        }
    }

    /// Keep the embeddings of the grammar's sentences in `file` between runs, so a daemon
    /// start embeds only sentences it has not seen (seconds saved per language). [`load`]
    /// names the file after the model's files; a damaged file is ignored and rewritten.
    pub fn with_cache_file(mut self, file: PathBuf) -> Self {
        let dim = self.embedder.dim();
        if let Ok(bytes) = std::fs::read(&file) {
            let mut cache = lock(&self.cache);
            let mut p = 0usize;
            while p + 4 <= bytes.len() {
                let n = u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]])
                    as usize;
                let end = p + 4 + n + 4 * dim;
                if end > bytes.len() {
                    break;
                }
                let Ok(text) = std::str::from_utf8(&bytes[p + 4..p + 4 + n]) else {
                    break;
                };
                let v: Vec<f32> = bytes[p + 4 + n..end]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                cache.insert(text.to_string(), v.into());
                p = end;
            }
            tracing::debug!(file = %file.display(), entries = cache.len(), "semantic embeddings read");
        }
        self.cache_file = Some(file);
        self
    }

    fn save_cache(&self) {
        let Some(file) = &self.cache_file else {
            return;
        };
        let mut out = Vec::new();
        for (text, v) in lock(&self.cache).iter() {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
            v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        let tmp = file.with_extension("tmp");
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, &out))
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            // A full disk must not stay full of our half-written file.
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(
                file = %file.display(),
                "semantic embeddings not kept for the next start: {e}; the tier works from \
                 memory, and the next start embeds the grammar again (free space in, or give \
                 write access to, the cache directory)"
            );
        }
    }

    pub fn settings(&self) -> &SemanticSettings {
        &self.settings
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The index of `language` for the recognizer's current grammar generation, built (or
    /// rebuilt after a list changed) on first use.
    pub fn index(
        &self,
        recognizer: &Recognizer,
        language: &Language,
    ) -> Result<Option<Arc<SemanticIndex>>, SemanticError> {
        let generation = recognizer.generation();
        {
            let cached = lock(&self.indexes);
            if let Some((_, _, ix)) = cached
                .iter()
                .find(|(l, g, _)| l == language && *g == generation)
            {
                return Ok(Some(ix.clone()));
            }
        }
        if !recognizer.supports(language) {
            return Ok(None);
        }
        let t = std::time::Instant::now();
        let samples = recognizer.samples(language);
        let open: Vec<&str> = none_anchors()
            .filter(|q| same_script(q, language))
            .collect();
        let mut texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
        texts.extend(open.iter().copied());
        let vectors = self.embed_cached(&texts)?;
        let count = texts.len();
        drop(texts);
        let ix = Arc::new(SemanticIndex::new(
            self.embedder.dim(),
            samples,
            open.len(),
            &vectors,
        ));
        tracing::info!(%language, sentences = count, elapsed = ?t.elapsed(), "semantic index built");
        let mut cached = lock(&self.indexes);
        cached.retain(|(l, _, _)| l != language);
        cached.push((language.clone(), generation, ix.clone()));
        Ok(Some(ix))
    }

    fn embed_cached(&self, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, SemanticError> {
        let todo: Vec<&str> = {
            let cache = lock(&self.cache);
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .copied()
                .filter(|t| !cache.contains_key(*t) && seen.insert(*t))
                .collect()
        };
        let fresh = self.embedder.embed(&todo)?;
        {
            let mut cache = lock(&self.cache);
            for (t, v) in todo.iter().zip(fresh) {
                cache.insert((*t).to_string(), v.into());
            }
        }
        if !todo.is_empty() {
            self.save_cache();
        }
        let cache = lock(&self.cache);
        Ok(texts
            .iter()
            .map(|t| {
                cache
                    .get(*t)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(Vec::new()))
            })
            .collect())
    }

    /// The decision for `text` in `language`: the neighbours and what they say.
    pub fn decide(
        &self,
        text: &str,
        language: &Language,
        recognizer: &Recognizer,
    ) -> Result<Option<Decision>, SemanticError> {
        let Some(ix) = self.index(recognizer, language)? else {
            return Ok(None);
        };
        let q = self.embedder.embed(&[text])?;
        let Some(q) = q.first() else {
            return Ok(None);
        };
        let settings = self.settings.for_language(language);
        Ok(Some(ix.screen(
            decide(&ix.nearest(q, settings.k), &settings),
            text,
        )))
    }
}

impl SemanticMatcher for SemanticTier {
    fn intent(
        &self,
        text: &str,
        language: &Language,
        recognizer: &Recognizer,
    ) -> Result<Option<SemanticIntent>, StageError> {
        let d = self
            .decide(text, language, recognizer)
            .map_err(|e| StageError(e.to_string()))?;
        let Some(Decision::Intent {
            intent,
            similarity,
            sample_slots,
            ..
        }) = d
        else {
            tracing::debug!(?d, "semantic tier: no intent");
            return Ok(None);
        };
        let stated = recognizer.stated_slots(text, language, &intent, &sample_slots);
        tracing::info!(%intent, similarity, slots = ?stated.slots, missing = ?stated.missing, "semantic intent");
        Ok(Some(SemanticIntent {
            intent,
            slots: stated.slots,
            missing: stated.missing,
            confidence: f64::from(similarity),
        }))
    }
}

/// Requests the car cannot do, questions about its state, commands called off
/// (`out_of_scope.txt`).
const OUT_OF_SCOPE: &str = include_str!("out_of_scope.txt");

/// What the index holds as `none`: the LLM tier's open questions and chit-chat, and the
/// requests of `out_of_scope.txt`.
pub fn none_anchors() -> impl Iterator<Item = &'static str> {
    crate::llm::intent::open_questions().chain(
        OUT_OF_SCOPE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#')),
    )
}

/// Open questions are listed in both languages; an index keeps those of its own script.
fn same_script(text: &str, language: &Language) -> bool {
    let han = text.chars().any(crate::nlu::normalize::is_cjk);
    han == (language.primary() == "zh")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The tier the config asks for, loaded from `models_dir/embedding/<semantic.model>`; `None`
/// (logged with the fix) when disabled, missing or broken — the grammar and the LLM then
/// answer without it.
pub fn load_configured(config: &crate::config::Config, models_dir: &Path) -> Option<SemanticTier> {
    let c = &config.semantic;
    if !c.enabled {
        tracing::info!("the semantic tier is disabled (semantic.enabled = false)");
        return None;
    }
    match load(config, models_dir) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("the semantic tier is not available, the grammar and the LLM answer without it: {e}");
            None
        }
    }
}

/// Like [`load_configured`], with the error (for `skylark doctor` and tests).
pub fn load(
    config: &crate::config::Config,
    models_dir: &Path,
) -> Result<SemanticTier, SemanticError> {
    let c = &config.semantic;
    let dir = models_dir.join("embedding").join(&c.model);
    let opts = EmbedderOptions {
        threads: c.threads,
        models_dir: models_dir.to_path_buf(),
    };
    let t = std::time::Instant::now();
    let embedder = Embedder::load(&dir, &c.model, &opts)?;
    tracing::info!(model = %dir.display(), elapsed = ?t.elapsed(), "semantic tier ready");
    // The cache is named after the model's files (sizes and modification times), so a
    // reinstalled or different model never reads another's vectors.
    let stamp = ["model.onnx", "tokenizer.json", "config.json"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            format!("{}-{mtime}", m.len())
        })
        .collect::<Vec<_>>()
        .join("-");
    let file = crate::models::default_cache_dir()
        .join("semantic")
        .join(format!("{}-{stamp}.vec", c.model));
    Ok(SemanticTier::new(embedder, SemanticSettings::from_config(c)).with_cache_file(file))
}
