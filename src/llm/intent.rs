//! The LLM's two jobs for the engine: an intent of the catalog when the grammar found none
//! (constrained decoding, see `constrain.rs`), and a short spoken answer to an open question.
//!
//! The intent prompt is the catalog (the same for every sentence of a language, so the
//! decoder's prefix cache runs it once), then the few known requests most like this one — the
//! grammar's own sentences and open questions, with their JSON — then the request. A small
//! model copies a near example far better than it follows a long instruction: on the
//! accuracy set SmolLM2-135M named no intent at all without them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::constrain::{Catalog, State, TokenTable, NONE, PREFIX};
use super::sampling::{argmax, probability};
use super::{ChatMessage, DecoderModel, LlmError, Result};
use crate::nlu::{IntentCatalog, IntentSchema, Sample, SimilarityIndex, SlotKind, SlotValue};

/// How the intent fallback decides.
#[derive(Debug, Clone)]
pub struct IntentOptions {
    /// Below this confidence the answer is `none` (0..1).
    pub threshold: f64,
    /// Most tokens of the JSON answer.
    pub max_tokens: usize,
    /// Example requests shown to the model: the grammar's sentences (and open questions)
    /// nearest to the one asked.
    pub examples: usize,
    /// Also list every intent with its slots in the prompt. Larger models use the list;
    /// SmolLM2-135M chose better without it (49 vs 44 of 68 sentences).
    pub list_intents: bool,
    /// The model chooses only among this many intents (`none` counted): those of the known
    /// requests most like the sentence. 0 lets it choose among the whole catalog.
    pub shortlist: usize,
    /// When the model is not confident enough, the intent of the nearest known request is
    /// taken if it is at least this alike (TF-IDF cosine, 0..1); above 1 never.
    pub retrieval_threshold: f64,
}

impl Default for IntentOptions {
    fn default() -> Self {
        Self {
            threshold: 0.9,
            max_tokens: 64,
            examples: 4,
            list_intents: false,
            shortlist: 6,
            retrieval_threshold: 0.4,
        }
    }
}

/// The LLM's intent for a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmIntent {
    /// A catalog intent, or `""` for none (nothing fits, or not confident enough).
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
    /// The model's probability of the intent it named, among the catalog's names.
    pub confidence: f64,
    /// What the model wrote (always a JSON object of the catalog, or empty when cancelled).
    pub json: String,
    /// The intent the model named, even when under the threshold (`none` included).
    pub named: String,
    /// Tokens the model chose (forced JSON excluded).
    pub chosen_tokens: usize,
    /// The intent is the nearest known request's (the model's own pick was under the
    /// threshold); `confidence` is then that request's similarity to the sentence.
    pub retrieved: bool,
    pub cancelled: bool,
}

/// The two opinions [`IntentEngine::recognize`] decides between.
#[derive(Debug, Clone)]
pub struct Opinions {
    /// The model's pick among the shortlist (`named`, `confidence`, `json`).
    pub first: LlmIntent,
    /// The nearest known request's intent and its similarity (TF-IDF cosine), when it is a
    /// command (not an open question).
    pub nearest: Option<(String, f32)>,
    /// The model constrained to the nearest request's intent, when asked.
    pub second: Option<LlmIntent>,
}

impl Opinions {
    /// The intent taken: the model's own pick when its confidence reaches `threshold`; else
    /// the nearest request's, when it is at least `retrieval_threshold` alike and the model
    /// (first, or constrained to it) names it; else none.
    pub fn decide(
        &self,
        catalog: &IntentCatalog,
        threshold: f64,
        retrieval_threshold: f64,
    ) -> LlmIntent {
        let mut out = self.first.clone();
        if out.cancelled || out.named.is_empty() {
            return out;
        }
        if out.confidence >= threshold {
            if out.named != NONE {
                out.intent = out.named.clone();
                out.slots = slots_of(catalog, &out.intent, &out.json);
            }
            return out;
        }
        let Some((nearest, score)) = &self.nearest else {
            return out;
        };
        if f64::from(*score) < retrieval_threshold {
            tracing::debug!(named = %out.named, confidence = out.confidence, "LLM intent under the threshold");
            return out;
        }
        if out.named != *nearest {
            let Some(second) = &self.second else {
                return out;
            };
            if second.cancelled {
                return LlmIntent {
                    cancelled: true,
                    ..out
                };
            }
            out.json = second.json.clone();
            out.named = second.named.clone();
            out.chosen_tokens += second.chosen_tokens;
            if out.named != *nearest {
                return out;
            }
        }
        tracing::debug!(intent = %nearest, similarity = score, "intent of the nearest known request");
        out.retrieved = true;
        out.confidence = (f64::from(*score) * 1000.0).round() / 1000.0;
        out.intent = nearest.clone();
        out.slots = slots_of(catalog, &out.intent, &out.json);
        out
    }
}

