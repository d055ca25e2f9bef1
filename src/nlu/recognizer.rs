//! The recognizer: compiled grammars per language, sentence → best [`IntentMatch`].

use super::compile::{CompiledBlock, CompiledLanguage, CompiledList, UNKNOWN};
use super::error::Result;
use super::grammar::{ContextRule, Grammar};
use super::language::Language;
use super::lists::{ListDef, ListValue};
use super::matcher::{self, Filled, Input, TemplateMatch};
use super::normalize::{normalize, remove_punctuation, Normalized};
use super::schema::IntentCatalog;
use super::{DialogueContext, IntentMatch, SlotValue};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Sentences longer than this (in tokens) are not commands; they get no match at once.
const MAX_SENTENCE_TOKENS: usize = 64;
/// Longer texts are not looked at at all (a spoken command is a few dozen bytes).
const MAX_SENTENCE_BYTES: usize = 2048;

/// Matches sentences against a compiled [`Grammar`]. Cheap to share between threads:
/// `recognize` takes a read lock, `set_list` a short write lock.
pub struct Recognizer {
    languages: Vec<(Language, RwLock<CompiledLanguage>)>,
    intents: Vec<String>,
    /// Bumped by every `set_list`, so cached views of the grammar know they are stale.
    generation: AtomicU64,
    /// Per language: the generation it was built at and the LLM's view of the catalog.
    pub(super) catalogs: Mutex<Vec<(Language, u64, Arc<IntentCatalog>)>>,
    /// The lowest confidence a tolerant match may have (`f64` bits).
    tolerant_threshold: AtomicU64,
}

/// The default lowest confidence of a tolerant match (`nlu.tolerant_threshold`). 0.8 was the
/// lowest threshold of the grid 0.1…0.9 at which the development half of
/// `tests/data/nlu/tolerant_dev.tsv` had at most 2 % of unrelated sentences accepted; open
/// questions ("what is the meaning of life": 0.855 for `weather.get`), which that set lacked,
/// moved it to 0.9.
pub const DEFAULT_TOLERANT_THRESHOLD: f64 = 0.9;

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("languages", &self.languages())
            .field("intents", &self.intents.len())
            .finish()
    }
}

pub(super) struct Candidate {
    pub key: (
        usize,
        std::cmp::Reverse<usize>,
        std::cmp::Reverse<usize>,
        std::cmp::Reverse<usize>,
    ),
    pub template: usize,
    pub m: TemplateMatch,
    pub positions: Vec<usize>,
}

impl Recognizer {
    /// Compiles every language of `grammar`. Fails on a reference to an undefined
    /// expansion rule; undefined lists are dynamic lists, empty until [`Recognizer::set_list`].
    pub fn new(grammar: Grammar) -> Result<Recognizer> {
        let intents = grammar.intent_names();
        let mut languages = Vec::new();
        for (lang, g) in grammar.languages {
            languages.push((lang, RwLock::new(CompiledLanguage::compile(g)?)));
        }
        Ok(Recognizer {
            languages,
            intents,
            generation: AtomicU64::new(0),
            catalogs: Mutex::new(Vec::new()),
            tolerant_threshold: AtomicU64::new(DEFAULT_TOLERANT_THRESHOLD.to_bits()),
        })
    }

