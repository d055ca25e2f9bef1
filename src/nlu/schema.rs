//! The catalog as data: each intent with its slots and what values they take. The LLM
//! fallback constrains its output with it, so whatever the model writes names a real intent
//! and slot values the grammar itself could have produced.

use super::compile::{CompiledLanguage, CompiledList, Inst};
use super::language::Language;
use super::lists::RangeDef;
use super::recognizer::Recognizer;
use super::samples::{samples_of, Sample};
use super::similar::SimilarityIndex;
use super::{IntentMatch, SlotValue};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Ranges with more values than this are offered as free numbers' text (never happens in
/// the built-in catalog: the largest is 0..100).
const MAX_RANGE_VALUES: usize = 2000;

/// What a slot accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotKind {
    /// One of these `out` values (`driver`, `on`, `restaurant`).
    Values(Vec<String>),
    /// One of these numbers (a range's values, times its multiplier).
    Numbers(Vec<f64>),
    /// Free text taken from the sentence (wildcards); `known` are dynamic-list entries
    /// `(spoken form, value)` the text is mapped through when it equals a spoken form.
    Text { known: Vec<(String, String)> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlotSchema {
    pub name: String,
    pub kind: SlotKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntentSchema {
    pub name: String,
    /// Sorted by name.
    pub slots: Vec<SlotSchema>,
    /// A few sentences of the grammar's own templates (first alternatives, sample slot
    /// values), in the grammar's language: hints for a model choosing among intents.
    pub examples: Vec<String>,
}

impl IntentSchema {
    pub fn slot(&self, name: &str) -> Option<&SlotSchema> {
        self.slots.iter().find(|s| s.name == name)
    }
}

#[derive(Default)]
struct Acc {
    values: Vec<String>,
    numbers: Vec<f64>,
    text: bool,
    known: Vec<(String, String)>,
}

impl Acc {
    fn add_value(&mut self, v: &SlotValue) {
        match v {
            SlotValue::Integer(i) => self.numbers.push(*i as f64),
            SlotValue::Number(f) => self.numbers.push(*f),
            SlotValue::Text(s) => self.values.push(s.clone()),
            SlotValue::Bool(b) => self.values.push(b.to_string()),
            SlotValue::List(_) => self.text = true,
        }
    }

    fn add_list(&mut self, list: &CompiledList) {
        match list {
            CompiledList::Values { values, .. } => {
                for v in values {
                    self.add_value(&v.out);
                    // Kept for slots that are free text too (contacts beside a wildcard).
                    if let SlotValue::Text(out) = &v.out {
                        for s in &v.spoken {
                            self.known.push((s.clone(), out.clone()));
                        }
                    }
                }
            }
            CompiledList::Range(r) => match range_values(r) {
                Some(v) => self.numbers.extend(v),
                None => self.text = true,
            },
            CompiledList::Wildcard => self.text = true,
        }
    }

    fn finish(mut self) -> SlotKind {
        if self.text {
            return SlotKind::Text { known: self.known };
        }
        if !self.numbers.is_empty() && self.values.is_empty() {
            self.numbers.sort_by(f64::total_cmp);
            self.numbers.dedup();
            return SlotKind::Numbers(self.numbers);
        }
        if !self.numbers.is_empty() {
            // Mixed numbers and words: offer both as text values.
            self.values.extend(
                self.numbers
                    .iter()
                    .map(|n| SlotValue::number(*n).to_string()),
            );
        }
        self.values.sort();
        self.values.dedup();
        SlotKind::Values(self.values)
    }
}

fn range_values(r: &RangeDef) -> Option<Vec<f64>> {
    let m = r.multiplier.unwrap_or(1.0);
    let steps = range_steps(r, MAX_RANGE_VALUES)?;
    Some(steps.map(|v| (v * m * 1e6).round() / 1e6).collect())
}

/// The numbers a range accepts as said (its finest step, before its multiplier), when there
/// are at most `max`.
pub(super) fn range_steps(r: &RangeDef, max: usize) -> Option<impl Iterator<Item = f64> + '_> {
    let step = r.fraction.map_or(r.step, |f| f.min(r.step));
    if step <= 0.0 {
        return None;
    }
    let n = ((r.to - r.from) / step).floor() as usize + 1;
    if n > max {
        return None;
    }
    Some((0..n).map(move |i| r.from + i as f64 * step))
}

/// Examples kept per intent.
const EXAMPLES: usize = 2;

/// One sentence a template accepts: the first branch everywhere, lists' first values.
fn sample(
    c: &CompiledLanguage,
    words: &HashMap<u32, &str>,
    program: &[Inst],
    slot_names: &[String],
) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut pc = 0;
    let mut steps = 0;
    while let Some(inst) = program.get(pc) {
        steps += 1;
        if steps > 10_000 {
            break;
        }
        match inst {
            Inst::Tok(id) => {
                out.push(words.get(id).copied().unwrap_or("").to_string());
                pc += 1;
            }
            Inst::Split(a, _) => pc = *a as usize,
            Inst::Jmp(t) => pc = *t as usize,
            Inst::Slot { list, slot } => {
                let v = match c.lists.get(*list as usize) {
                    Some(CompiledList::Values { values, .. }) => values
                        .first()
                        .and_then(|v| v.spoken.first().cloned())
                        .unwrap_or_else(|| "…".into()),
                    Some(CompiledList::Range(r)) => {
                        SlotValue::number((r.from + r.to) / 2.0).to_string()
                    }
                    _ => format!(
                        "<{}>",
                        slot_names
                            .get(*slot as usize)
                            .map_or("text", String::as_str)
                    ),
                };
                out.push(v);
                pc += 1;
            }
            Inst::Match => break,
        }
    }
    out.retain(|w| !w.is_empty());
    out.join(if c.split_letters { "" } else { " " })
}