/// Per-model tables for constrained decoding (a pass over the vocabulary), and the index of
/// open questions shown as `none` examples.
pub struct IntentEngine {
    table: TokenTable,
    open_questions: SimilarityIndex<&'static str>,
}

impl IntentEngine {
    pub fn new(model: &DecoderModel) -> Self {
        Self {
            table: TokenTable::new(model.tokenizer(), model.vocab_size()),
            open_questions: SimilarityIndex::new(open_questions().map(|q| (q.to_string(), q))),
        }
    }

    /// The intents of the `n` known requests most like `sentence`, best first, without
    /// repeats (`none` for open questions): what the model chooses among, and, first, the
    /// second opinion.
    pub fn nearest_intents(
        &self,
        catalog: &IntentCatalog,
        sentence: &str,
        n: usize,
    ) -> Vec<String> {
        distinct(&self.ranked(catalog, sentence.trim()), n)
            .into_iter()
            .map(|i| i.unwrap_or(NONE).to_string())
            .collect()
    }

    /// The intent of `sentence` among the intents of `catalog`. Cancellation is checked
    /// before each model step; a cancelled call returns `cancelled: true` and no intent.
    ///
    /// Two opinions decide: the model's, constrained to the intents of the known requests
    /// most like the sentence, taken when its confidence reaches `threshold`; else the
    /// nearest known request's, taken when it is at least `retrieval_threshold` alike — the
    /// model then only fills that intent's slots (or says `none`, and nothing is taken).
    /// The second decode runs only when that decision needs it ([`Opinions::decide`]).
    pub fn recognize(
        &self,
        model: &mut DecoderModel,
        sentence: &str,
        catalog: &IntentCatalog,
        opts: &IntentOptions,
        cancel: &AtomicBool,
    ) -> Result<LlmIntent> {
        let o = self.opinions_when(model, sentence, catalog, opts, cancel, |o| {
            o.first.confidence < opts.threshold
                && o.nearest
                    .as_ref()
                    .is_some_and(|(_, s)| f64::from(*s) >= opts.retrieval_threshold)
        })?;
        Ok(o.decide(catalog, opts.threshold, opts.retrieval_threshold))
    }

    /// Both opinions on `sentence`, the second always asked when it could differ from the
    /// first: what [`IntentEngine::recognize`] decides on, for fitting its thresholds
    /// (`cargo bench --bench semantic`) without a decode per threshold.
    pub fn opinions(
        &self,
        model: &mut DecoderModel,
        sentence: &str,
        catalog: &IntentCatalog,
        opts: &IntentOptions,
        cancel: &AtomicBool,
    ) -> Result<Opinions> {
        self.opinions_when(model, sentence, catalog, opts, cancel, |_| true)
    }

