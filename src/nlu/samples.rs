//! Sentences the grammar accepts, generated from its compiled templates with their intent and
//! slots. They are the examples the LLM is shown for a sentence the grammar did not match
//! (the nearest few, see `similar.rs`), so a user's own grammar files teach the model their
//! intents too, without a list of examples written by hand.
//!
//! Generation is deterministic: a fixed-seed walk per template takes branches, list values
//! and numbers pseudo-randomly; wildcards get a placeholder in the grammar's language.

use super::compile::{CompiledLanguage, CompiledList, Inst};
use super::SlotValue;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A sentence of the grammar with what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub text: String,
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
}

/// Walks tried per template; distinct sentences kept per template.
const WALKS: usize = 8;
const PER_TEMPLATE: usize = 3;
/// Sentences kept per intent (the first templates of an intent are its most typical).
const PER_INTENT: usize = 60;
/// Instructions one walk may execute (programs are acyclic; this only bounds bad input).
const MAX_STEPS: usize = 10_000;

/// A small xorshift generator: reproducible samples without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// What a wildcard slot is filled with: a typical value for the catalog's slot names, a
/// neutral word otherwise.
fn placeholder(slot: &str, chinese: bool, rng: &mut Rng) -> &'static str {
    let options: &[&str] = match (slot, chinese) {
        ("destination" | "poi" | "place", false) => &["the airport", "main street", "the office"],
        ("destination" | "poi" | "place", true) => &["机场", "人民广场", "公司"],
        ("contact" | "name" | "person", false) => &["alice", "mom", "john"],
        ("contact" | "name" | "person", true) => &["妈妈", "张三", "小王"],
        ("message" | "text" | "body", false) => &["i'm on my way", "i will be late"],
        ("message" | "text" | "body", true) => &["我在路上", "我会晚到"],
        ("query" | "song" | "artist" | "playlist" | "album", false) => &["jazz", "the beatles"],
        ("query" | "song" | "artist" | "playlist" | "album", true) => &["周杰伦", "爵士乐"],
        ("location" | "city", false) => &["paris", "berlin"],
        ("location" | "city", true) => &["上海", "北京"],
        (_, false) => &["something"],
        (_, true) => &["这个"],
    };
    options[rng.below(options.len())]
}

fn range_pick(r: &super::lists::RangeDef, rng: &mut Rng) -> f64 {
    let step = if r.step > 0.0 { r.step } else { 1.0 };
    let n = (((r.to - r.from) / step).floor() as usize)
        .saturating_add(1)
        .min(1_000_000);
    r.from + rng.below(n) as f64 * step
}

/// One walk through `program`: the sentence's words and the slots it filled.
fn walk(
    c: &CompiledLanguage,
    words: &HashMap<u32, &str>,
    program: &[Inst],
    slot_names: &[String],
    rng: &mut Rng,
) -> Option<(Vec<String>, BTreeMap<String, SlotValue>)> {
    let mut out = Vec::new();
    let mut slots = BTreeMap::new();
    let mut pc = 0;
    for _ in 0..MAX_STEPS {
        match program.get(pc)? {
            Inst::Tok(id) => {
                out.push(words.get(id).copied()?.to_string());
                pc += 1;
            }
            Inst::Split(a, b) => pc = (if rng.below(2) == 0 { *a } else { *b }) as usize,
            Inst::Jmp(t) => pc = *t as usize,
            Inst::Slot { list, slot } => {
                let name = slot_names.get(*slot as usize)?;
                let (text, value) = match c.lists.get(*list as usize)? {
                    CompiledList::Values { values, .. } => {
                        let v = values.get(rng.below(values.len()))?;
                        let spoken = v.spoken.get(rng.below(v.spoken.len()))?;
                        (spoken.clone(), v.out.clone())
                    }
                    CompiledList::Range(r) => {
                        let n = range_pick(r, rng);
                        let value = SlotValue::number(n * r.multiplier.unwrap_or(1.0));
                        (SlotValue::number(n).to_string(), value)
                    }
                    CompiledList::Wildcard => {
                        let p = placeholder(name, c.split_letters, rng);
                        (p.to_string(), SlotValue::Text(p.to_string()))
                    }
                };
                out.push(text);
                slots.insert(name.clone(), value);
                pc += 1;
            }
            Inst::Match => return Some((out, slots)),
        }
    }
    None
}

/// Up to [`PER_TEMPLATE`] distinct sentences per template, [`PER_INTENT`] per intent, in
/// template order. Templates that need a previous turn (`requires_context`) are left out:
/// alone, their sentences mean nothing.
pub(crate) fn samples_of(c: &CompiledLanguage) -> Vec<Sample> {
    let words: HashMap<u32, &str> = c.words.iter().map(|(w, id)| (*id, w.as_str())).collect();
    let joiner = if c.split_letters { "" } else { " " };
    let mut seen: HashSet<String> = HashSet::new();
    let mut per_intent: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (t_index, t) in c.templates.iter().enumerate() {
        let Some(block) = c.blocks.get(t.block) else {
            continue;
        };
        if !block.requires_context.is_empty() {
            continue;
        }
        let mut rng = Rng::new(t_index as u64 + 1);
        let mut kept = 0;
        for _ in 0..WALKS {
            if kept >= PER_TEMPLATE
                || per_intent.get(block.intent.as_str()).copied().unwrap_or(0) >= PER_INTENT
            {
                break;
            }
            let Some((words_said, mut slots)) =
                walk(c, &words, c.program(t), &c.slot_names, &mut rng)
            else {
                continue;
            };
            let text: Vec<&str> = words_said
                .iter()
                .map(String::as_str)
                .filter(|w| !w.is_empty())
                .collect();
            if text.is_empty() {
                continue;
            }
            let text = text.join(joiner);
            if !seen.insert(text.clone()) {
                continue;
            }
            for (k, v) in &block.slots {
                slots.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push(Sample {
                text,
                intent: block.intent.clone(),
                slots,
            });
            kept += 1;
            *per_intent.entry(block.intent.as_str()).or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::nlu::{DialogueContext, Grammar, Language, Recognizer};

    #[test]
    fn samples_are_sentences_the_grammar_gives_back() {
        let r = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compile");
        for lang in [Language::english(), Language::mandarin()] {
            let samples = r.samples(&lang);
            assert!(
                samples.len() > 200,
                "{lang}: only {} samples",
                samples.len()
            );
            let intents: std::collections::HashSet<&str> =
                samples.iter().map(|s| s.intent.as_str()).collect();
            assert!(intents.len() >= 28, "{lang}: {intents:?}");
            // Each sample is matched by the grammar as the intent it was generated from
            // (a few ambiguous ones may rank another template of the catalog first).
            let agree = samples
                .iter()
                .filter(|s| {
                    r.recognize(&s.text, &lang, &DialogueContext::new())
                        .is_some_and(|m| m.intent == s.intent)
                })
                .count();
            assert!(
                agree * 100 >= samples.len() * 95,
                "{lang}: {agree}/{} samples recognised as their intent",
                samples.len()
            );
            // Deterministic.
            assert_eq!(samples, r.samples(&lang));
        }
    }
}
