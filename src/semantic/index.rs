//! The embedded sentences of one language and the nearest-neighbour decision. Pure: vectors
//! in, a decision out (unit-tested without a model).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::SemanticSettings;
use crate::nlu::normalize::{is_cjk, units};
use crate::nlu::{Sample, SlotValue};

/// Grammar sentences (with their intent) and open questions (intent `None`), as unit vectors.
#[derive(Debug)]
pub struct SemanticIndex {
    dim: usize,
    vectors: Vec<f32>,
    /// `None`: an open question (the `none` anchor).
    items: Vec<Option<Sample>>,
    /// Intents with a sentence phrased as a question ("is it going to rain", "附近有加油站吗"):
    /// they answer questions, so a question about the car's state may be theirs.
    asked: HashSet<String>,
}

/// One nearby known sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// `None` for an open question.
    pub intent: Option<String>,
    pub similarity: f32,
    pub slots: BTreeMap<String, SlotValue>,
    pub text: String,
}

/// What the neighbours say.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Intent {
        intent: String,
        similarity: f32,
        margin: f32,
        /// The slots of the nearest sentence of that intent (its fixed slots carry over).
        sample_slots: BTreeMap<String, SlotValue>,
    },
    /// Not close enough, too close to another intent, or nearest to an open question.
    None {
        nearest: Option<String>,
        similarity: f32,
        margin: f32,
    },
}

impl SemanticIndex {
    /// `samples` then `open` open questions, whose vectors are `vectors` in that order.
    pub fn new(dim: usize, samples: Vec<Sample>, open: usize, vectors: &[Arc<[f32]>]) -> Self {
        let mut items: Vec<Option<Sample>> = samples.into_iter().map(Some).collect();
        items.extend(std::iter::repeat_n(None, open));
        let asked = items
            .iter()
            .flatten()
            .filter(|s| is_question(&s.text))
            .map(|s| s.intent.clone())
            .collect();
        let mut flat = Vec::with_capacity(items.len() * dim);
        let mut kept = Vec::with_capacity(items.len());
        for (item, v) in items.into_iter().zip(vectors) {
            if v.len() == dim {
                flat.extend_from_slice(v);
                kept.push(item);
            }
        }
        Self {
            dim,
            vectors: flat,
            items: kept,
            asked,
        }
    }