    fn opinions_when(
        &self,
        model: &mut DecoderModel,
        sentence: &str,
        catalog: &IntentCatalog,
        opts: &IntentOptions,
        cancel: &AtomicBool,
        second_wanted: impl Fn(&Opinions) -> bool,
    ) -> Result<Opinions> {
        let sentence = sentence.trim();
        let said = crate::nlu::numbers::numbers_in(sentence, &catalog.language);
        let ranked = self.ranked(catalog, sentence);
        let only = |names: &[&str]| -> Vec<IntentSchema> {
            catalog
                .intents
                .iter()
                .filter(|i| names.contains(&i.name.as_str()))
                .cloned()
                .collect()
        };
        let intents = match shortlist(&ranked, opts.shortlist) {
            Some(names) => only(&names),
            None => catalog.intents.clone(),
        };
        let shots = examples(&ranked, opts.examples);
        let cat = Catalog::new(intents, sentence, &said);
        let first = self.decode(model, &cat, &shots, sentence, opts, cancel)?;
        let nearest = ranked
            .first()
            .and_then(|&(k, s)| Some((k.intent()?.to_string(), s)));
        let mut o = Opinions {
            first,
            nearest,
            second: None,
        };
        if o.first.cancelled || o.first.named.is_empty() {
            return Ok(o);
        }
        let Some((nearest, _)) = o.nearest.clone() else {
            return Ok(o);
        };
        if o.first.named != nearest && second_wanted(&o) {
            // The model only fills the slots of the nearest request's intent.
            let cat = Catalog::new(only(&[nearest.as_str()]), sentence, &said);
            o.second = Some(self.decode(model, &cat, &shots, sentence, opts, cancel)?);
        }
        Ok(o)
    }

    /// One constrained decode: the JSON the model writes for `sentence` among `cat`'s
    /// intents, the intent it named (`named`, `none` included) and its probability
    /// (`confidence`). `intent` and `slots` are left for the caller to decide.
    fn decode(
        &self,
        model: &mut DecoderModel,
        cat: &Catalog,
        shots: &[Shot],
        sentence: &str,
        opts: &IntentOptions,
        cancel: &AtomicBool,
    ) -> Result<LlmIntent> {
        let mut out = LlmIntent {
            intent: String::new(),
            slots: BTreeMap::new(),
            confidence: 0.0,
            json: String::new(),
            named: String::new(),
            chosen_tokens: 0,
            retrieved: false,
            cancelled: false,
        };
        if cancel.load(Ordering::Relaxed) {
            out.cancelled = true;
            return Ok(out);
        }
        let messages = intent_messages(&cat.intents, shots, sentence, opts.list_intents);
        let mut prompt = model.render_prompt(&messages)?;
        prompt.push_str(PREFIX);
        let ids = model.fit_prompt(model.encode_text(&prompt)?, opts.max_tokens);
        let (mut logits, mut decode) = model.prefill(&ids)?;
        let mut state = State::start();
        let mut written: Vec<u8> = PREFIX.as_bytes().to_vec();
        let mut name_prob = 1.0f64;
        let mut steps = 0;
        while !state.is_done() && steps < opts.max_tokens && model.room(&decode) > 1 {
            if cancel.load(Ordering::Relaxed) {
                out.cancelled = true;
                return Ok(out);
            }
            steps += 1;
            let forced = state.forced(cat);
            if !forced.is_empty() {
                let text = String::from_utf8_lossy(&forced).into_owned();
                let ids = model.encode_text(&text)?;
                if !state.feed_all(cat, &forced) {
                    return Err(bad(model, "the forced JSON was refused by its own grammar"));
                }
                written.extend_from_slice(&forced);
                if state.is_done() || ids.is_empty() {
                    continue;
                }
                logits = model.advance(&mut decode, &ids)?;
                continue;
            }
            let allowed = self.table.mask(cat, &state, &mut logits);
            let Some(id) = argmax(&logits) else {
                let why = if allowed == 0 {
                    "constrained decoding found no allowed token"
                } else {
                    "the logits are all NaN (a damaged model?)"
                };
                return Err(bad(
                    model,
                    &format!("{why} after {:?}", String::from_utf8_lossy(&written)),
                ));
            };
            if state.in_name() && allowed > 1 {
                name_prob *= probability(&logits, id);
            }
            let bytes = self.table.bytes(id).unwrap_or_default();
            if !state.feed_all(cat, bytes) {
                return Err(bad(model, "a masked token was refused"));
            }
            written.extend_from_slice(bytes);
            out.chosen_tokens += 1;
            if state.is_done() {
                break;
            }
            logits = model.advance(&mut decode, &[id])?;
        }
        out.json = String::from_utf8_lossy(&written).into_owned();
        if !state.is_done() {
            tracing::warn!(json = %out.json, "the LLM's intent JSON did not finish in time; no intent");
            out.named = NONE.into();
            return Ok(out);
        }
        out.confidence = (name_prob * 1000.0).round() / 1000.0;
        out.named = state
            .intent()
            .and_then(|i| cat.intents.get(i))
            .map_or_else(|| NONE.to_string(), |schema| schema.name.clone());
        Ok(out)
    }
}

