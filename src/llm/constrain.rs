//! Constrained decoding of an intent: a byte-level automaton that accepts exactly the JSON
//! objects `{"intent":"<name>","slots":{...}}` of a catalog, and the per-token mask built
//! from it (a token is allowed iff the automaton accepts its whole byte string from the
//! current state). Whatever the model then writes parses and names a catalog intent or
//! `none`, with slot names of that intent and values its lists allow; free-text slots can
//! only copy words of the sentence, and number slots only take numbers it says.

use crate::nlu::{IntentSchema, SlotKind};

/// The output's fixed start; the prompt ends with it, so the model starts at the name.
pub const PREFIX: &str = "{\"intent\":\"";
const SLOTS_OPEN: &[u8] = b",\"slots\":{";
/// The intent the model gives when nothing in the catalog fits.
pub const NONE: &str = "none";

/// The catalog as the automaton needs it: names, slots and their value strings.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub intents: Vec<IntentSchema>,
    /// Intent names (plus `none` last) as bytes.
    names: Vec<Vec<u8>>,
    /// Per intent, per slot: the allowed value texts as written in JSON (quoted for words,
    /// bare for numbers); empty for text slots.
    values: Vec<Vec<Vec<Vec<u8>>>>,
    /// The sentence free-text slots copy from.
    sentence: Vec<u8>,
}

impl Catalog {
    /// `said`: the numbers of the sentence (`nlu::numbers::numbers_in`); a number slot may
    /// only take one of them, so the model cannot invent "23" for "keep it at twenty".
    pub fn new(intents: Vec<IntentSchema>, sentence: &str, said: &[f64]) -> Self {
        let mut names: Vec<Vec<u8>> = intents.iter().map(|i| i.name.as_bytes().to_vec()).collect();
        names.push(NONE.as_bytes().to_vec());
        let values = intents
            .iter()
            .map(|i| {
                i.slots
                    .iter()
                    .map(|s| match &s.kind {
                        SlotKind::Values(v) => v
                            .iter()
                            .filter(|v| !v.contains(['"', '\\']))
                            .map(|v| format!("\"{v}\"").into_bytes())
                            .collect(),
                        SlotKind::Numbers(n) => n
                            .iter()
                            .filter(|n| said.iter().any(|s| (*s - **n).abs() < 1e-6))
                            .map(|n| crate::nlu::SlotValue::number(*n).to_string().into_bytes())
                            .collect(),
                        SlotKind::Text { .. } => Vec::new(),
                    })
                    .collect()
            })
            .collect();
        Self {
            intents,
            names,
            values,
            sentence: sentence.as_bytes().to_vec(),
        }
    }

    fn is_text(&self, intent: usize, slot: usize) -> bool {
        self.intents
            .get(intent)
            .and_then(|i| i.slots.get(slot))
            .is_some_and(|s| matches!(s.kind, SlotKind::Text { .. }))
    }

    fn slot_count(&self, intent: usize) -> usize {
        self.intents.get(intent).map_or(0, |i| i.slots.len())
    }