    /// How many times a list was replaced since the grammar was compiled.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn languages(&self) -> Vec<Language> {
        self.languages.iter().map(|(l, _)| l.clone()).collect()
    }

    /// Intent names over all languages, sorted.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    /// Whether a grammar serves `language` (exactly, or by its primary subtag).
    pub fn supports(&self, language: &Language) -> bool {
        self.find(language).is_some()
    }

    pub(super) fn find(&self, language: &Language) -> Option<&RwLock<CompiledLanguage>> {
        self.languages
            .iter()
            .find(|(l, _)| l == language)
            .or_else(|| {
                self.languages
                    .iter()
                    .find(|(l, _)| l.primary() == language.primary())
            })
            .map(|(_, c)| c)
    }

    /// Replaces list `name` (contacts, POIs, playlists) in every language with
    /// `(spoken form, value)` pairs, without recompiling the templates.
    pub fn set_list(&self, name: &str, values: Vec<(String, String)>) {
        let def = ListDef::Values(
            values
                .into_iter()
                .map(|(spoken, value)| ListValue {
                    spoken: vec![spoken],
                    out: SlotValue::Text(value),
                    context: BTreeMap::new(),
                    metadata: BTreeMap::new(),
                })
                .collect(),
        );
        for (_, lock) in &self.languages {
            let mut c = match lock.write() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            let list = c.compile_list(def.clone());
            c.vocabulary = std::sync::OnceLock::new();
            match c.list_names.get(name).copied() {
                Some(i) => c.lists[i] = list,
                None => {
                    c.lists.push(list);
                    let i = c.lists.len() - 1;
                    c.list_names.insert(name.to_string(), i);
                }
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The best intent for `text`, or `None` when no template covers the whole sentence.
    ///
    /// Ranking, deterministic: most words matched literally (list values and numbers count
    /// as literal), then fewest words taken by wildcards, then fewest skip words removed,
    /// then the template written first.
    pub fn recognize(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
    ) -> Option<IntentMatch> {
        self.recognize_n(text, language, context, 1).pop()
    }

    /// The lowest confidence [`Recognizer::recognize_tolerant`] accepts (`nlu.tolerant_threshold`).
    pub fn tolerant_threshold(&self) -> f64 {
        f64::from_bits(self.tolerant_threshold.load(Ordering::Relaxed))
    }

    pub fn set_tolerant_threshold(&self, threshold: f64) {
        let t = if threshold.is_finite() {
            threshold.clamp(0.0, 1.0)
        } else {
            DEFAULT_TOLERANT_THRESHOLD
        };
        self.tolerant_threshold
            .store(t.to_bits(), Ordering::Relaxed);
    }

    /// What speech recognition heard → intent: the exact match when there is one (confidence
    /// as [`Recognizer::recognize`]), else [`Recognizer::recognize_tolerant`].
    pub fn recognize_spoken(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
    ) -> Option<IntentMatch> {
        self.recognize(text, language, context)
            .or_else(|| self.recognize_tolerant(text, language, context))
    }

    /// The template that sounds most like `text`, for transcripts the exact matcher refuses
    /// ("Closeness and roof." → `sunroof.close`): words aligned by sound, small words added or
    /// dropped cheaply, compounds split or merged, digits read as words. The confidence is
    /// below 1 and calibrated; matches below [`Recognizer::tolerant_threshold`] are `None`.
    /// Does not try the exact matcher first (see [`Recognizer::recognize_spoken`]).
    pub fn recognize_tolerant(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
    ) -> Option<IntentMatch> {
        self.tolerant_search(text, language, context, true)
    }

    /// [`Recognizer::recognize_tolerant`] without its pruning: every template aligned in full.
    /// Slow; for the tests that show pruning never changes the match.
    #[doc(hidden)]
    pub fn recognize_tolerant_exhaustive(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
    ) -> Option<IntentMatch> {
        self.tolerant_search(text, language, context, false)
    }

    fn tolerant_search(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
        prune: bool,
    ) -> Option<IntentMatch> {
        let (lang, c) = self.compiled(language)?;
        if text.len() > MAX_SENTENCE_BYTES {
            return None;
        }
        let vocab = c
            .vocabulary
            .get_or_init(|| Arc::new(super::tolerant::Vocabulary::build(&c)))
            .clone();
        let norm = normalize(text, c.split_letters);
        let found = super::tolerant::recognize(
            &c,
            &vocab,
            &lang,
            &norm,
            context,
            self.tolerant_threshold(),
            prune,
        );
        if found.is_none() {
            tracing::debug!(language = %lang, "no tolerant grammar match");
        }
        found
    }

    /// Up to `limit` sentences of the active grammar that sound most like `text`, best first,
    /// for a speech recogniser to weigh against the audio it heard (the transcript of a
    /// command can be a mishearing of one of them: "Closeness and roof." for "close the
    /// sunroof"). Empty when `text` matches a template word for word (nothing to correct);
    /// a match through a wildcard is weaker evidence ("Play some call to Alice." is
    /// `media.play` of "some call to alice", and also "place a call to alice" misheard), so
    /// then the other sentences come, `text`'s own reading left out. The sentences come from
    /// tolerant alignments down to confidence `floor`, far below the tolerant threshold: the
    /// audio, not the spelling, decides among them.
    pub fn closest_sentences(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
        floor: f64,
        limit: usize,
    ) -> Vec<super::tolerant::Closest> {
        if limit == 0 || text.len() > MAX_SENTENCE_BYTES {
            return Vec::new();
        }
        let exact = self.recognize(text, language, context);
        if exact.as_ref().is_some_and(|m| m.confidence >= 1.0) {
            return Vec::new();
        }
        let Some((lang, c)) = self.compiled(language) else {
            return Vec::new();
        };
        let vocab = c
            .vocabulary
            .get_or_init(|| Arc::new(super::tolerant::Vocabulary::build(&c)))
            .clone();
        let norm = normalize(text, c.split_letters);
        let mut found = super::tolerant::closest(&c, &vocab, &lang, &norm, context, floor, limit);
        if exact.is_some() {
            let words =
                |n: &Normalized| n.tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>();
            let heard = words(&norm);
            found.retain(|s| words(&normalize(&s.sentence, c.split_letters)) != heard);
        }
        found
    }

    /// The words that can follow `said` in some template of the active grammar, and whether
    /// a template is complete after them: the grammar as a space a speech recogniser searches
    /// word by word, letting the audio choose (see `nlu::paths`). Templates that need a
    /// previous turn are left out, and wildcards are not followed. Nothing follows words the
    /// grammar does not have, nor anything in a language written without spaces (Mandarin:
    /// a recogniser's tokens of a run of characters are not those of each character).
    pub fn next_words(&self, said: &[&str], language: &Language) -> super::paths::NextWords {
        let Some((_, c)) = self.compiled(language) else {
            return super::paths::NextWords::default();
        };
        if c.split_letters {
            return super::paths::NextWords::default();
        }
        let vocab = c
            .vocabulary
            .get_or_init(|| Arc::new(super::tolerant::Vocabulary::build(&c)))
            .clone();
        super::paths::next_words(&c, &vocab, said)
    }

    /// The cost per aligned word of the best tolerant alignment of `text` (lower is closer),
    /// for calibrating the confidence curve and threshold; `None` when nothing aligns.
    pub fn tolerant_score(&self, text: &str, language: &Language) -> Option<f64> {
        let (_, c) = self.compiled(language)?;
        let vocab = c
            .vocabulary
            .get_or_init(|| Arc::new(super::tolerant::Vocabulary::build(&c)))
            .clone();
        super::tolerant::best_score(&c, &vocab, &normalize(text, c.split_letters))
    }

    /// The language served for `language` and its compiled grammar, read-locked.
    fn compiled(
        &self,
        language: &Language,
    ) -> Option<(Language, std::sync::RwLockReadGuard<'_, CompiledLanguage>)> {
        let lock = self.find(language)?;
        let lang = self
            .languages
            .iter()
            .find(|(_, l)| std::ptr::eq(l, lock))
            .map(|(l, _)| l.clone())?;
        let c = match lock.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some((lang, c))
    }

    /// Up to `limit` matches of different intents, best first: for a router that wants to
    /// know how ambiguous a sentence was, or to offer alternatives.
    pub fn recognize_n(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
        limit: usize,
    ) -> Vec<IntentMatch> {
        let Some(lock) = self.find(language) else {
            return Vec::new();
        };
        let c = match lock.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(lang) = self
            .languages
            .iter()
            .find(|(_, l)| std::ptr::eq(l, lock))
            .map(|(l, _)| l.clone())
        else {
            return Vec::new();
        };
        let found = recognize_in(&c, &lang, text, context, limit);
        match found.first() {
            Some(m) => tracing::debug!(
                language = %lang,
                intent = %m.intent,
                template = %m.template,
                confidence = m.confidence,
                "grammar match"
            ),
            None => tracing::debug!(language = %lang, "no grammar match"),
        }
        found
    }
}

/// The best `limit` matches, best first, at most one per intent.
fn recognize_in(
    c: &CompiledLanguage,
    lang: &Language,
    text: &str,
    context: &DialogueContext,
    limit: usize,
) -> Vec<IntentMatch> {
    if text.len() > MAX_SENTENCE_BYTES || limit == 0 {
        return Vec::new();
    }
    let norm = normalize(text, c.split_letters);
    let mut found = candidates(c, &norm, context);
    found.sort_by_key(|c| std::cmp::Reverse(c.key));
    let mut out: Vec<IntentMatch> = Vec::new();
    for cand in found {
        if out.len() == limit {
            break;
        }
        let intent = &c.blocks[c.templates[cand.template].block].intent;
        if out.iter().any(|m| &m.intent == intent) {
            continue;
        }
        if let Some(m) = build_match(c, lang, &norm, context, cand) {
            out.push(m);
        }
    }
    out
}

/// Every template that covers the sentence, with its best match and ranking key.
fn candidates(
    c: &CompiledLanguage,
    norm: &Normalized,
    context: &DialogueContext,
) -> Vec<Candidate> {
    let n = norm.tokens.len();
    if n == 0 || n > MAX_SENTENCE_TOKENS {
        return Vec::new();
    }
    let ids: Vec<u32> = norm
        .tokens
        .iter()
        .map(|t| c.words.get(t.text.as_str()).copied().unwrap_or(UNKNOWN))
        .collect();
    let mut present = ids.clone();
    present.sort_unstable();
    present.dedup();
    // The templates the sentence's words point to, as a bit set: in template order and
    // without repeats, with no sorting.
    let mut marked = vec![0u64; c.templates.len().div_ceil(64)];
    let mut mark = |t: usize| {
        if let Some(w) = marked.get_mut(t / 64) {
            *w |= 1 << (t % 64);
        }
    };
    c.unindexed.iter().for_each(|&t| mark(t));
    for &id in &present {
        c.indexed(id).iter().for_each(|&t| mark(t as usize));
    }
    let mut candidates: Vec<usize> = Vec::with_capacity(c.unindexed.len() + 16);
    for (w, &bits) in marked.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            candidates.push(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    if candidates.is_empty() {
        return Vec::new();
    }

    let all: Vec<usize> = (0..n).collect();
    let stripped = strip_skip_words(&ids, &c.skip_words);
    let mut variants = vec![all];
    if stripped.len() < n && !stripped.is_empty() {
        variants.push(stripped);
    }

    let mut found: Vec<Candidate> = Vec::new();
    let mut scratch = matcher::Scratch::default();
    for positions in variants {
        let v_ids: Vec<u32> = positions.iter().map(|&p| ids[p]).collect();
        let v_texts: Vec<&str> = positions
            .iter()
            .map(|&p| norm.tokens[p].text.as_str())
            .collect();
        let mut v_present = v_ids.clone();
        v_present.sort_unstable();
        v_present.dedup();
        let input = Input {
            ids: &v_ids,
            texts: &v_texts,
            number_words: c.number_words,
        };
        let skipped = n - positions.len();
        for &ti in &candidates {
            let t = &c.templates[ti];
            if !c.may_start(t, v_ids.first().copied().unwrap_or(UNKNOWN))
                || !c
                    .required_of(t)
                    .iter()
                    .all(|r| v_present.binary_search(r).is_ok())
            {
                continue;
            }
            let Some(m) = matcher::run(c.program(t), &c.lists, &input, &mut scratch) else {
                continue;
            };
            if !context_allows(&c.blocks[t.block], context, &m, &c.lists) {
                continue;
            }
            let key = (
                m.literal,
                std::cmp::Reverse(m.wildcard),
                std::cmp::Reverse(skipped),
                std::cmp::Reverse(ti),
            );
            found.push(Candidate {
                key,
                template: ti,
                m,
                positions: positions.clone(),
            });
        }
    }
    found
}

/// Token positions left after removing skip words (`please`, `请`, `一下`).
fn strip_skip_words(ids: &[u32], skip: &[Vec<u32>]) -> Vec<usize> {
    let mut keep = Vec::with_capacity(ids.len());
    let mut i = 0;
    'outer: while i < ids.len() {
        for w in skip {
            if ids[i..].starts_with(w) {
                i += w.len();
                continue 'outer;
            }
        }
        keep.push(i);
        i += 1;
    }
    keep
}

/// Context values a match contributes: the `context` of the list values it matched.
fn matched_context<'a>(m: &TemplateMatch, lists: &'a [CompiledList]) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for cap in &m.captures {
        if let Filled::Value { list, value } = cap.filled {
            if let Some(CompiledList::Values { values, .. }) = lists.get(list) {
                for (k, v) in &values[value].context {
                    out.push((k.as_str(), v.as_str()));
                }
            }
        }
    }
    out
}