fn schema_of(c: &CompiledLanguage, intents: &[String]) -> Vec<IntentSchema> {
    let words: HashMap<u32, &str> = c.words.iter().map(|(w, id)| (*id, w.as_str())).collect();
    let mut examples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut last_block: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &c.templates {
        let intent = c.blocks[t.block].intent.as_str();
        // One example per block (blocks are the intent's different meanings), up to EXAMPLES.
        let ex = examples.entry(intent).or_default();
        if ex.len() < EXAMPLES && last_block.get(intent) != Some(&t.block) {
            let s = sample(c, &words, c.program(t), &c.slot_names);
            if !s.is_empty() && !ex.contains(&s) {
                ex.push(s);
                last_block.insert(intent, t.block);
            }
        }
    }
    let mut acc: BTreeMap<&str, BTreeMap<String, Acc>> = BTreeMap::new();
    for t in &c.templates {
        let block = &c.blocks[t.block];
        let slots = acc.entry(block.intent.as_str()).or_default();
        for inst in c.program(t) {
            if let Inst::Slot { list, slot } = *inst {
                if let (Some(name), Some(l)) =
                    (c.slot_names.get(slot as usize), c.lists.get(list as usize))
                {
                    slots.entry(name.clone()).or_default().add_list(l);
                }
            }
        }
    }
    for block in &c.blocks {
        let slots = acc.entry(block.intent.as_str()).or_default();
        for (name, v) in &block.slots {
            slots.entry(name.clone()).or_default().add_value(v);
        }
    }
    intents
        .iter()
        .filter_map(|name| {
            let slots = acc.remove(name.as_str())?;
            Some(IntentSchema {
                examples: examples.remove(name.as_str()).unwrap_or_default(),
                name: name.clone(),
                slots: slots
                    .into_iter()
                    .map(|(name, a)| SlotSchema {
                        name,
                        kind: a.finish(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Everything a model needs to choose among one language's intents: what its answer may say
/// (the schema) and sentences of the grammar to show it (the nearest few to the request).
#[derive(Debug)]
pub struct IntentCatalog {
    pub language: Language,
    pub intents: Vec<IntentSchema>,
    pub examples: SimilarityIndex<Sample>,
}

impl IntentCatalog {
    pub fn new(language: Language, intents: Vec<IntentSchema>, samples: Vec<Sample>) -> Self {
        Self {
            language,
            intents,
            examples: SimilarityIndex::new(samples.into_iter().map(|s| (s.text.clone(), s))),
        }
    }
}

impl Recognizer {
    /// The [`IntentCatalog`] of `language`, built once and kept until a list changes
    /// ([`Recognizer::set_list`]). `None` when no grammar serves the language.
    pub fn catalog(&self, language: &Language) -> Option<Arc<IntentCatalog>> {
        let lock = self.find(language)?;
        let generation = self.generation();
        let mut cache = match self.catalogs.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, g, c)) = cache.iter().find(|(l, _, _)| l == language) {
            if *g == generation {
                return Some(c.clone());
            }
        }
        let (intents, samples) = {
            let c = match lock.read() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            (schema_of(&c, self.intents()), samples_of(&c))
        };
        let catalog = Arc::new(IntentCatalog::new(language.clone(), intents, samples));
        cache.retain(|(l, _, _)| l != language);
        cache.push((language.clone(), generation, catalog.clone()));
        Some(catalog)
    }

    /// Sentences the grammar of `language` accepts, with their intent and slots (see
    /// `samples.rs`).
    pub fn samples(&self, language: &Language) -> Vec<Sample> {
        let Some(lock) = self.find(language) else {
            return Vec::new();
        };
        let c = match lock.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        samples_of(&c)
    }

    /// An [`IntentMatch`] for an intent found another way (the LLM): the intent's metadata
    /// (VSS path) and its default response with the slots filled in, as a grammar match has.
    pub fn complete_match(
        &self,
        language: &Language,
        intent: &str,
        slots: BTreeMap<String, SlotValue>,
        confidence: f64,
    ) -> IntentMatch {
        let mut m = IntentMatch {
            intent: intent.to_string(),
            slot_text: slots
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            slots,
            confidence,
            template: String::new(),
            metadata: BTreeMap::new(),
            response: None,
            language: language.clone(),
        };
        let Some(lock) = self.find(language) else {
            return m;
        };
        let c = match lock.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(b) = c.blocks.iter().find(|b| b.intent == intent) {
            m.metadata = b.metadata.clone();
        }
        m.response = c
            .responses
            .get(intent)
            .and_then(|r| r.get("default"))
            .map(|r| super::recognizer::render(r, &m));
        m
    }

    /// The intents of `language` with their slots, in [`Recognizer::intents`] order. Dynamic
    /// lists are read as they are now (after `set_list`).
    pub fn schema(&self, language: &Language) -> Vec<IntentSchema> {
        let Some(lock) = self.find(language) else {
            return Vec::new();
        };
        let c = match lock.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        schema_of(&c, self.intents())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::Grammar;

    #[test]
    fn builtin_catalog_schema_has_typed_slots() {
        let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
        for lang in [Language::english(), Language::mandarin()] {
            let s = r.schema(&lang);
            let temp = s
                .iter()
                .find(|i| i.name == "climate.set_temperature")
                .unwrap();
            match &temp.slot("temperature").unwrap().kind {
                SlotKind::Numbers(n) => assert!(n.contains(&22.0) && n.contains(&22.5)),
                other => panic!("{other:?}"),
            }
            match &temp.slot("zone").unwrap().kind {
                SlotKind::Values(v) => assert_eq!(v, &["all", "driver", "passenger", "rear"]),
                other => panic!("{other:?}"),
            }
            let nav = s
                .iter()
                .find(|i| i.name == "navigation.navigate_to")
                .unwrap();
            assert!(matches!(
                nav.slot("destination").unwrap().kind,
                SlotKind::Text { .. }
            ));
            let adj = s
                .iter()
                .find(|i| i.name == "climate.adjust_temperature")
                .unwrap();
            assert!(!temp.examples.is_empty(), "{temp:?}");
            assert_eq!(
                adj.slot("direction").unwrap().kind,
                SlotKind::Values(vec!["down".into(), "up".into()])
            );
        }
    }
}
