//! The slot values a sentence states outright, for an intent found without a template match
//! (the semantic tier's nearest neighbours): the spoken forms of the intent's value lists and
//! the numbers that fit its ranges, read off the sentence's words. Free-text (wildcard) slots
//! cannot be read this way; they are reported missing so a model can fill them.

use std::collections::{BTreeMap, BTreeSet};

use super::compile::{CompiledLanguage, CompiledList, Inst};
use super::normalize::normalize;
use super::numbers::numbers_in;
use super::{Language, Recognizer, SlotValue};

/// What [`Recognizer::stated_slots`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatedSlots {
    pub slots: BTreeMap<String, SlotValue>,
    /// Slots every template of the intent has that the sentence did not state.
    pub missing: Vec<String>,
}

impl Recognizer {
    /// The slots of `intent` that `text` states: list values (longest spoken form first, no
    /// overlaps), numbers inside a range slot's bounds, and the fixed slots of `like` (a
    /// grammar sample of the same intent) that a template block sets by itself.
    pub fn stated_slots(
        &self,
        text: &str,
        language: &Language,
        intent: &str,
        like: &BTreeMap<String, SlotValue>,
    ) -> StatedSlots {
        let Some(lock) = self.find(language) else {
            return StatedSlots::default();
        };
        let c = match lock.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        stated_in(&c, language, text, intent, like)
    }
}

fn stated_in(
    c: &CompiledLanguage,
    language: &Language,
    text: &str,
    intent: &str,
    like: &BTreeMap<String, SlotValue>,
) -> StatedSlots {
    // The intent's slots (name → lists) in template order, and those every template has.
    let mut order: Vec<String> = Vec::new();
    let mut lists: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut in_every: Option<BTreeSet<String>> = None;
    let mut fixed: BTreeSet<&str> = BTreeSet::new();
    for t in &c.templates {
        let block = &c.blocks[t.block];
        if block.intent != intent {
            continue;
        }
        fixed.extend(block.slots.keys().map(String::as_str));
        let mut here = BTreeSet::new();
        for inst in c.program(t) {
            if let Inst::Slot { list, slot } = *inst {
                if let Some(name) = c.slot_names.get(slot as usize) {
                    if !lists.contains_key(name) {
                        order.push(name.clone());
                    }
                    lists.entry(name.clone()).or_default().insert(list as usize);
                    here.insert(name.clone());
                }
            }
        }
        in_every = Some(match in_every {
            None => here,
            Some(prev) => prev.intersection(&here).cloned().collect(),
        });
    }
    let norm = normalize(text, c.split_letters);
    let ids: Vec<Option<u32>> = norm
        .tokens
        .iter()
        .map(|t| c.words.get(t.text.as_str()).copied())
        .collect();
    let mut taken = vec![false; ids.len()];
    let mut numbers = numbers_in(text, language);
    let mut out = StatedSlots::default();
    for name in &order {
        let mut best: Option<(usize, usize, SlotValue)> = None; // (len, start, value)
        let mut range = None;
        for &l in &lists[name] {
            match c.lists.get(l) {
                Some(list @ CompiledList::Values { values, .. }) => {
                    for start in 0..ids.len() {
                        let Some(first) = ids[start] else { continue };
                        for (form, v) in list.forms_starting(first) {
                            let end = start + form.len();
                            let fits = end <= ids.len()
                                && !taken[start..end].iter().any(|&t| t)
                                && form
                                    .iter()
                                    .zip(&ids[start..end])
                                    .all(|(a, b)| Some(*a) == *b);
                            let longer = best.as_ref().is_none_or(|(len, _, _)| form.len() > *len);
                            if fits && longer {
                                if let Some(value) = values.get(v) {
                                    best = Some((form.len(), start, value.out.clone()));
                                }
                            }
                        }
                    }
                }
                Some(CompiledList::Range(r)) => range = Some(r.clone()),
                _ => {}
            }
        }
        if let Some((len, start, value)) = best {
            taken[start..start + len].iter_mut().for_each(|t| *t = true);
            out.slots.insert(name.clone(), value);
        } else if let Some(r) = range {
            if let Some(i) = numbers.iter().position(|&n| n >= r.from && n <= r.to) {
                let n = numbers.remove(i);
                out.slots.insert(
                    name.clone(),
                    SlotValue::number(n * r.multiplier.unwrap_or(1.0)),
                );
            }
        }
    }
    for (k, v) in like {
        if fixed.contains(k.as_str()) && !out.slots.contains_key(k) {
            out.slots.insert(k.clone(), v.clone());
        }
    }
    out.missing = in_every
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !out.slots.contains_key(s))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::Grammar;

    #[test]
    fn list_values_and_numbers_are_read_off_the_sentence() {
        let r = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compile");
        let en = Language::parse("en").expect("en");
        let s = r.stated_slots(
            "I'd like the cabin at 22 please",
            &en,
            "climate.set_temperature",
            &BTreeMap::new(),
        );
        assert_eq!(
            s.slots.get("temperature").and_then(SlotValue::as_f64),
            Some(22.0),
            "{s:?}"
        );
        let none = r.stated_slots(
            "make it warmer",
            &en,
            "climate.set_temperature",
            &BTreeMap::new(),
        );
        assert!(
            none.missing.contains(&"temperature".to_string()),
            "{none:?}"
        );
    }
}
