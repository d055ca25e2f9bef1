//! A compact SentencePiece-unigram tokenizer for the embedding model's `tokenizer.json`.
//!
//! Why not `tokenizers::Tokenizer`: its Unigram model keeps a byte trie with a hash map per
//! node; for XLM-R's 250,002 pieces that is ~280 MB of RSS, twice the whole tier's budget.
//! Here the pieces sit in one hash map (~20 MB) and the Viterbi search tries every piece
//! length at each character, as `tokenizers`' own `encode_optimized` does (same scores, same
//! unknown-character penalty, unknowns fused), so the ids are the same — a test compares
//! them on the catalog's sentences. Normalisation is the `normalizer` of the same file, run
//! by `tokenizers`; the pre-tokenizer must be a Metaspace (`▁`, prepended, split on spaces).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use tokenizers::{NormalizedString, Normalizer, NormalizerWrapper};

/// `tokenizers`' penalty for a character no piece covers, below the lowest piece score.
const UNK_PENALTY: f64 = 10.0;
const META: char = '\u{2581}';

#[derive(Debug)]
pub struct UnigramTokenizer {
    pieces: HashMap<Box<str>, u32>,
    scores: Vec<f64>,
    unk: u32,
    bos: u32,
    eos: u32,
    unk_score: f64,
    max_piece_bytes: usize,
    normalizer: Option<NormalizerWrapper>,
}

#[derive(Deserialize)]
struct File {
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<serde_json::Value>,
    added_tokens: Vec<Added>,
    model: Model,
}

#[derive(Deserialize)]
struct Added {
    id: u32,
    content: String,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<u32>,
    vocab: Vec<(String, f64)>,
}

impl UnigramTokenizer {
    /// Reads a `tokenizer.json` with a Unigram model, a Metaspace pre-tokenizer and `<s>` /
    /// `</s>` added tokens. The error says what is wrong with the file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
        let file: File = serde_json::from_reader(reader).map_err(|e| e.to_string())?;
        if file.model.kind != "Unigram" {
            return Err(format!(
                "model type {:?}, expected Unigram",
                file.model.kind
            ));
        }
        let pre = file
            .pre_tokenizer
            .as_ref()
            .and_then(|p| p.get("type"))
            .and_then(|t| t.as_str());
        if pre != Some("Metaspace") {
            return Err(format!("pre-tokenizer {pre:?}, expected Metaspace"));
        }
        let special = |name: &str| -> Result<u32, String> {
            file.added_tokens
                .iter()
                .find(|a| a.content == name)
                .map(|a| a.id)
                .ok_or_else(|| format!("no added token {name}"))
        };
        let (bos, eos) = (special("<s>")?, special("</s>")?);
        let unk = file.model.unk_id.ok_or("the Unigram model has no unk_id")?;
        let n = file.model.vocab.len();
        if n == 0 || unk as usize >= n {
            return Err(format!("vocabulary of {n} pieces with unk_id {unk}"));
        }
        let mut pieces = HashMap::with_capacity(n);
        let mut scores = Vec::with_capacity(n);
        let mut min_score = f64::INFINITY;
        let mut max_piece_bytes = 1;
        for (id, (piece, score)) in file.model.vocab.into_iter().enumerate() {
            min_score = min_score.min(score);
            max_piece_bytes = max_piece_bytes.max(piece.len());
            scores.push(score);
            // The first of equal pieces wins, as in `tokenizers`.
            pieces.entry(piece.into_boxed_str()).or_insert(id as u32);
        }
        Ok(Self {
            pieces,
            scores,
            unk,
            bos,
            eos,
            unk_score: min_score - UNK_PENALTY,
            max_piece_bytes,
            normalizer: file.normalizer,
        })
    }

    /// `<s>`, the pieces of `text`, `</s>`; at most `max` ids (the pieces are cut first).
    pub fn encode(&self, text: &str, max: usize) -> Result<Vec<u32>, String> {
        let mut normalized = NormalizedString::from(text);
        if let Some(n) = &self.normalizer {
            n.normalize(&mut normalized).map_err(|e| e.to_string())?;
        }
        let mut ids = vec![self.bos];
        // Metaspace: spaces become `▁`, one is prepended unless the text starts with one, and
        // each piece of text starts at a `▁` (a trailing space is a `▁` of its own).
        let text = normalized.get();
        if !text.is_empty() {
            let mut s = text.replace(' ', "\u{2581}");
            if !s.starts_with(META) {
                s.insert(0, META);
            }
            let mut start = 0;
            for (i, c) in s.char_indices() {
                if c == META && i > start {
                    self.viterbi(&s[start..i], &mut ids);
                    start = i;
                }
            }
            self.viterbi(&s[start..], &mut ids);
        }
        ids.truncate(max.max(2) - 1);
        ids.push(self.eos);
        Ok(ids)
    }

    fn viterbi(&self, s: &str, out: &mut Vec<u32>) {
        // best[i]: (score, start, id) of the best path ending at byte i.
        let mut best: Vec<Option<(f64, usize, u32)>> = vec![None; s.len() + 1];
        best[0] = Some((0.0, 0, 0));
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        for (ci, &start) in bounds.iter().enumerate().take(bounds.len() - 1) {
            let Some((here, _, _)) = best[start] else {
                continue;
            };
            let mut single = false;
            for &end in &bounds[ci + 1..] {
                if end - start > self.max_piece_bytes {
                    break;
                }
                if let Some(&id) = self.pieces.get(&s[start..end]) {
                    let score = here + self.scores[id as usize];
                    if best[end].is_none_or(|(b, _, _)| score > b) {
                        best[end] = Some((score, start, id));
                    }
                    single |= end == bounds[ci + 1];
                }
            }
            if !single {
                let end = bounds[ci + 1];
                let score = here + self.unk_score;
                if best[end].is_none_or(|(b, _, _)| score > b) {
                    best[end] = Some((score, start, self.unk));
                }
            }
        }
        let mut path = Vec::new();
        let mut end = s.len();
        while end > 0 {
            let Some((_, start, id)) = best[end] else {
                break;
            };
            // Unknown characters next to each other become one unknown token.
            if !(id == self.unk && path.last() == Some(&self.unk)) {
                path.push(id);
            }
            end = start;
        }
        out.extend(path.into_iter().rev());
    }
}