fn bad(model: &DecoderModel, reason: &str) -> LlmError {
    LlmError::BadOutput {
        path: model.model_path().to_path_buf(),
        reason: reason.into(),
    }
}

fn slots_of(catalog: &IntentCatalog, intent: &str, json: &str) -> BTreeMap<String, SlotValue> {
    catalog
        .intents
        .iter()
        .find(|i| i.name == intent)
        .map(|schema| normalize_slots(schema, json))
        .unwrap_or_default()
}

/// Slot values as the grammar gives them: list values as they are, numbers as numbers, free
/// text mapped through the dynamic list when it names an entry.
fn normalize_slots(schema: &IntentSchema, json: &str) -> BTreeMap<String, SlotValue> {
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return out;
    };
    let Some(slots) = v.get("slots").and_then(|s| s.as_object()) else {
        return out;
    };
    for (name, value) in slots {
        let Some(slot) = schema.slot(name) else {
            continue;
        };
        let v = match (&slot.kind, value) {
            (SlotKind::Numbers(_), serde_json::Value::Number(n)) => {
                n.as_f64().map(SlotValue::number)
            }
            (SlotKind::Values(_), serde_json::Value::String(s)) => match s.parse::<f64>() {
                Ok(n) if n.is_finite() => Some(SlotValue::number(n)),
                _ => Some(SlotValue::Text(s.clone())),
            },
            (SlotKind::Text { known }, serde_json::Value::String(s)) => {
                let s = s.trim();
                let mapped = known
                    .iter()
                    .find(|(spoken, _)| spoken.eq_ignore_ascii_case(s))
                    .map(|(_, v)| v.clone());
                (!s.is_empty()).then(|| SlotValue::Text(mapped.unwrap_or_else(|| s.to_string())))
            }
            _ => None,
        };
        if let Some(v) = v {
            out.insert(name.clone(), v);
        }
    }
    out
}

/// One line per intent: `- name: slot (a|b), slot (number 10-35), slot (text)`.
fn describe(intents: &[IntentSchema]) -> String {
    let mut s = String::new();
    for i in intents {
        s.push_str("- ");
        s.push_str(&i.name);
        if !i.examples.is_empty() {
            let ex: Vec<String> = i.examples.iter().map(|e| format!("\"{e}\"")).collect();
            s.push_str(" (e.g. ");
            s.push_str(&ex.join(", "));
            s.push(')');
        }
        let slots: Vec<String> = i
            .slots
            .iter()
            .map(|sl| match &sl.kind {
                SlotKind::Values(v) => format!("{} ({})", sl.name, v.join("|")),
                SlotKind::Numbers(n) => match (n.first(), n.last()) {
                    (Some(a), Some(b)) => format!("{} (number {a}-{b})", sl.name),
                    _ => format!("{} (number)", sl.name),
                },
                SlotKind::Text { .. } => format!("{} (words of the request)", sl.name),
            })
            .collect();
        if !slots.is_empty() {
            s.push_str(": ");
            s.push_str(&slots.join(", "));
        }
        s.push('\n');
    }
    s.push_str("- none: anything else (questions, chit-chat, requests the car cannot do)\n");
    s
}

/// Open questions and chit-chat in both languages (`open_questions.txt`): the `none`
/// examples a request is compared with.
const OPEN_QUESTIONS: &str = include_str!("open_questions.txt");

pub fn open_questions() -> impl Iterator<Item = &'static str> {
    OPEN_QUESTIONS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// One example shown to the model: a request and the JSON it maps to.