    /// `d`, unless it gives an intent that never answers questions to a question about the
    /// state of something: "is the back window open" asks, it does not open it (embedding
    /// models place it next to "back right window open").
    pub fn screen(&self, d: Decision, text: &str) -> Decision {
        match d {
            Decision::Intent {
                intent,
                similarity,
                margin,
                ..
            } if asks_state(text) && !self.asked.contains(&intent) => Decision::None {
                nearest: Some(intent),
                similarity,
                margin,
            },
            d => d,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `k` sentences most like unit vector `q`, best first.
    pub fn nearest(&self, q: &[f32], k: usize) -> Vec<Neighbour> {
        if q.len() != self.dim || self.dim == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(f32, usize)> = self
            .vectors
            .chunks(self.dim)
            .enumerate()
            .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        scored.truncate(k);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .map(|(s, i)| match &self.items[i] {
                Some(sample) => Neighbour {
                    intent: Some(sample.intent.clone()),
                    similarity: s,
                    slots: sample.slots.clone(),
                    text: sample.text.clone(),
                },
                None => Neighbour {
                    intent: None,
                    similarity: s,
                    slots: BTreeMap::new(),
                    text: String::new(),
                },
            })
            .collect()
    }
}

/// The nearest sentence's intent, when it is at least `threshold` alike and `margin` more
/// alike than the nearest sentence of anything else (another intent or an open question;
/// the last neighbour's similarity when all `k` agree).
pub fn decide(neighbours: &[Neighbour], s: &SemanticSettings) -> Decision {
    let Some(best) = neighbours.first() else {
        return Decision::None {
            nearest: None,
            similarity: 0.0,
            margin: 0.0,
        };
    };
    let other = neighbours
        .iter()
        .find(|n| n.intent != best.intent)
        .or(neighbours.last())
        .map_or(0.0, |n| n.similarity);
    let margin = best.similarity - other;
    match &best.intent {
        Some(intent) if best.similarity >= s.threshold && margin >= s.margin => Decision::Intent {
            intent: intent.clone(),
            similarity: best.similarity,
            margin,
            sample_slots: best.slots.clone(),
        },
        _ => Decision::None {
            nearest: best.intent.clone(),
            similarity: best.similarity,
            margin,
        },
    }
}

fn han(text: &str) -> bool {
    text.chars().any(is_cjk)
}

/// Phrased as a question: an English question word first, or a Mandarin question particle
/// or question word.
fn is_question(text: &str) -> bool {
    if han(text) {
        let t = text.trim_end_matches(|c: char| c.is_whitespace() || "。.!！".contains(c));
        return t.ends_with(['吗', '呢', '?', '？'])
            || ["什么", "哪", "几", "多少", "怎么", "怎样", "如何", "没有"]
                .iter()
                .any(|w| t.contains(w));
    }
    units(text).first().is_some_and(|w| {
        [
            "is", "are", "will", "what", "what's", "whats", "where", "where's", "when", "how",
            "how's", "which", "who", "does", "do",
        ]
        .contains(&w.as_str())
    })
}

/// A yes/no question about how something is ("is the back window open", "are the doors
/// locked", "空调开着吗", "车窗关好了吗"), not a request to change it ("is it possible to…",
/// "能把空调开了吗" stay requests).
fn asks_state(text: &str) -> bool {
    if han(text) {
        let t = text.trim_end_matches(|c: char| c.is_whitespace() || "。.!！?？".contains(c));
        let polar = t.ends_with('吗') || t.ends_with("没有") || t.ends_with('没');
        let state = t.contains('着') || t.contains('了');
        let request = ["能", "可以", "帮", "请", "麻烦", "给我", "把"]
            .iter()
            .any(|w| t.contains(w));
        return polar && state && !request;
    }
    let w = units(text);
    matches!(
        (w.first().map(String::as_str), w.get(1).map(String::as_str)),
        (
            Some("is" | "are" | "was" | "were"),
            Some(
                "the" | "my" | "our" | "your" | "all" | "both" | "every" | "his" | "her" | "their"
            )
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::FRAC_1_SQRT_2;

    fn sample(text: &str, intent: &str) -> Sample {
        Sample {
            text: text.into(),
            intent: intent.into(),
            slots: BTreeMap::new(),
        }
    }

    fn settings() -> SemanticSettings {
        SemanticSettings {
            threshold: 0.8,
            thresholds: BTreeMap::new(),
            margin: 0.02,
            margins: BTreeMap::new(),
            k: 4,
        }
    }

    #[test]
    fn nearest_intent_wins_only_when_close_and_clear() {
        let v = |x: [f32; 2]| -> Arc<[f32]> { Arc::from(x.to_vec()) };
        let ix = SemanticIndex::new(
            2,
            vec![sample("a", "light.on"), sample("b", "light.off")],
            1,
            &[v([1.0, 0.0]), v([0.0, 1.0]), v([-1.0, 0.0])],
        );
        assert_eq!(ix.len(), 3);
        let n = ix.nearest(&[0.99, 0.14], 3);
        assert_eq!(n[0].intent.as_deref(), Some("light.on"));
        assert!(
            matches!(decide(&n, &settings()), Decision::Intent { ref intent, .. } if intent == "light.on")
        );
        // Halfway between two intents: no clear winner.
        let n = ix.nearest(&[FRAC_1_SQRT_2, FRAC_1_SQRT_2], 3);
        assert!(matches!(decide(&n, &settings()), Decision::None { .. }));
        // Nearest to an open question: no intent.
        let n = ix.nearest(&[-1.0, 0.0], 3);
        assert!(matches!(
            decide(&n, &settings()),
            Decision::None { nearest: None, .. }
        ));
    }

    #[test]
    fn a_question_about_state_is_not_a_command() {
        let v = |x: [f32; 2]| -> Arc<[f32]> { Arc::from(x.to_vec()) };
        let ix = SemanticIndex::new(
            2,
            vec![
                sample("back right window open", "window.open"),
                sample("is it going to rain", "weather.get"),
            ],
            0,
            &[v([1.0, 0.0]), v([0.0, 1.0])],
        );
        let got = |text: &str, q: [f32; 2]| match ix
            .screen(decide(&ix.nearest(&q, 2), &settings()), text)
        {
            Decision::Intent { intent, .. } => intent,
            Decision::None { .. } => String::new(),
        };
        assert_eq!(got("is the back window open", [1.0, 0.0]), "");
        assert_eq!(got("are all the windows down?", [1.0, 0.0]), "");
        assert_eq!(got("open the back window", [1.0, 0.0]), "window.open");
        assert_eq!(
            got("is it possible to open the back window", [1.0, 0.0]),
            "window.open"
        );
        // An intent that answers questions keeps them.
        assert_eq!(
            got("is the weather nice tomorrow", [0.0, 1.0]),
            "weather.get"
        );
        assert_eq!(got("车窗开着吗", [1.0, 0.0]), "");
        assert_eq!(got("后面的窗户关好了吗？", [1.0, 0.0]), "");
        assert_eq!(got("能帮我把车窗开了吗", [1.0, 0.0]), "window.open");
        assert_eq!(got("打开后车窗", [1.0, 0.0]), "window.open");
    }
}