pub(super) fn context_allows(
    b: &CompiledBlock,
    ctx: &DialogueContext,
    m: &TemplateMatch,
    lists: &[CompiledList],
) -> bool {
    if b.requires_context.is_empty() && b.excludes_context.is_empty() {
        return true;
    }
    let from_match = matched_context(m, lists);
    let get = |k: &str| {
        ctx.get(k)
            .or_else(|| from_match.iter().find(|(mk, _)| *mk == k).map(|(_, v)| *v))
    };
    for (key, rule) in &b.requires_context {
        let Some(v) = get(key) else { return false };
        if let ContextRule::OneOf(allowed) = rule {
            if !allowed.is_empty() && !allowed.iter().any(|a| a == v) {
                return false;
            }
        }
    }
    for (key, excluded) in &b.excludes_context {
        if let Some(v) = get(key) {
            if excluded.is_empty() || excluded.iter().any(|e| e == v) {
                return false;
            }
        }
    }
    true
}

pub(super) fn build_match(
    c: &CompiledLanguage,
    lang: &Language,
    norm: &Normalized,
    context: &DialogueContext,
    best: Candidate,
) -> Option<IntentMatch> {
    let t = &c.templates[best.template];
    let block = &c.blocks[t.block];
    let mut slots = block.slots.clone();
    let mut slot_text = BTreeMap::new();
    let mut metadata = block.metadata.clone();
    for (key, rule) in &block.requires_context {
        if let (ContextRule::CopyToSlot(slot), Some(v)) = (rule, context.get(key)) {
            slots.insert(slot.clone(), SlotValue::Text(v.to_string()));
        }
    }
    for cap in &best.m.captures {
        let name = c.slot_names.get(cap.slot).cloned().unwrap_or_default();
        let first = &norm.tokens[best.positions[cap.start]];
        let last = &norm.tokens[best.positions[cap.end.saturating_sub(1).max(cap.start)]];
        let spoken = norm.display[first.start..last.end].to_string();
        let value = match &cap.filled {
            Filled::Value { list, value } => match c.lists.get(*list) {
                Some(CompiledList::Values { values, .. }) => {
                    let v = &values[*value];
                    metadata.extend(v.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
                    v.out.clone()
                }
                _ => SlotValue::Text(spoken.clone()),
            },
            Filled::Number(v) => SlotValue::number(*v),
            // hassil matches on text without punctuation, so its wildcard values have none.
            Filled::Wildcard => {
                let text = remove_punctuation(&spoken);
                if super::choice::only_points(&text) {
                    return None;
                }
                SlotValue::Text(text)
            }
        };
        slots.insert(name.clone(), value);
        slot_text.insert(name, spoken);
    }
    let (lit, wild) = (best.m.literal as f64, best.m.wildcard as f64);
    let confidence = if lit + wild > 0.0 {
        ((lit + 0.5 * wild) / (lit + wild) * 1000.0).round() / 1000.0
    } else {
        1.0
    };
    let mut m = IntentMatch {
        intent: block.intent.clone(),
        slots,
        slot_text,
        confidence,
        template: t.text.as_str().to_string(),
        metadata,
        response: None,
        language: lang.clone(),
    };
    resolve_follow_up(&mut m, context);
    if !super::choice::resolve_choice(&mut m, context) {
        return None;
    }
    let key = block.response.as_deref().unwrap_or("default");
    m.response = c
        .responses
        .get(&m.intent)
        .and_then(|r| r.get(key))
        .map(|r| render(r, &m));
    Some(m)
}

/// "A bit warmer" after "set 22 degrees": the adjustment also carries the resulting absolute
/// temperature (and the zone) of the previous turn, so a handler needs no state of its own.
fn resolve_follow_up(m: &mut IntentMatch, ctx: &DialogueContext) {
    let Some(prev) = &ctx.previous else { return };
    if m.intent != "climate.adjust_temperature" || !prev.intent.starts_with("climate.") {
        return;
    }
    let Some(base) = prev.slots.get("temperature").and_then(SlotValue::as_f64) else {
        return;
    };
    let step = m
        .slots
        .get("amount")
        .and_then(SlotValue::as_f64)
        .unwrap_or(1.0);
    let sign = if m.slots.get("direction").and_then(SlotValue::as_str) == Some("down") {
        -1.0
    } else {
        1.0
    };
    m.slots
        .insert("temperature".into(), SlotValue::number(base + sign * step));
    if let Some(zone) = prev.slots.get("zone") {
        m.slots.entry("zone".into()).or_insert_with(|| zone.clone());
    }
}

/// Fills `{{ slots.x }}` (value) and `{{ spoken.x }}` (words said) in a response; filters
/// after `|` are ignored and unknown names render empty; `spoken.x` of a slot nobody said is
/// its value.
pub(super) fn render(template: &str, m: &IntentMatch) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let expr = after[..close].split('|').next().unwrap_or("").trim();
        if let Some(name) = expr.strip_prefix("slots.") {
            if let Some(v) = m.slots.get(name) {
                out.push_str(&v.to_string());
            }
        } else if let Some(name) = expr.strip_prefix("spoken.") {
            if let Some(v) = m.slot_text.get(name) {
                out.push_str(v);
            } else if let Some(v) = m.slots.get(name) {
                // A value the block fixed or a tier inferred was never said: its value, as
                // words ("gas_station" → "gas station"), beats an empty gap.
                out.push_str(&v.to_string().replace('_', " "));
            }
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}