#[derive(Debug, Clone, PartialEq)]
struct Shot {
    text: String,
    json: String,
    score: f32,
}

/// The first `k` of `ranked` as examples for the prompt, least similar first, so the nearest
/// sits right before the request.
fn examples(ranked: &Ranked<'_>, k: usize) -> Vec<Shot> {
    let mut shots: Vec<Shot> = ranked
        .iter()
        .take(k)
        .map(|&(known, score)| match known {
            Known::Sentence(s) => Shot {
                text: s.text.clone(),
                json: sample_json(s),
                score,
            },
            Known::Question(q) => Shot {
                text: q.to_string(),
                json: format!("{{\"intent\":\"{NONE}\",\"slots\":{{}}}}"),
                score,
            },
        })
        .collect();
    shots.reverse();
    shots
}

/// A known request: a sentence of the grammar (with its intent and slots) or an open question
/// (whose intent is `none`).
#[derive(Debug, Clone, Copy)]
enum Known<'a> {
    Sentence(&'a Sample),
    Question(&'a str),
}

impl<'a> Known<'a> {
    /// The catalog intent, `None` for an open question.
    fn intent(self) -> Option<&'a str> {
        match self {
            Known::Sentence(s) => Some(s.intent.as_str()),
            Known::Question(_) => None,
        }
    }
}

/// Known requests most like a sentence, best first, with their similarity (0..1): the
/// examples of the prompt, the shortlist and the second opinion all read it.
type Ranked<'a> = Vec<(Known<'a>, f32)>;

impl IntentEngine {
    /// The grammar's sentences and the open questions most like `sentence`, best first (ties:
    /// grammar sentences first, each in index order).
    fn ranked<'a>(&'a self, catalog: &'a IntentCatalog, sentence: &str) -> Ranked<'a> {
        const POOL: usize = 48;
        let mut ranked: Ranked<'a> = catalog
            .examples
            .nearest(sentence, POOL)
            .into_iter()
            .map(|(s, score)| (Known::Sentence(s), score))
            .collect();
        ranked.extend(
            self.open_questions
                .nearest(sentence, POOL)
                .into_iter()
                .map(|(q, score)| (Known::Question(q), score)),
        );
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    }
}

/// The intents of the first `n` distinct known requests of `ranked`, best first; `None`
/// stands for the open questions (`none`) and is listed once.
fn distinct<'a>(ranked: &Ranked<'a>, n: usize) -> Vec<Option<&'a str>> {
    let mut out: Vec<Option<&'a str>> = Vec::with_capacity(n);
    for &(known, _) in ranked {
        if out.len() >= n {
            break;
        }
        let intent = known.intent();
        if !out.contains(&intent) {
            out.push(intent);
        }
    }
    out
}

/// The intents the model may choose among: those of the first `n` distinct known requests
/// (`none`, always allowed, counts as one of the `n`), or `None` — choose among all — when
/// `n` is 0 or nothing known shares a word with the sentence.
fn shortlist<'a>(ranked: &Ranked<'a>, n: usize) -> Option<Vec<&'a str>> {
    if n == 0 || ranked.is_empty() {
        return None;
    }
    Some(distinct(ranked, n).into_iter().flatten().collect())
}