    /// A slot the model may fill: free text, or a list with at least one value.
    fn usable(&self, intent: usize, slot: usize) -> bool {
        self.is_text(intent, slot)
            || self
                .values
                .get(intent)
                .and_then(|v| v.get(slot))
                .is_some_and(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Typing the intent name (after `{"intent":"`); ends with `"`.
    Name,
    /// Inside `,"slots":{` at this byte.
    SlotsOpen(usize),
    /// After `{` or `,`: `"` starts a slot; `}` closes (not after a comma).
    SlotStart {
        after_comma: bool,
    },
    /// Typing a slot name; ends with `"`.
    SlotName,
    Colon,
    /// A list or number value, as written in JSON (bare numbers end at `,` or `}`).
    Value,
    /// A text value: `"` then a non-empty piece of the sentence then `"`.
    TextOpen,
    Text,
    /// After a value: `,` or `}`.
    AfterValue,
    /// The final `}`.
    Close,
    Done,
}

/// Where the automaton is. Small and cheap to clone (one clone per candidate token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    stage: Stage,
    /// The name / value typed so far in the current stage.
    typed: Vec<u8>,
    intent: usize,
    slot: usize,
    used: u64,
}

impl State {
    pub fn start() -> Self {
        Self {
            stage: Stage::Name,
            typed: Vec::new(),
            intent: 0,
            slot: 0,
            used: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Whether the name of the intent is still being typed (its tokens carry the confidence).
    pub fn in_name(&self) -> bool {
        self.stage == Stage::Name
    }

    /// Feed every byte; false (and the state is unusable) as soon as one is refused, or if
    /// bytes remain after the final `}`.
    pub fn feed_all(&mut self, cat: &Catalog, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.feed(cat, b))
    }

    pub fn feed(&mut self, cat: &Catalog, b: u8) -> bool {
        match self.stage {
            Stage::Name => {
                if b == b'"' {
                    let Some(i) = cat.names.iter().position(|n| *n == self.typed) else {
                        return false;
                    };
                    self.intent = i;
                    self.typed.clear();
                    self.stage = Stage::SlotsOpen(0);
                    return true;
                }
                self.typed.push(b);
                cat.names.iter().any(|n| n.starts_with(&self.typed))
            }
            Stage::SlotsOpen(i) => {
                if SLOTS_OPEN.get(i) != Some(&b) {
                    return false;
                }
                self.stage = if i + 1 == SLOTS_OPEN.len() {
                    Stage::SlotStart { after_comma: false }
                } else {
                    Stage::SlotsOpen(i + 1)
                };
                true
            }
            Stage::SlotStart { after_comma } => match b {
                b'"' if self.free_slots(cat) => {
                    self.stage = Stage::SlotName;
                    true
                }
                b'}' if !after_comma => {
                    self.stage = Stage::Close;
                    true
                }
                _ => false,
            },
            Stage::SlotName => {
                let Some(intent) = cat.intents.get(self.intent) else {
                    return false;
                };
                if b == b'"' {
                    let Some(s) = intent
                        .slots
                        .iter()
                        .position(|s| s.name.as_bytes() == self.typed.as_slice())
                    else {
                        return false;
                    };
                    if s >= 64 || self.used & (1 << s) != 0 || !cat.usable(self.intent, s) {
                        return false;
                    }
                    self.slot = s;
                    self.used |= 1 << s;
                    self.typed.clear();
                    self.stage = Stage::Colon;
                    return true;
                }
                self.typed.push(b);
                intent.slots.iter().enumerate().any(|(k, s)| {
                    k < 64
                        && self.used & (1 << k) == 0
                        && cat.usable(self.intent, k)
                        && s.name.as_bytes().starts_with(&self.typed)
                })
            }
            Stage::Colon => {
                if b != b':' {
                    return false;
                }
                self.stage = if cat.is_text(self.intent, self.slot) {
                    Stage::TextOpen
                } else {
                    Stage::Value
                };
                true
            }
            Stage::Value => {
                let options = &cat.values[self.intent][self.slot];
                if (b == b',' || b == b'}')
                    && options.iter().any(|o| *o == self.typed && o[0] != b'"')
                {
                    // A bare number ends at the next separator, which is part of AfterValue.
                    self.typed.clear();
                    self.stage = Stage::AfterValue;
                    return self.feed(cat, b);
                }
                self.typed.push(b);
                if options.iter().any(|o| *o == self.typed && o[0] == b'"') {
                    self.typed.clear();
                    self.stage = Stage::AfterValue;
                    return true;
                }
                options.iter().any(|o| o.starts_with(&self.typed))
            }
            Stage::TextOpen => {
                if b != b'"' {
                    return false;
                }
                self.stage = Stage::Text;
                true
            }
            Stage::Text => {
                if b == b'"' {
                    if self.typed.is_empty() || std::str::from_utf8(&self.typed).is_err() {
                        return false;
                    }
                    self.typed.clear();
                    self.stage = Stage::AfterValue;
                    return true;
                }
                if b == b'\\' || b < 0x20 {
                    return false;
                }
                // A piece of the sentence starts on a character: begun inside one (a UTF-8
                // continuation byte), it could run to the sentence's end and never become
                // valid text to close — a dead end.
                if self.typed.is_empty() && (0x80..0xC0).contains(&b) {
                    return false;
                }
                self.typed.push(b);
                contains(&cat.sentence, &self.typed)
            }
            Stage::AfterValue => match b {
                // A comma only when a slot is left to fill: the automaton never reaches a
                // state where no byte is allowed.
                b',' if self.free_slots(cat) => {
                    self.stage = Stage::SlotStart { after_comma: true };
                    true
                }
                b'}' => {
                    self.stage = Stage::Close;
                    true
                }
                _ => false,
            },
            Stage::Close => {
                if b != b'}' {
                    return false;
                }
                self.stage = Stage::Done;
                true
            }
            Stage::Done => false,
        }
    }

    fn free_slots(&self, cat: &Catalog) -> bool {
        let n = cat.slot_count(self.intent).min(64);
        (0..n).any(|k| self.used & (1 << k) == 0 && cat.usable(self.intent, k))
    }

    /// The bytes that must come next whatever the model prefers (a fixed part of the JSON,
    /// or the rest of the only name that fits). Empty when there is a real choice.
    pub fn forced(&self, cat: &Catalog) -> Vec<u8> {
        match self.stage {
            Stage::Name => {
                let mut fits = cat.names.iter().filter(|n| n.starts_with(&self.typed));
                match (fits.next(), fits.next()) {
                    (Some(n), None) => {
                        let mut out = n[self.typed.len()..].to_vec();
                        out.push(b'"');
                        out.extend_from_slice(SLOTS_OPEN);
                        out
                    }
                    _ => Vec::new(),
                }
            }
            Stage::SlotsOpen(i) => SLOTS_OPEN[i..].to_vec(),
            Stage::Colon => b":".to_vec(),
            Stage::TextOpen => b"\"".to_vec(),
            Stage::Close => b"}".to_vec(),
            _ => Vec::new(),
        }
    }

    /// The intent index (`intents.len()` is `none`) once its name is complete.
    pub fn intent(&self) -> Option<usize> {
        (self.stage != Stage::Name).then_some(self.intent)
    }
}

/// What the automaton makes of `written` (the model's bytes after [`PREFIX`]) for `sentence`
/// in the language `intents` come from: the whole JSON when it takes every byte and reaches
/// the end, else `None`. Forced bytes are the model's to write too (the decoder writes them
/// for it). For the fuzz target `intent_json` (`crate::fuzzing`).
pub fn accepted_intent_json(
    intents: &[IntentSchema],
    language: &crate::nlu::Language,
    sentence: &str,
    written: &str,
) -> Option<String> {
    let said = crate::nlu::numbers::numbers_in(sentence, language);
    let cat = Catalog::new(intents.to_vec(), sentence, &said);
    let mut state = State::start();
    (state.feed_all(&cat, written.as_bytes()) && state.is_done())
        .then(|| format!("{PREFIX}{written}"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Each token's bytes, grouped by first byte so that a whole group is refused with one check.
pub struct TokenTable {
    /// `bytes[id]`: the token's raw bytes; `None` for special tokens (never allowed).
    bytes: Vec<Option<Vec<u8>>>,
    by_first: Vec<Vec<u32>>,
}

impl TokenTable {
    /// A table with no tokens (unit tests of the prompt, which need no model).
    #[cfg(test)]
    pub fn empty() -> Self {
        Self {
            bytes: Vec::new(),
            by_first: vec![Vec::new(); 256],
        }
    }

    pub fn new(tokenizer: &tokenizers::Tokenizer, vocab: usize) -> Self {
        let byte_level =
            tokenizer.token_to_id("Ġthe").is_some() || tokenizer.token_to_id("Ġ").is_some();
        let decode_map = byte_decoder();
        let specials: std::collections::HashSet<u32> = tokenizer
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        let mut bytes = Vec::with_capacity(vocab);
        let mut by_first = vec![Vec::new(); 256];
        for id in 0..vocab as u32 {
            let b = if specials.contains(&id) {
                None
            } else {
                tokenizer
                    .id_to_token(id)
                    .and_then(|t| token_bytes(&t, byte_level, &decode_map))
                    .filter(|b| !b.is_empty())
            };
            if let Some(b) = &b {
                by_first[b[0] as usize].push(id);
            }
            bytes.push(b);
        }
        Self { bytes, by_first }
    }

    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).and_then(|b| b.as_deref())
    }

    /// Set every logit the automaton refuses to -inf; returns how many tokens remain.
    pub fn mask(&self, cat: &Catalog, state: &State, logits: &mut [f32]) -> usize {
        let mut allowed = vec![false; logits.len()];
        let mut n = 0;
        for first in 0..=255u8 {
            let group = &self.by_first[first as usize];
            if group.is_empty() {
                continue;
            }
            let mut s1 = state.clone();
            if !s1.feed(cat, first) {
                continue;
            }
            for &id in group {
                let Some(b) = self.bytes(id) else { continue };
                let mut s = s1.clone();
                if s.feed_all(cat, &b[1..]) {
                    if let Some(a) = allowed.get_mut(id as usize) {
                        *a = true;
                        n += 1;
                    }
                }
            }
        }
        for (l, a) in logits.iter_mut().zip(&allowed) {
            if !a {
                *l = f32::NEG_INFINITY;
            }
        }
        n
    }
}

/// GPT-2 byte-level BPE writes each byte as a printable character; this is the reverse map.
fn byte_decoder() -> std::collections::HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = std::collections::HashMap::new();
    let mut extra = 0u32;
    for b in 0..=255u32 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(ch) = char::from_u32(c) {
            map.insert(ch, b as u8);
        }
    }
    map
}

fn token_bytes(
    token: &str,
    byte_level: bool,
    map: &std::collections::HashMap<char, u8>,
) -> Option<Vec<u8>> {
    // SentencePiece byte fallback: `<0x0A>`.
    if let Some(hex) = token.strip_prefix("<0x").and_then(|t| t.strip_suffix('>')) {
        return u8::from_str_radix(hex, 16).ok().map(|b| vec![b]);
    }
    if byte_level {
        token.chars().map(|c| map.get(&c).copied()).collect()
    } else {
        Some(token.replace('\u{2581}', " ").into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::{SlotKind, SlotSchema};

    fn catalog(sentence: &str) -> Catalog {
        Catalog::new(
            vec![
                IntentSchema {
                    examples: vec![],
                    name: "climate.set_temperature".into(),
                    slots: vec![
                        SlotSchema {
                            name: "temperature".into(),
                            kind: SlotKind::Numbers(vec![2.0, 22.0, 22.5]),
                        },
                        SlotSchema {
                            name: "zone".into(),
                            kind: SlotKind::Values(vec!["driver".into(), "rear".into()]),
                        },
                    ],
                },
                IntentSchema {
                    examples: vec![],
                    name: "navigation.navigate_to".into(),
                    slots: vec![SlotSchema {
                        name: "destination".into(),
                        kind: SlotKind::Text { known: vec![] },
                    }],
                },
            ],
            sentence,
            &[2.0, 22.0, 22.5],
        )
    }

    fn accepts(cat: &Catalog, text: &str) -> bool {
        let mut s = State::start();
        let rest = text.strip_prefix(PREFIX).expect("prefix");
        s.feed_all(cat, rest.as_bytes()) && s.is_done()
    }

    #[test]
    fn accepts_exactly_catalog_intents() {
        let cat = catalog("take me to the airport please");
        for ok in [
            r#"{"intent":"climate.set_temperature","slots":{"temperature":22.5,"zone":"rear"}}"#,
            r#"{"intent":"climate.set_temperature","slots":{"zone":"driver","temperature":2}}"#,
            r#"{"intent":"climate.set_temperature","slots":{}}"#,
            r#"{"intent":"navigation.navigate_to","slots":{"destination":"the airport"}}"#,
            r#"{"intent":"none","slots":{}}"#,
        ] {
            assert!(accepts(&cat, ok), "{ok}");
            assert!(serde_json::from_str::<serde_json::Value>(ok).is_ok());
        }
        for bad in [
            r#"{"intent":"climate.set_temp","slots":{}}"#,
            r#"{"intent":"climate.set_temperature","slots":{"temperature":23}}"#,
            r#"{"intent":"climate.set_temperature","slots":{"temperature":22,"temperature":22}}"#,
            r#"{"intent":"climate.set_temperature","slots":{"zone":"left"}}"#,
            r#"{"intent":"climate.set_temperature","slots":{"temperature":22,}}"#,
            r#"{"intent":"navigation.navigate_to","slots":{"destination":"the moon"}}"#,
            r#"{"intent":"navigation.navigate_to","slots":{"destination":""}}"#,
            r#"{"intent":"none","slots":{"zone":"rear"}}"#,
            r#"{"intent":"none","slots":{}}}"#,
            r#"{"intent":"navigation.navigate_to","slots":{"destination":"the airport",}}"#,
        ] {
            assert!(!accepts(&cat, bad), "{bad}");
        }
    }

    /// From any reachable state some byte is allowed: after the last free slot's value a
    /// comma is refused, so the model cannot write itself into a dead end.
    #[test]
    fn text_starts_on_a_character_so_it_can_always_close() {
        let cat = catalog("带我去机场");
        let mut st = State::start();
        let head = "{\"intent\":\"navigation.navigate_to\",\"slots\":{\"destination\":\"";
        let head = head.strip_prefix(PREFIX).expect("prefix");
        assert!(st.feed_all(&cat, head.as_bytes()), "the prefix is valid");
        let mid = &"带我去机场".as_bytes()[1..];
        assert!(
            !st.clone().feed(&cat, mid[0]),
            "a continuation byte cannot start the text"
        );
        assert!(
            st.feed_all(&cat, "去机场\"".as_bytes()),
            "a whole-character piece closes"
        );
    }

    #[test]
    fn no_dead_end_after_the_last_slot() {
        let cat = catalog("take me to the airport");
        let mut s = State::start();
        assert!(s.feed_all(
            &cat,
            br#"navigation.navigate_to","slots":{"destination":"the airport""#
        ));
        assert!(!s.clone().feed(&cat, b','));
        assert!(s.feed_all(&cat, b"}}") && s.is_done());
        let mut s = State::start();
        assert!(s.feed_all(
            &cat,
            br#"climate.set_temperature","slots":{"temperature":22,"zone":"rear""#
        ));
        assert!(!s.clone().feed(&cat, b','));
        let mut s = State::start();
        assert!(s.feed_all(
            &cat,
            br#"climate.set_temperature","slots":{"temperature":22"#
        ));
        assert!(s.clone().feed(&cat, b','));
    }

    #[test]
    fn number_slots_take_only_numbers_the_sentence_says() {
        let schema = catalog("x").intents;
        let cat = Catalog::new(schema, "keep it at twenty two", &[22.0]);
        let mut s = State::start();
        assert!(s.feed_all(
            &cat,
            br#"climate.set_temperature","slots":{"temperature":2"#
        ));
        assert!(!s.clone().feed(&cat, b'}'), "2 was not said");
        assert!(s.feed_all(&cat, b"2}}") && s.is_done());
        // Nothing said: the number slot cannot be filled at all.
        let cat = Catalog::new(catalog("x").intents, "make it warmer", &[]);
        let mut s = State::start();
        assert!(s.feed_all(&cat, br#"climate.set_temperature","slots":{"#));
        assert!(!s.clone().feed_all(&cat, br#""temperature""#));
        assert!(s.feed_all(&cat, br#""zone":"rear"}}"#) && s.is_done());
    }

    #[test]
    fn forced_bytes_follow_the_only_fitting_name() {
        let cat = catalog("x");
        let mut s = State::start();
        assert!(s.forced(&cat).is_empty());
        assert!(s.feed_all(&cat, b"nav"));
        assert_eq!(
            String::from_utf8(s.forced(&cat)).unwrap(),
            "igation.navigate_to\",\"slots\":{"
        );
    }

    #[test]
    fn byte_level_tokens_map_back_to_bytes() {
        let map = byte_decoder();
        assert_eq!(token_bytes("Ġthe", true, &map).unwrap(), b" the");
        assert_eq!(token_bytes("<0x0A>", false, &map).unwrap(), b"\n");
        assert_eq!(token_bytes("\u{2581}hi", false, &map).unwrap(), b" hi");
        // "åĮĹ" is the byte-level spelling of "北" (e5 8c 97).
        assert_eq!(token_bytes("åĮĹ", true, &map).unwrap(), "北".as_bytes());
    }
}