/// The JSON the constrained decoder would write for a grammar sentence.
fn sample_json(s: &Sample) -> String {
    let slots: serde_json::Map<String, serde_json::Value> = s
        .slots
        .iter()
        .map(|(k, v)| {
            let v = match v {
                SlotValue::Integer(i) => serde_json::Value::from(*i),
                SlotValue::Number(f) => serde_json::Number::from_f64(*f)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                other => serde_json::Value::String(other.to_string()),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::json!({"intent": s.intent, "slots": slots}).to_string()
}

fn intent_messages(
    intents: &[IntentSchema],
    shots: &[Shot],
    sentence: &str,
    list_intents: bool,
) -> Vec<ChatMessage> {
    let mut system = String::from(
        "You are the intent parser of a car's voice assistant. Map the driver's request (English or Chinese) \
         to one intent and reply with JSON only: {\"intent\":NAME,\"slots\":{...}}. \
         Text slots copy the request's own words. \
         If no intent fits, reply {\"intent\":\"none\",\"slots\":{}}.",
    );
    if list_intents {
        system.push_str("\nIntents:\n");
        system.push_str(&describe(intents));
    }
    let mut m = vec![ChatMessage::system(system)];
    for shot in shots {
        m.push(ChatMessage::user(shot.text.clone()));
        m.push(ChatMessage::assistant(shot.json.clone()));
    }
    m.push(ChatMessage::user(sentence));
    m
}

/// The conversation for a short spoken answer: the question, after `system` when one is
/// configured (`llm.answer_prompt`); without one the model's chat template puts its own
/// default system prompt, which small models answer best under (SmolLM2-135M said "Le Grand
/// Paris is the capital of France." under a cockpit persona, "The capital of France is
/// Paris." under its own). Brevity comes from `llm.max_sentences`, not from the prompt.
pub fn answer_messages(question: &str, system: &str) -> Vec<ChatMessage> {
    let mut m = Vec::with_capacity(2);
    if !system.trim().is_empty() {
        m.push(ChatMessage::system(system.trim()));
    }
    m.push(ChatMessage::user(question.trim()));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::{Language, SlotSchema};

    /// The decision between the two opinions, at the thresholds the bench fits.
    #[test]
    fn opinions_decide_by_the_thresholds() {
        let catalog = IntentCatalog::new(
            Language::parse("en").expect("en"),
            vec![
                IntentSchema {
                    examples: vec![],
                    name: "climate.set_defrost".into(),
                    slots: vec![],
                },
                IntentSchema {
                    examples: vec![],
                    name: "media.pause".into(),
                    slots: vec![],
                },
            ],
            vec![],
        );
        let said = |named: &str, confidence: f64| LlmIntent {
            intent: String::new(),
            slots: BTreeMap::new(),
            confidence,
            json: format!(r#"{{"intent":"{named}","slots":{{}}}}"#),
            named: named.into(),
            chosen_tokens: 3,
            retrieved: false,
            cancelled: false,
        };
        let o = Opinions {
            first: said("media.pause", 0.8),
            nearest: Some(("climate.set_defrost".into(), 0.5)),
            second: Some(said("climate.set_defrost", 0.7)),
        };
        // Confident enough: the model's own pick.
        let d = o.decide(&catalog, 0.7, 2.0);
        assert_eq!((d.intent.as_str(), d.retrieved), ("media.pause", false));
        // Not confident: the nearest request's, when alike enough and the model names it.
        let d = o.decide(&catalog, 0.9, 0.4);
        assert_eq!(
            (d.intent.as_str(), d.retrieved),
            ("climate.set_defrost", true)
        );
        assert_eq!(d.confidence, 0.5);
        // Retrieval off (above 1) or not alike enough: none.
        assert_eq!(o.decide(&catalog, 0.9, 2.0).intent, "");
        assert_eq!(o.decide(&catalog, 0.9, 0.6).intent, "");
        // The model, constrained to the nearest intent, says none: nothing is taken.
        let refused = Opinions {
            second: Some(said(NONE, 0.9)),
            ..o.clone()
        };
        assert_eq!(refused.decide(&catalog, 0.9, 0.4).intent, "");
        // A confident `none` is none.
        let none = Opinions {
            first: said(NONE, 0.95),
            ..o
        };
        assert_eq!(none.decide(&catalog, 0.9, 0.4).intent, "");
    }

    #[test]
    fn slots_are_normalised_like_the_grammar() {
        let schema = IntentSchema {
            examples: vec![],
            name: "phone.call".into(),
            slots: vec![
                SlotSchema {
                    name: "contact".into(),
                    kind: SlotKind::Text {
                        known: vec![("Mom".into(), "+15551234".into())],
                    },
                },
                SlotSchema {
                    name: "level".into(),
                    kind: SlotKind::Numbers(vec![1.0, 2.0]),
                },
            ],
        };
        let s = normalize_slots(
            &schema,
            r#"{"intent":"phone.call","slots":{"contact":"mom","level":2}}"#,
        );
        assert_eq!(s["contact"], SlotValue::Text("+15551234".into()));
        assert_eq!(s["level"], SlotValue::Integer(2));
    }

    fn shots(catalog: &IntentCatalog, sentence: &str, k: usize) -> Vec<Shot> {
        let engine = IntentEngine {
            table: TokenTable::empty(),
            open_questions: SimilarityIndex::new(open_questions().map(|q| (q.to_string(), q))),
        };
        examples(&engine.ranked(catalog, sentence), k)
    }

    #[test]
    fn the_nearest_grammar_sentences_and_questions_are_shown_nearest_last() {
        let r = crate::nlu::Recognizer::new(crate::nlu::Grammar::builtin().expect("catalog"))
            .expect("compile");
        let en = r.catalog(&Language::english()).expect("en");
        let s = shots(&en, "my seat is cold, heat it up", 4);
        assert_eq!(s.len(), 4);
        assert!(s.windows(2).all(|w| w[0].score <= w[1].score), "{s:?}");
        let last: serde_json::Value = serde_json::from_str(&s[3].json).expect("json");
        assert_eq!(last["intent"], "seat.set_heating", "{s:?}");
        // Every example names an intent of the catalog, or none.
        for shot in &s {
            let v: serde_json::Value = serde_json::from_str(&shot.json).expect("json");
            let name = v["intent"].as_str().expect("intent");
            assert!(
                name == NONE || en.intents.iter().any(|i| i.name == name),
                "{shot:?}"
            );
        }
        // An open question is shown beside open questions.
        let q = shots(&en, "who painted the sistine chapel", 2);
        assert!(
            q.last().is_some_and(|s| s.json.contains("\"none\"")),
            "{q:?}"
        );
        let zh = r.catalog(&Language::mandarin()).expect("zh");
        let s = shots(&zh, "座椅有点凉，加热一下", 3);
        assert!(
            s.last()
                .is_some_and(|s| s.json.contains("seat.set_heating")),
            "{s:?}"
        );
        let m = intent_messages(&zh.intents, &s, "座椅有点凉，加热一下", true);
        assert_eq!(m.len(), 2 + 2 * s.len());
        assert!(m[0].content.contains("- seat.set_heating"));
        let short = intent_messages(&zh.intents, &s, "座椅有点凉，加热一下", false);
        assert!(!short[0].content.contains("- seat.set_heating"));
        assert_eq!(
            m.last().map(|m| m.content.as_str()),
            Some("座椅有点凉，加热一下")
        );
    }

    #[test]
    fn shortlist_keeps_the_first_distinct_intents_with_none_counted_once() {
        let samples: Vec<Sample> = ["climate.set_ac", "window.open", "media.play", "phone.call"]
            .iter()
            .map(|i| Sample {
                text: String::new(),
                intent: i.to_string(),
                slots: BTreeMap::new(),
            })
            .collect();
        let (ac, window, play, call) = (&samples[0], &samples[1], &samples[2], &samples[3]);
        let question = Known::Question("why is the sky blue");
        let ranked: Ranked<'_> = vec![
            (Known::Sentence(ac), 0.9),
            (question, 0.8),
            (Known::Sentence(ac), 0.7),
            (Known::Sentence(window), 0.6),
            (question, 0.5),
            (Known::Sentence(play), 0.4),
            (Known::Sentence(call), 0.3),
        ];
        assert_eq!(
            shortlist(&ranked, 3),
            Some(vec!["climate.set_ac", "window.open"])
        );
        assert_eq!(
            shortlist(&ranked, 4),
            Some(vec!["climate.set_ac", "window.open", "media.play"])
        );
        assert_eq!(shortlist(&ranked, 1), Some(vec!["climate.set_ac"]));
        // Only open questions alike: the model may only say none.
        assert_eq!(shortlist(&vec![(question, 0.9)], 6), Some(vec![]));
        // Nothing alike, or no shortlist: the whole catalog.
        assert_eq!(shortlist(&Vec::new(), 6), None);
        assert_eq!(shortlist(&ranked, 0), None);
    }
}
