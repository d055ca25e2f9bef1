//! Tolerant matching: when no template covers what speech recognition heard word for word,
//! align the heard words with every template's compiled program and take the cheapest.
//!
//! The alignment is a dynamic programme over (heard position, program step): a program is a
//! DAG (splits and jumps only go forward), so one pass over the steps per heard position
//! finds the cheapest way through it. A template word may be matched by a heard word that
//! sounds like it (cost = [`phonetic::distance`]), by two or three heard words said as one
//! ("wind shield" for "windshield", "pass in just" for "passenger") or, with the next
//! template word, by one heard word ("sunroof" for "sun roof"); it may be dropped, and heard
//! words may be added, cheaply for small words ("the", "请") and dearly for others. Slot lists
//! are aligned the same way, value by value (once per list and start position, shared by all
//! templates); range slots still read numbers exactly; wildcards take a few words at a price.
//!
//! The search is pruned without changing its answer: templates are tried in the order of how
//! many of their required words were heard, and an alignment writes no cell that cannot end
//! under the threshold's (or the best match's) score ([`Aligner::align`]).
//!
//! The cheapest template's cost per aligned word becomes a confidence in (0, 1) through a
//! logistic curve fitted on a development set of misheard and unrelated sentences
//! (`tests/nlu_tolerant.rs`); the caller's threshold keeps unrelated speech out.

use super::compile::{CompiledLanguage, CompiledList, Inst};
use super::forms::said_as;
use super::hash::FastHash;
use super::lists::RangeDef;
use super::matcher::{range_readings, Capture, Filled, TemplateMatch};
use super::normalize::{Normalized, Token};
use super::phonetic::{distance, quick_bound, Sound};
use super::recognizer::{build_match, context_allows, Candidate};
use super::{DialogueContext, IntentMatch, Language};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Heard sentences longer than this (in tokens) are not commands.
const MAX_HEARD: usize = 40;
/// Most heard words one template word (or list word) may stand for.
const MAX_MERGE: usize = 3;
/// Extra cost of each heard word merged into one template word.
const MERGE_COST: f32 = 0.1;
/// Adding / dropping a small word, and any other word.
const INS_SMALL: f32 = 0.3;
const INS_WORD: f32 = 0.8;
const DEL_SMALL: f32 = 0.35;
const DEL_WORD: f32 = 0.9;
/// Cost of each word a wildcard takes, and the most words it takes here.
const WILD_WORD: f32 = 0.45;
const MAX_WILD: usize = 6;
/// Weight of the share of heard words left out of the alignment, in the score.
const INSERTED_SHARE: f64 = 0.3;
#[cfg(test)]
thread_local! {
    /// How many lists' fillers were checked form by form (see `Aligner::check_fillers`).
    static CHECKED_FILLERS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Most cost per aligned word of a list value that fills a slot.
const FILLER_RATIO: f32 = 0.45;
/// Work allowed per template: a huge program is skipped rather than stalling the caller.
const MAX_CELLS: usize = 400_000;

/// The confidence curve: `1 / (1 + exp(SLOPE * (cost per word - MIDPOINT)))`, fitted by
/// logistic regression on the development half of `tests/data/nlu/tolerant_dev.tsv`
/// (`cargo test --release --test nlu_tolerant -- --ignored --nocapture fit`).
pub const SLOPE: f64 = 14.0;
pub const MIDPOINT: f64 = 0.38;

/// The sounds of a language's words, by token id (built on first use, dropped by `set_list`).
#[derive(Debug, Default)]
pub(crate) struct Vocabulary {
    sounds: Vec<Sound>,
    /// The words by token id, for reading an alignment back as a sentence.
    texts: Vec<String>,
    /// Per template: the most template and list words any way through its program has (with
    /// the heard words, a bound on an alignment's aligned words, see [`Aligner::align`]).
    reach: Vec<u32>,
    /// The same from each program step: `reach_at[code_start + pc]` (see [`program_reach`]).
    reach_at: Vec<u32>,
    /// Per template, what its alignments can use (see [`Aligner::excess_bound`]).
    uses: Vec<TemplateUse>,
    /// Per list, its values' distinct word ids (empty for ranges and wildcards).
    list_words: Vec<Vec<u32>>,
    /// Per list, its forms as a trie (empty for ranges and wildcards).
    tries: Vec<FormTrie>,
    /// Two adjacent template words said as one word ("sunroof" for "sun roof"): their ids and
    /// joined sound, as [`Aligner::pair_distance`] compares them.
    pairs: Vec<(u32, u32, Sound)>,
    /// Per program step (`code_start + pc`), the pair its word starts (`u32::MAX`: none).
    pair_at: Vec<u32>,
    /// The words some template has (not only a list), each once.
    template_words: Vec<u32>,
}

/// A value list's forms by their words: forms that start alike share a path from the root
/// (node 0), and a form ends at the node of its last word.
#[derive(Debug, Default)]
struct FormTrie {
    nodes: Vec<FormNode>,
}

#[derive(Debug, Default)]
struct FormNode {
    word: u32,
    children: Vec<u32>,
    /// The forms ending here: `(index among the list's forms, value)`.
    ends: Vec<(u32, u32)>,
}

impl FormTrie {
    fn of(list: &CompiledList) -> FormTrie {
        let mut trie = FormTrie {
            nodes: vec![FormNode::default()],
        };
        let CompiledList::Values { tokens, forms, .. } = list else {
            return trie;
        };
        for (index, f) in forms.iter().enumerate() {
            let mut node = 0usize;
            let form = tokens
                .get(f.start as usize..(f.start + f.len) as usize)
                .unwrap_or(&[]);
            for &word in form {
                let found = trie.nodes[node]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| trie.nodes[c as usize].word == word);
                node = match found {
                    Some(c) => c as usize,
                    None => {
                        trie.nodes.push(FormNode {
                            word,
                            ..FormNode::default()
                        });
                        let c = trie.nodes.len() - 1;
                        trie.nodes[node].children.push(c as u32);
                        c
                    }
                };
            }
            if node != 0 {
                trie.nodes[node].ends.push((index as u32, f.value));
            }
        }
        trie
    }
}

/// The words, lists and pairs a template's program has, each once.
#[derive(Debug, Default)]
struct TemplateUse {
    words: Vec<u32>,
    /// `words` as indices into [`Vocabulary::template_words`].
    word_rows: Vec<u32>,
    value_lists: Vec<u32>,
    range_lists: Vec<u32>,
    /// Indices into [`Vocabulary::pairs`].
    pairs: Vec<u32>,
    wildcard: bool,
}

impl Vocabulary {
    pub fn build(c: &CompiledLanguage) -> Vocabulary {
        let mut sounds = vec![Sound::default(); c.words.len()];
        let mut texts = vec![String::new(); c.words.len()];
        for (word, &id) in &c.words {
            if let Some(s) = sounds.get_mut(id as usize) {
                *s = Sound::of(word);
            }
            if let Some(t) = texts.get_mut(id as usize) {
                *t = word.to_string();
            }
        }
        let longest: Vec<u32> = c
            .lists
            .iter()
            .map(|l| match l {
                CompiledList::Values { forms, .. } => {
                    forms.iter().map(|f| f.len).max().unwrap_or(0)
                }
                _ => 0,
            })
            .collect();
        let mut r = Vec::new();
        let mut reach_at = vec![0; c.code.len()];
        let mut reach = Vec::with_capacity(c.templates.len());
        for t in &c.templates {
            reach.push(program_reach(c.program(t), &longest, &mut r));
            let (start, end) = (t.code_start as usize, t.code_end as usize);
            if let (Some(to), Some(from)) = (reach_at.get_mut(start..end), r.get(..end - start)) {
                to.copy_from_slice(from);
            }
        }
        let list_words = c
            .lists
            .iter()
            .map(|l| match l {
                CompiledList::Values { tokens, .. } => {
                    let mut words = tokens.clone();
                    words.sort_unstable();
                    words.dedup();
                    words
                }
                _ => Vec::new(),
            })
            .collect();
        let mut pairs = Vec::new();
        let mut pair_ids: HashMap<(u32, u32), u32, FastHash> = HashMap::default();
        let mut uses = Vec::with_capacity(c.templates.len());
        let mut pair_at = vec![u32::MAX; c.code.len()];
        for t in &c.templates {
            let program = c.program(t);
            let mut u = TemplateUse::default();
            for (pc, inst) in program.iter().enumerate() {
                match *inst {
                    Inst::Tok(id) => {
                        u.words.push(id);
                        let Some(&Inst::Tok(next)) = program.get(pc + 1) else {
                            continue;
                        };
                        let (Some(x), Some(y)) =
                            (sounds.get(id as usize), sounds.get(next as usize))
                        else {
                            continue;
                        };
                        if x.is_han() {
                            continue;
                        }
                        let pair = *pair_ids.entry((id, next)).or_insert_with(|| {
                            pairs.push((id, next, Sound::joined(&[x, y])));
                            pairs.len() as u32 - 1
                        });
                        u.pairs.push(pair);
                        if let Some(at) = pair_at.get_mut(t.code_start as usize + pc) {
                            *at = pair;
                        }
                    }
                    Inst::Slot { list, .. } => match c.lists.get(list as usize) {
                        Some(CompiledList::Values { .. }) => u.value_lists.push(list),
                        Some(CompiledList::Range(_)) => u.range_lists.push(list),
                        Some(CompiledList::Wildcard) => u.wildcard = true,
                        None => {}
                    },
                    _ => {}
                }
            }
            for v in [
                &mut u.words,
                &mut u.value_lists,
                &mut u.range_lists,
                &mut u.pairs,
            ] {
                v.sort_unstable();
                v.dedup();
            }
            uses.push(u);
        }
        let mut template_words: Vec<u32> = uses.iter().flat_map(|u| u.words.clone()).collect();
        template_words.sort_unstable();
        template_words.dedup();
        for u in &mut uses {
            u.word_rows = u
                .words
                .iter()
                .filter_map(|w| template_words.binary_search(w).ok())
                .map(|k| k as u32)
                .collect();
        }
        Vocabulary {
            sounds,
            texts,
            reach,
            reach_at,
            uses,
            list_words,
            tries: c.lists.iter().map(FormTrie::of).collect(),
            pairs,
            pair_at,
            template_words,
        }
    }

    fn sound(&self, id: u32) -> Option<&Sound> {
        self.sounds.get(id as usize)
    }

    /// The word of token `id`.
    pub(super) fn text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(String::as_str)
    }

    fn form_node(&self, list: u32, node: u32) -> Option<&FormNode> {
        self.tries.get(list as usize)?.nodes.get(node as usize)
    }

    /// Whether a form of value list `list` goes on past trie node `node` (the root is 0).
    pub(super) fn form_has_children(&self, list: u32, node: u32) -> bool {
        self.form_node(list, node)
            .is_some_and(|n| !n.children.is_empty())
    }

    /// Whether a form of value list `list` ends at trie node `node`.
    pub(super) fn form_ends(&self, list: u32, node: u32) -> bool {
        self.form_node(list, node)
            .is_some_and(|n| !n.ends.is_empty())
    }

    /// The trie node after `node` when the next word of a form is `word`.
    pub(super) fn form_child(&self, list: u32, node: u32, word: u32) -> Option<u32> {
        let trie = self.tries.get(list as usize)?;
        trie.nodes
            .get(node as usize)?
            .children
            .iter()
            .copied()
            .find(|&c| trie.nodes.get(c as usize).is_some_and(|n| n.word == word))
    }

    /// The words that can come after trie node `node` of value list `list`.
    pub(super) fn form_words(&self, list: u32, node: u32) -> impl Iterator<Item = u32> + '_ {
        let trie = self.tries.get(list as usize);
        let children = trie
            .and_then(|t| t.nodes.get(node as usize))
            .map_or(&[][..], |n| &n.children[..]);
        children
            .iter()
            .filter_map(move |&c| trie.and_then(|t| t.nodes.get(c as usize)).map(|n| n.word))
    }
}

/// The most words (template words, and list words of the longest form of each slot's list)
/// a way through `program` to its end passes; `r` is scratch space.
fn program_reach(program: &[Inst], longest: &[u32], r: &mut Vec<u32>) -> u32 {
    let len = program.len();
    r.clear();
    r.resize(len + 1, 0);
    for pc in (0..len).rev() {
        let next = r[pc + 1];
        let at = |to: u32| {
            if to as usize > pc {
                r[(to as usize).min(len)]
            } else {
                0
            }
        };
        r[pc] = match program[pc] {
            Inst::Tok(_) => next.saturating_add(1),
            Inst::Split(a, b) => at(a).max(at(b)),
            Inst::Jmp(a) => at(a),
            Inst::Slot { list, .. } => {
                next.saturating_add(longest.get(list as usize).copied().unwrap_or(0))
            }
            Inst::Match => 0,
        };
    }
    r.first().copied().unwrap_or(0)
}

/// The highest score (cost per aligned word plus inserted share) whose confidence reaches
/// `threshold`, a little generous so that rounding never prunes a match; infinite when every
/// score does.
fn max_score(threshold: f64) -> f64 {
    // `confidence` is clamped to [0.001, 0.999].
    if threshold <= 0.001 || !threshold.is_finite() {
        return f64::INFINITY;
    }
    let t = threshold.min(0.999);
    MIDPOINT + (1.0 / t - 1.0).ln() / SLOPE + 1e-6
}

/// One heard token as the aligner sees it.
struct Heard {
    /// The text range parsing and wildcards use.
    text: String,
    sound: Sound,
    start: usize,
    end: usize,
}

/// How a cell was reached, for reading the alignment back.
#[derive(Clone, Copy)]
enum Op {
    Start,
    /// A split or jump.
    Eps,
    /// Template word(s) matched by heard word(s); `exact` when literally the same.
    Word {
        exact: bool,
    },
    Ins,
    Del,
    Slot {
        slot: u32,
        fill: Fill,
    },
}

#[derive(Clone, Copy)]
enum Fill {
    Value {
        list: u32,
        value: u32,
    },
    /// A number, and whether it was read by sound (Han characters that sound like numerals,
    /// "时期" for 十七).
    Number(f64, bool),
    Wildcard,
}

#[derive(Clone, Copy)]
struct Cell {
    cost: f32,
    units: f32,
    from_i: u16,
    /// The alignment this cell belongs to (older cells read as empty: no clearing between
    /// templates).
    generation: u32,
    from_pc: u32,
    op: Op,
}

const EMPTY: Cell = Cell {
    cost: f32::INFINITY,
    units: 0.0,
    from_i: 0,
    generation: 0,
    from_pc: 0,
    op: Op::Start,
};

/// The cells of one template's alignment: `(heard position, program step)`, row by row.
#[derive(Default)]
struct Grid {
    cells: Vec<Cell>,
    generation: u32,
    len: usize,
    /// Costs above this cannot end in a score that matters.
    bound: f32,
    /// The last heard position any cell reached.
    last_row: usize,
    /// Per heard position, the first and last program step a cell reached (none: lo > hi).
    lo: Vec<usize>,
    hi: Vec<usize>,
    /// With `limit` finite, cells whose prefix is so far over `limit` per aligned word that
    /// the rest of the sentence cannot bring it back are not written (see [`Aligner::align`]).
    limit: f32,
    heard: usize,
    /// Most template / list words from each program step on.
    reach: Vec<u32>,
    /// How much the rest can bring back per heard word and per template word, two ways.
    recover: [(f32, f32); 2],
    /// Per heard position, the least excess the heard words from there on add to this
    /// template's alignment (the sum of their [`WordFloor::excess`]; empty: not known).
    suffix: Vec<f32>,
    /// What each template word still to come can lower the excess by at least (dropped small
    /// words, `min(0, 0.35 - limit)`), with `suffix`.
    dropped: f32,
}

impl Grid {
    /// Starts a new alignment over `rows` × `len` cells.
    fn start(&mut self, rows: usize, len: usize, bound: f32) {
        self.limit = f32::INFINITY;
        self.suffix.clear();
        if self.generation == u32::MAX {
            self.cells.clear();
            self.generation = 0;
        }
        self.generation += 1;
        if self.cells.len() < rows * len {
            self.cells.resize(rows * len, EMPTY);
        }
        self.len = len;
        self.bound = bound;
        self.last_row = 0;
        self.lo.clear();
        self.lo.resize(rows, usize::MAX);
        self.hi.clear();
        self.hi.resize(rows, 0);
        if let (Some(lo), Some(hi)) = (self.lo.first_mut(), self.hi.first_mut()) {
            (*lo, *hi) = (0, 0);
        }
        if let Some(c) = self.cells.first_mut() {
            *c = Cell {
                cost: 0.0,
                generation: self.generation,
                ..EMPTY
            };
        }
    }

    #[inline]
    fn get(&self, i: usize, pc: usize) -> Cell {
        match self.cells.get(i * self.len + pc) {
            Some(c) if c.generation == self.generation => *c,
            _ => EMPTY,
        }
    }

    /// Whether a cell `(i, pc)` of `cost` over `units` aligned words can still matter.
    #[inline]
    fn admits(&self, i: usize, pc: usize, cost: f32, units: f32) -> bool {
        if cost > self.bound {
            return false;
        }
        if self.limit.is_finite() {
            let excess = cost - self.limit * units;
            // What the rest of the heard words can bring back against this template, word by
            // word (see `WordFloor`): an A* cut. The template words still to come count only
            // when a dropped small word scores under the limit.
            if let Some(&rest) = self.suffix.get(i) {
                let dropped = if self.dropped < 0.0 {
                    let words = self.reach.get(pc).copied().unwrap_or(u32::MAX) as f32;
                    words * self.dropped
                } else {
                    0.0
                };
                return excess + rest + dropped <= 1e-3;
            }
            let rest = self.heard.saturating_sub(i) as f32;
            let words = self.reach.get(pc).copied().unwrap_or(u32::MAX) as f32;
            let [(h1, t1), (h2, t2)] = self.recover;
            let back = (rest * h1 + words * t1).min(rest * h2 + words * t2);
            if excess > back + 1e-4 {
                return false;
            }
        }
        true
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn relax(&mut self, i: usize, pc: usize, cost: f32, units: f32, from: (usize, usize), op: Op) {
        if !self.admits(i, pc, cost, units) {
            return;
        }
        let generation = self.generation;
        if let Some(cell) = self.cells.get_mut(i * self.len + pc) {
            if cell.generation != generation || cost < cell.cost {
                *cell = Cell {
                    cost,
                    units,
                    from_i: from.0 as u16,
                    generation,
                    from_pc: from.1 as u32,
                    op,
                };
                self.last_row = self.last_row.max(i);
                if let (Some(lo), Some(hi)) = (self.lo.get_mut(i), self.hi.get_mut(i)) {
                    *lo = (*lo).min(pc);
                    *hi = (*hi).max(pc);
                }
            }
        }
    }
}

/// A template's best alignment.
struct Aligned {
    score: f64,
    template: usize,
    m: TemplateMatch,
    /// What the template says along it, in order.
    said: Vec<Said>,
}

/// One piece of what a template says along an alignment (see [`realize`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Said {
    /// A template word (matched or dropped).
    Word(u32),
    /// A list value, said for heard positions `from..to` (read as its form closest to them).
    Value {
        list: u32,
        value: u32,
        from: u32,
        to: u32,
    },
    /// Heard words taken as they were (a number, a wildcard): heard positions `from..to`.
    Heard { from: u32, to: u32 },
    /// A number read from words that only sound like one, written in digits.
    Number(f64),
}

/// A grammar sentence close to what was heard, from [`closest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Closest {
    /// The sentence, as the grammar would read it exactly (normalised words).
    pub sentence: String,
    pub intent: String,
    /// The tolerant confidence of the alignment it came from.
    pub confidence: f64,
}

/// The best tolerant match of `text`, with its confidence, when it reaches `threshold`.
///
/// With `prune`, templates are tried in the order of a cheap estimate (how many of the words
/// every match of the template has were heard as such), and each alignment is abandoned as
/// soon as it cannot end with a score that reaches `threshold` or beats the best match found
/// so far (see [`Aligner::align`]); the result is the same as without (`prune = false`, which
/// aligns every template in full and is kept for the tests that show it).
pub(crate) fn recognize(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    lang: &Language,
    norm: &Normalized,
    context: &DialogueContext,
    threshold: f64,
    prune: bool,
) -> Option<IntentMatch> {
    let (_, found) = search(c, vocab, lang, norm, context, threshold, prune, 1);
    let Found { score, mut m, .. } = found.into_iter().next()?;
    let confidence = confidence(score);
    m.confidence = (confidence * 1000.0).round() / 1000.0;
    tracing::debug!(
        language = %lang,
        intent = %m.intent,
        template = %m.template,
        cost_per_word = score,
        confidence = m.confidence,
        "tolerant grammar match"
    );
    Some(m)
}

/// Up to `limit` grammar sentences that sound most like `norm`, best first, each distinct,
/// from alignments reaching `threshold`: what a speech recogniser weighs against the audio
/// when the transcript itself matches no template (see `asr::WhisperRecognizer::
/// transcribe_weighing`). A sentence reads the template's words along the alignment (words
/// it dropped included, words it added left out), a list value by its spoken form closest
/// to what was heard for it, and a number or wildcard by the words heard for it.
pub(crate) fn closest(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    lang: &Language,
    norm: &Normalized,
    context: &DialogueContext,
    threshold: f64,
    limit: usize,
) -> Vec<Closest> {
    // Templates often say the same sentence along their best alignments (alternatives that
    // differ where nothing was heard): keep a few more than asked, then the distinct ones.
    let (heard, found) = search(c, vocab, lang, norm, context, threshold, true, limit * 3);
    let mut out: Vec<Closest> = Vec::new();
    for f in found {
        let sentence = realize(c, vocab, &heard, &norm.display, &f.said);
        if sentence.is_empty() || out.iter().any(|o| o.sentence == sentence) {
            continue;
        }
        out.push(Closest {
            sentence,
            intent: f.m.intent,
            confidence: (confidence(f.score) * 1000.0).round() / 1000.0,
        });
        if out.len() == limit {
            break;
        }
    }
    out
}

/// One template's alignment that reached the threshold.
struct Found {
    score: f64,
    template: usize,
    m: IntentMatch,
    said: Vec<Said>,
}

/// The best `keep` alignments (one per template) reaching `threshold`, best first, with the
/// heard words they align.
#[allow(clippy::too_many_arguments)]
fn search(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    lang: &Language,
    norm: &Normalized,
    context: &DialogueContext,
    threshold: f64,
    prune: bool,
    keep: usize,
) -> (Vec<Heard>, Vec<Found>) {
    let heard = hear(norm, c);
    if heard.is_empty() || heard.len() > MAX_HEARD || threshold > 0.999 || keep == 0 {
        return (heard, Vec::new());
    }
    let norm = Normalized {
        display: norm.display.clone(),
        tokens: heard
            .iter()
            .map(|h| Token {
                text: h.text.clone(),
                start: h.start,
                end: h.end,
            })
            .collect(),
    };
    let mut a = Aligner::new(c, vocab, &heard);
    let order = if prune {
        a.order()
    } else {
        (0..c.templates.len()).collect()
    };
    // The score an alignment must not exceed to matter: the threshold's, then (once `keep`
    // are found) the worst kept match's.
    let mut limit = if prune {
        max_score(threshold)
    } else {
        f64::INFINITY
    };
    // Generous by a hair, as in `Aligner::align`.
    let hair = |limit: f64| limit as f32 * (1.0 + 1e-5) + 1e-5;
    let reach = |ti: usize| vocab.reach.get(ti).copied().unwrap_or(u32::MAX);
    // Per template, what each heard word costs it at least; then the templates whose bound is
    // lowest first (the estimate breaking ties), so that a good match soon tightens the limit.
    let mut floors: Vec<Vec<WordFloor>> = Vec::new();
    let mut order = order;
    if prune && limit.is_finite() {
        floors = (0..c.templates.len()).map(|ti| a.floors(ti)).collect();
        let l = hair(limit);
        let mut keyed: Vec<(f32, usize)> = order
            .iter()
            .map(|&ti| (excess_bound(&floors[ti], reach(ti), l), ti))
            .filter(|&(bound, _)| bound <= 1e-3)
            .collect();
        keyed.sort_by(|x, y| x.0.total_cmp(&y.0));
        order = keyed.into_iter().map(|(_, ti)| ti).collect();
    }
    // Sorted by (score, template), at most `keep`.
    let mut best: Vec<Found> = Vec::new();
    for ti in order {
        if let (Some(f), true) = (floors.get(ti), limit.is_finite()) {
            if excess_bound(f, reach(ti), hair(limit)) > 1e-3 {
                continue;
            }
        }
        let Some(mut al) = a.align(ti, limit, prune, floors.get(ti).map(Vec::as_slice)) else {
            continue;
        };
        if confidence(al.score) < threshold {
            continue;
        }
        if prune {
            // Cut by excess, the alignment may have kept a dearer path that scores better
            // than the cheapest one (which scores over the limit): align again without that
            // cut, only for the few templates that get here.
            match a.align(ti, limit, false, None) {
                Some(full) if confidence(full.score) >= threshold => al = full,
                _ => continue,
            }
        }
        if best.len() == keep {
            if let Some(worst) = best.last() {
                if (al.score, al.template) >= (worst.score, worst.template) {
                    continue;
                }
            }
        }
        let block = &c.blocks[c.templates[al.template].block];
        if !context_allows(block, context, &al.m, &c.lists) {
            continue;
        }
        let cand = Candidate {
            key: (
                0,
                std::cmp::Reverse(0),
                std::cmp::Reverse(0),
                std::cmp::Reverse(al.template),
            ),
            template: al.template,
            positions: (0..heard.len()).collect(),
            m: al.m,
        };
        let Some(m) = build_match(c, lang, &norm, context, cand) else {
            continue;
        };
        let at = best.partition_point(|f| (f.score, f.template) < (al.score, al.template));
        best.insert(
            at,
            Found {
                score: al.score,
                template: al.template,
                m,
                said: al.said,
            },
        );
        best.truncate(keep);
        if prune && best.len() == keep {
            if let Some(worst) = best.last() {
                limit = limit.min(worst.score);
            }
        }
    }
    (heard, best)
}

/// The sentence an alignment reads (see [`closest`]): words joined by spaces, or without for a
/// language written without them; English contractions the normaliser split ("what s") are
/// joined back ("what's").
fn realize(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    heard: &[Heard],
    display: &str,
    said: &[Said],
) -> String {
    // The byte range of `display` heard at positions `from..to`.
    let range = |from: u32, to: u32| -> Option<(usize, usize)> {
        let (from, to) = (from as usize, to as usize);
        match (
            heard.get(from),
            to.checked_sub(1).and_then(|l| heard.get(l)),
        ) {
            (Some(first), Some(last)) if from < to => Some((first.start, last.end)),
            _ => None,
        }
    };
    let span = |from: u32, to: u32| -> &str {
        range(from, to)
            .and_then(|(a, b)| display.get(a..b))
            .unwrap_or("")
            .trim()
    };
    // Two heard pieces from one written token ("24" read as "twenty four", taken in two
    // steps) are written once.
    let mut last_heard = None;
    let mut words: Vec<Cow<'_, str>> = Vec::with_capacity(said.len());
    for piece in said {
        match *piece {
            Said::Word(id) => {
                if let Some(t) = vocab.texts.get(id as usize) {
                    words.push(Cow::Borrowed(t));
                }
            }
            Said::Value {
                list,
                value,
                from,
                to,
            } => {
                let Some(CompiledList::Values { values, .. }) = c.lists.get(list as usize) else {
                    continue;
                };
                let Some(v) = values.get(value as usize) else {
                    continue;
                };
                let heard_text = fold(span(from, to));
                let form = v
                    .spoken
                    .iter()
                    .min_by_key(|f| crate::asr::char_edits(&fold(f), &heard_text).0);
                if let Some(form) = form {
                    words.push(Cow::Borrowed(form.trim()));
                }
            }
            Said::Number(v) => words.push(Cow::Owned(if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            })),
            Said::Heard { from, to } => {
                let r = range(from, to);
                if r.is_none() || r != last_heard {
                    words.push(Cow::Borrowed(span(from, to)));
                }
                last_heard = r;
            }
        }
    }
    words.retain(|w| !w.is_empty());
    if c.split_letters {
        return words.concat();
    }
    let mut out = String::new();
    for w in words {
        if !out.is_empty() {
            if matches!(w.as_ref(), "s" | "t" | "ll" | "re" | "ve" | "d" | "m") {
                out.push('\'');
            } else {
                out.push(' ');
            }
        }
        out.push_str(&w);
    }
    out
}

/// Most heard words a number read by sound spans.
const MAX_SOUNDED: usize = 8;

/// The numeral a heard Han character sounds like (the same syllable: "时" for 十, "期" for 七,
/// "流" for 六) and the sound distance (0.1 in the same tone, 0.25 in another); `None` for a
/// numeral itself (read as written) and for anything else.
fn sounds_like_numeral(sound: &Sound, text: &str) -> Option<(&'static str, f32)> {
    static NUMERALS: std::sync::OnceLock<Vec<(&'static str, Sound)>> = std::sync::OnceLock::new();
    let numerals = NUMERALS.get_or_init(|| {
        [
            "零", "一", "二", "两", "三", "四", "五", "六", "七", "八", "九", "十", "百",
        ]
        .into_iter()
        .map(|n| (n, Sound::of(n)))
        .collect()
    });
    sound.han?;
    if numerals.iter().any(|(n, _)| *n == text) {
        return None;
    }
    numerals
        .iter()
        .map(|(n, s)| (*n, distance(sound, s)))
        .filter(|&(_, d)| d <= 0.25)
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Lower case, letters and digits only: how list forms and heard words are compared.
fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The best alignment score (cost per aligned word) of `text` over all templates, for
/// calibrating the confidence curve; `None` when nothing aligns.
pub(crate) fn best_score(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    norm: &Normalized,
) -> Option<f64> {
    let heard = hear(norm, c);
    if heard.is_empty() || heard.len() > MAX_HEARD {
        return None;
    }
    let mut a = Aligner::new(c, vocab, &heard);
    let mut best = f64::INFINITY;
    for ti in a.order() {
        if let Some(al) = a.align(ti, best, false, None) {
            best = best.min(al.score);
        }
    }
    best.is_finite().then_some(best)
}

/// The confidence of a cost per aligned word.
pub fn confidence(score: f64) -> f64 {
    let p = 1.0 / (1.0 + (SLOPE * (score - MIDPOINT)).exp());
    p.clamp(0.001, 0.999)
}

/// The heard tokens, with digits, ordinals and "%" said as words ("20" → "twenty", "2nd" →
/// "second", "22" → "二" "十" "二").
fn hear(norm: &Normalized, c: &CompiledLanguage) -> Vec<Heard> {
    let texts: Vec<&str> = norm.tokens.iter().map(|t| t.text.as_str()).collect();
    let mut out = Vec::with_capacity(texts.len() + 4);
    let mut i = 0;
    while i < texts.len() {
        let (start, mut end) = (norm.tokens[i].start, norm.tokens[i].end);
        match said_as(&texts[i..], c.number_words) {
            Some((words, used)) => {
                end = norm.tokens[i + used - 1].end;
                for w in super::normalize::token_texts(&words, c.split_letters) {
                    out.push(Heard {
                        sound: Sound::of(&w),
                        text: w,
                        start,
                        end,
                    });
                }
                i += used;
            }
            None => {
                out.push(Heard {
                    text: texts[i].to_string(),
                    sound: Sound::of(texts[i]),
                    start,
                    end,
                });
                i += 1;
            }
        }
    }
    out
}

/// The least cost a heard word adds to an alignment, per way of aligning it: alone (matched
/// with one template or list word, added, taken by a wildcard or a number), as one of `k`
/// heard words said for one template word (the cost shared by the `k`), or for two template
/// words. An alignment's cost minus `limit` per aligned word (its excess) is at least the sum
/// over the heard words of [`WordFloor::excess`], plus the dropped template words' (none
/// below `limit` 0.35): when that is above 0 the template cannot score `limit`.
#[derive(Clone, Copy)]
struct WordFloor {
    one: f32,
    /// Merged into one template word with the heard word(s) around it, `k = 2, 3`.
    merged: [f32; MAX_MERGE - 1],
    pair: f32,
}

impl WordFloor {
    fn excess(&self, limit: f32) -> f32 {
        let mut e = (self.one - limit).min(self.pair - 2.0 * limit);
        for (k, m) in self.merged.iter().enumerate() {
            e = e.min((m - limit) / (k + 2) as f32);
        }
        e
    }
}

/// A lower bound of an alignment's excess over `limit` (see [`WordFloor`]) for a template
/// whose programme passes at most `reach` template and list words.
fn excess_bound(floors: &[WordFloor], reach: u32, limit: f32) -> f32 {
    let words: f32 = floors.iter().map(|f| f.excess(limit)).sum();
    words + reach as f32 * (DEL_SMALL - limit).min(0.0)
}

/// What a list gives from a heard position, worked out once per sentence.
type PerListAndPosition<T> = HashMap<(u32, usize), Arc<Vec<T>>, FastHash>;

/// The aligner of one heard sentence, with what it learnt shared across templates.
struct Aligner<'a> {
    c: &'a CompiledLanguage,
    vocab: &'a Vocabulary,
    heard: &'a [Heard],
    /// The sound of heard words `i..i+k` said as one, at `(i * MAX_MERGE + k - 1)`.
    spans: Vec<Option<Sound>>,
    /// Distance of heard span `(i, k)` to word id: `span * words + id`, NaN = not yet known.
    sub: Vec<f32>,
    words: usize,
    /// Distance of heard word `i` to pair `p` ([`Vocabulary::pairs`]): `i * pairs + p`, NaN =
    /// not yet known.
    pair_distances: Vec<f32>,
    /// A list's fillers from heard position `i`: `(end, cost, units, value)`.
    slots: PerListAndPosition<(usize, f32, f32, u32)>,
    /// A range list's readings from heard position `i`.
    /// Readings of a range slot at a position: value, heard words used, cost (0 unless read
    /// by sound, see [`Aligner::range_fillers`]).
    ranges: PerListAndPosition<(f64, usize, f32)>,
    /// Per heard word, the numeral it sounds like and the cost (see [`sounds_like_numeral`]).
    numerals: Vec<Option<(&'static str, f32)>>,
    /// [`Aligner::span_bound`]s, laid out as `sub`; NaN = not yet known.
    bounds: Vec<f32>,
    /// Spans whose `bounds` are all known ([`Aligner::bound_row`]).
    rows_done: Vec<bool>,
    /// The same bounds by template word (see [`Aligner::by_word`]); empty until first asked.
    by_word: Vec<f32>,
    /// [`Aligner::list_bound`]s: `span * lists + list`.
    list_bounds: Vec<f32>,
    /// Bound of heard word `i` to pair `p`: `i * pairs + p`.
    pair_bounds: Vec<f32>,
    /// Per range list and heard position, the least a number reading costs that word
    /// (infinite: no reading takes it).
    covers: HashMap<u32, Vec<f32>, FastHash>,
    /// [`Aligner::filler_floor`] by word id; NaN = not yet known.
    filler_floors: Vec<f32>,
    /// [`Aligner::futures`] by list.
    futures: HashMap<u32, Arc<Vec<f32>>, FastHash>,
    /// Scratch space of [`Aligner::filler_floor`].
    by_bound: Vec<(f32, usize)>,
    grid: Grid,
}

impl<'a> Aligner<'a> {
    fn new(c: &'a CompiledLanguage, vocab: &'a Vocabulary, heard: &'a [Heard]) -> Aligner<'a> {
        let n = heard.len();
        let mut spans = Vec::with_capacity(n * MAX_MERGE);
        for i in 0..n {
            for k in 1..=MAX_MERGE {
                spans.push(if i + k > n {
                    None
                } else if k == 1 {
                    Some(heard[i].sound.clone())
                } else if heard[i..i + k].iter().any(|h| h.sound.is_han()) {
                    None
                } else {
                    let parts: Vec<&Sound> = heard[i..i + k].iter().map(|h| &h.sound).collect();
                    Some(Sound::joined(&parts))
                });
            }
        }
        let words = vocab.sounds.len();
        Aligner {
            c,
            vocab,
            heard,
            bounds: vec![f32::NAN; spans.len() * words],
            rows_done: vec![false; spans.len()],
            by_word: Vec::new(),
            list_bounds: vec![f32::NAN; spans.len() * vocab.list_words.len()],
            pair_bounds: vec![f32::NAN; n * vocab.pairs.len()],
            covers: HashMap::default(),
            filler_floors: vec![f32::NAN; words],
            futures: HashMap::default(),
            by_bound: Vec::new(),
            sub: vec![f32::NAN; spans.len() * words],
            spans,
            words,
            pair_distances: vec![f32::NAN; n * vocab.pairs.len()],
            slots: HashMap::default(),
            ranges: HashMap::default(),
            numerals: heard
                .iter()
                .map(|h| sounds_like_numeral(&h.sound, &h.text))
                .collect(),
            grid: Grid::default(),
        }
    }

    /// A lower bound of [`Aligner::span_distance`] of span `span` (`i * MAX_MERGE + k - 1`)
    /// and word `id`: the distance itself when known, else [`quick_bound`] (memoised).
    fn span_bound(&mut self, span: usize, id: u32) -> f32 {
        let at = span * self.words + id as usize;
        if let Some(&d) = self.sub.get(at) {
            if !d.is_nan() {
                return d;
            }
        }
        if let Some(&d) = self.bounds.get(at) {
            if !d.is_nan() {
                return d;
            }
        }
        let d = match (
            self.spans.get(span).and_then(Option::as_ref),
            self.vocab.sound(id),
        ) {
            (Some(s), Some(w)) => quick_bound(s, w),
            _ => 1.0,
        };
        if let Some(slot) = self.bounds.get_mut(at) {
            *slot = d;
        }
        d
    }

    /// [`quick_bound`] of span `span` and every word some template has, by word id
    /// (computed in one pass the first time: the template bounds read all of them; list words
    /// are left to [`Aligner::span_bound`]).
    fn bound_row(&mut self, span: usize) -> &[f32] {
        let words = self.words;
        let range = span * words..(span + 1) * words;
        if !self.rows_done.get(span).copied().unwrap_or(true) {
            if let (Some(row), Some(Some(s))) =
                (self.bounds.get_mut(range.clone()), self.spans.get(span))
            {
                for &id in &self.vocab.template_words {
                    if let (Some(b), Some(w)) =
                        (row.get_mut(id as usize), self.vocab.sounds.get(id as usize))
                    {
                        if b.is_nan() {
                            *b = quick_bound(s, w);
                        }
                    }
                }
            }
            if let Some(done) = self.rows_done.get_mut(span) {
                *done = true;
            }
        }
        self.bounds.get(range).unwrap_or(&[])
    }

    /// [`Aligner::bound_row`]s by template word: the bounds of [`Vocabulary::template_words`]
    /// `k` are `by_word[k * spans..(k + 1) * spans]`, 1 for a span that cannot be said as one
    /// word; so that a template's bounds are read in order, a row at a time.
    fn by_word(&mut self) -> &[f32] {
        let spans = self.spans.len();
        let vocab = self.vocab;
        let count = vocab.template_words.len();
        if self.by_word.len() != spans * count {
            let mut by_word = vec![1.0f32; spans * count];
            for span in 0..spans {
                if self.spans.get(span).is_none_or(Option::is_none) {
                    continue;
                }
                let row = self.bound_row(span);
                for (k, &id) in vocab.template_words.iter().enumerate() {
                    if let (Some(b), Some(&d)) =
                        (by_word.get_mut(k * spans + span), row.get(id as usize))
                    {
                        *b = d;
                    }
                }
            }
            self.by_word = by_word;
        }
        &self.by_word
    }

    /// The least [`Aligner::span_bound`] of span `span` over the words of list `list`.
    fn list_bound(&mut self, span: usize, list: u32) -> f32 {
        let vocab = self.vocab;
        let lists = vocab.list_words.len();
        let at = span * lists + list as usize;
        if let Some(&d) = self.list_bounds.get(at) {
            if !d.is_nan() {
                return d;
            }
        }
        let mut d: f32 = 1.0;
        for &w in vocab
            .list_words
            .get(list as usize)
            .map_or(&[][..], Vec::as_slice)
        {
            d = d.min(self.span_bound(span, w));
            if d <= 0.0 {
                break;
            }
        }
        if let Some(slot) = self.list_bounds.get_mut(at) {
            *slot = d;
        }
        d
    }

    /// Per heard position, the least cost per word of a reading of range list `list` that
    /// takes it (0 for numbers said as such; infinite where none does).
    fn range_covers(&mut self, list: u32) -> Vec<f32> {
        let n = self.heard.len();
        let mut covers = vec![f32::INFINITY; n];
        if let Some(CompiledList::Range(r)) = self.c.lists.get(list as usize) {
            for i in 0..n {
                for &(_, used, cost) in self.range_fillers(list, r, i).iter() {
                    // A reading's cost shared by its words: their sum is the reading's.
                    let each = cost / used.max(1) as f32;
                    for c in covers.iter_mut().skip(i).take(used) {
                        *c = c.min(each);
                    }
                }
            }
        }
        covers
    }

    /// What each heard word of an alignment with template `ti` costs at least, per way it can
    /// be aligned (see [`WordFloor`]).
    fn floors(&mut self, ti: usize) -> Vec<WordFloor> {
        let vocab = self.vocab;
        let n = self.heard.len();
        let Some(u) = vocab.uses.get(ti) else {
            return Vec::new();
        };
        // Per heard span: the least distance to a word of the template or of its lists.
        let spans = self.spans.len();
        let mut near = vec![1.0f32; spans];
        let by_word = self.by_word();
        for &k in &u.word_rows {
            let k = k as usize;
            if let Some(row) = by_word.get(k * spans..(k + 1) * spans) {
                for (d, &b) in near.iter_mut().zip(row) {
                    *d = d.min(b);
                }
            }
        }
        for (span, d) in near.iter_mut().enumerate() {
            if self.spans.get(span).is_none_or(Option::is_none) {
                continue;
            }
            for &l in &u.value_lists {
                *d = d.min(self.list_bound(span, l));
            }
        }
        let mut covered = vec![f32::INFINITY; n];
        for &l in &u.range_lists {
            let covers = match self.covers.get(&l) {
                Some(c) => c.clone(),
                None => {
                    let c = self.range_covers(l);
                    self.covers.insert(l, c.clone());
                    c
                }
            };
            for (c, by) in covered.iter_mut().zip(covers) {
                *c = c.min(by);
            }
        }
        (0..n)
            .map(|i| {
                let mut one = self.ins_cost(i).min(near[i * MAX_MERGE]);
                if u.wildcard {
                    one = one.min(WILD_WORD);
                }
                one = one.min(covered[i]);
                let mut merged = [1.0f32 + MERGE_COST; MAX_MERGE - 1];
                for k in 2..=MAX_MERGE {
                    for j in i.saturating_sub(k - 1)..=i {
                        if j + k <= n {
                            let d = near[j * MAX_MERGE + k - 1] + MERGE_COST * (k - 1) as f32;
                            merged[k - 2] = merged[k - 2].min(d);
                        }
                    }
                }
                let mut pair = 1.0f32 + MERGE_COST;
                for &p in &u.pairs {
                    pair = pair.min(self.pair_bound(i, p) + MERGE_COST);
                }
                WordFloor { one, merged, pair }
            })
            .collect()
    }

    /// Numbers range list `list` reads from heard position `i`: `(value, words used)`.
    /// The numbers a range slot can read from heard position `i`: value, words used, cost.
    /// Numbers written or said as such cost nothing. In Mandarin, Han characters that sound
    /// like numerals may also be read as them ("时期" as 十七, whisper's homophones for a number
    /// it did not recognise as one), at the cost of each such character's sound distance.
    fn range_fillers(&mut self, list: u32, r: &RangeDef, i: usize) -> Arc<Vec<(f64, usize, f32)>> {
        if let Some(f) = self.ranges.get(&(list, i)) {
            return f.clone();
        }
        let texts: Vec<&str> = self.heard[i..].iter().map(|h| h.text.as_str()).collect();
        let mut found: Vec<(f64, usize, f32)> = range_readings(r, &texts, self.c.number_words)
            .into_iter()
            .map(|(v, used)| (v, used, 0.0))
            .collect();
        if r.words && self.numerals.get(i).is_some_and(Option::is_some) {
            // Each heard word as the numeral it sounds like, if any, and what that costs.
            let mut costs = Vec::new();
            let mut sounded: Vec<&str> = Vec::new();
            for (h, numeral) in self.heard[i..]
                .iter()
                .zip(&self.numerals[i..])
                .take(MAX_SOUNDED)
            {
                match numeral {
                    Some((numeral, cost)) => {
                        sounded.push(numeral);
                        costs.push(*cost);
                    }
                    None => {
                        sounded.push(h.text.as_str());
                        costs.push(0.0);
                    }
                }
            }
            for (v, used) in range_readings(r, &sounded, self.c.number_words) {
                let cost: f32 = costs.iter().take(used).sum();
                if cost > 0.0 && !found.iter().any(|&(w, u, _)| w == v && u == used) {
                    found.push((v, used, cost));
                }
            }
        }
        let found = Arc::new(found);
        self.ranges.insert((list, i), found.clone());
        found
    }

    /// Distance of heard words `i..i+k` to word `id` (1.0 when it cannot be said so).
    fn span_distance(&mut self, i: usize, k: usize, id: u32) -> f32 {
        let span = i * MAX_MERGE + k - 1;
        let at = span * self.words + id as usize;
        if let Some(&d) = self.sub.get(at) {
            if !d.is_nan() {
                return d;
            }
        }
        let d = match (
            self.spans.get(span).and_then(Option::as_ref),
            self.vocab.sound(id),
        ) {
            (Some(s), Some(w)) => distance(s, w),
            _ => 1.0,
        };
        if let Some(slot) = self.sub.get_mut(at) {
            *slot = d;
        }
        d
    }

    /// Distance of heard word `i` to pair `p`, two template words said as one ("sunroof").
    fn pair_distance(&mut self, i: usize, p: u32) -> f32 {
        let at = i * self.vocab.pairs.len() + p as usize;
        if let Some(&d) = self.pair_distances.get(at) {
            if !d.is_nan() {
                return d;
            }
        }
        let d = match self.vocab.pairs.get(p as usize) {
            Some((_, _, joined)) if !self.heard[i].sound.is_han() => {
                distance(&self.heard[i].sound, joined)
            }
            _ => 1.0,
        };
        if let Some(slot) = self.pair_distances.get_mut(at) {
            *slot = d;
        }
        d
    }

    /// A lower bound of [`Aligner::pair_distance`] ([`quick_bound`], memoised).
    fn pair_bound(&mut self, i: usize, p: u32) -> f32 {
        let at = i * self.vocab.pairs.len() + p as usize;
        if let Some(&d) = self.pair_bounds.get(at) {
            if !d.is_nan() {
                return d;
            }
        }
        let d = self
            .vocab
            .pairs
            .get(p as usize)
            .map_or(1.0, |(_, _, joined)| {
                quick_bound(&self.heard[i].sound, joined)
            });
        if let Some(slot) = self.pair_bounds.get_mut(at) {
            *slot = d;
        }
        d
    }

    fn ins_cost(&self, i: usize) -> f32 {
        if self.heard[i].sound.small {
            INS_SMALL
        } else {
            INS_WORD
        }
    }

    fn del_cost(&self, id: u32) -> f32 {
        match self.vocab.sound(id) {
            Some(s) if s.small => DEL_SMALL,
            _ => DEL_WORD,
        }
    }

    /// Ways list `list` can fill a slot from heard position `i`: per end, the cheapest value
    /// (the first form of the list among equally cheap ones).
    ///
    /// The forms are aligned along the list's [`FormTrie`], so that forms which start alike
    /// ("one thirty pm", "one thirty in the evening") align their common words once; the
    /// columns are those of [`Aligner::align_linear`], relaxed in the same order, so each
    /// form's alignment is the same as on its own.
    fn slot_fillers(&mut self, list: u32, i: usize) -> Arc<Vec<(usize, f32, f32, u32)>> {
        if let Some(f) = self.slots.get(&(list, i)) {
            return f.clone();
        }
        let vocab = self.vocab;
        let n = self.heard.len();
        let rows = n - i + 1;
        // Per end: (cost, units, value, form index).
        let mut by_end: Vec<Option<(f32, f32, u32, u32)>> = vec![None; rows];
        if let Some(trie) = vocab.tries.get(list as usize) {
            // Per depth: the column after the node's word, without and with words added
            // after it (a form's last word takes none).
            let mut plain: Vec<Vec<(f32, f32)>> = Vec::new();
            let mut open: Vec<Vec<(f32, f32)>> = vec![vec![(f32::INFINITY, 0.0); rows]];
            if let Some(c) = open[0].first_mut() {
                *c = (0.0, 0.0);
            }
            let futures = self.futures(list);
            // Heard words added between a form's words lower its excess by at most this.
            let small = self.heard[i..].iter().filter(|h| h.sound.small).count() as f32;
            let credit = (FILLER_RATIO - INS_SMALL) * small;
            let mut stack: Vec<(u32, usize)> = Vec::new();
            if let Some(root) = trie.nodes.first() {
                stack.extend(root.children.iter().rev().map(|&c| (c, 1)));
            }
            while let Some((node, depth)) = stack.pop() {
                let Some(nd) = trie.nodes.get(node as usize) else {
                    continue;
                };
                while plain.len() <= depth {
                    plain.push(vec![(f32::INFINITY, 0.0); rows]);
                }
                while open.len() <= depth {
                    open.push(vec![(f32::INFINITY, 0.0); rows]);
                }
                let mut reached = false;
                for r in 0..rows {
                    // In `align_linear`'s order: spans of 3, 2, 1 heard words, an added
                    // word, the word dropped; the first of equal costs stays.
                    let mut best = (f32::INFINITY, 0.0);
                    for k in (1..=MAX_MERGE.min(r)).rev() {
                        let (d, u) = open[depth - 1][r - k];
                        let merge = MERGE_COST * (k - 1) as f32;
                        // A distance that cannot beat `best` is not worked out.
                        if d.is_finite()
                            && d + self.span_bound((i + r - k) * MAX_MERGE + k - 1, nd.word) + merge
                                < best.0
                        {
                            let s = self.span_distance(i + r - k, k, nd.word);
                            let c = d + s + MERGE_COST * (k - 1) as f32;
                            if c < best.0 {
                                best = (c, u + 1.0);
                            }
                        }
                    }
                    let mut with_ins = best;
                    // A heard word added after this word (before the next).
                    if r > 0 {
                        let (d, u) = open[depth][r - 1];
                        if d.is_finite() {
                            let c = d + self.ins_cost(i + r - 1);
                            if c < with_ins.0 {
                                with_ins = (c, u + 1.0);
                            }
                        }
                    }
                    let (d, u) = open[depth - 1][r];
                    if d.is_finite() {
                        let c = d + self.del_cost(nd.word);
                        if c < best.0 {
                            best = (c, u + 1.0);
                        }
                        if c < with_ins.0 {
                            with_ins = (c, u + 1.0);
                        }
                    }
                    plain[depth][r] = best;
                    open[depth][r] = with_ins;
                    reached |= with_ins.0.is_finite();
                }
                let reach = (n - i).min(depth * MAX_MERGE + 1);
                for &(form, value) in &nd.ends {
                    for r in 1..=reach {
                        let (d, u) = plain[depth][r];
                        // A value no heard word resembles is no filler.
                        if !(d.is_finite() && d < FILLER_RATIO * u.max(1.0)) {
                            continue;
                        }
                        match &mut by_end[r] {
                            Some(b) if b.0 <= d => {}
                            b => *b = Some((d, u, value, form)),
                        }
                    }
                }
                if reached {
                    // The least excess (cost over `FILLER_RATIO` per aligned word) so far; a
                    // child whose forms cannot bring it under 0 is not followed.
                    let least = open[depth]
                        .iter()
                        .filter(|c| c.0.is_finite())
                        .map(|&(d, u)| d - FILLER_RATIO * u)
                        .fold(f32::INFINITY, f32::min);
                    for &c in nd.children.iter().rev() {
                        let future = futures
                            .get(c as usize)
                            .copied()
                            .unwrap_or(f32::NEG_INFINITY);
                        if least + future - credit <= 1e-4 {
                            stack.push((c, depth + 1));
                        }
                    }
                }
            }
        }
        let best: Vec<(usize, f32, f32, u32)> = by_end
            .iter()
            .enumerate()
            .filter_map(|(r, b)| b.map(|(d, u, value, _)| (i + r, d, u, value)))
            .collect();
        #[cfg(test)]
        self.check_fillers(list, i, &best);
        let best = Arc::new(best);
        self.slots.insert((list, i), best.clone());
        best
    }

    /// Per node of list `list`'s trie, the least excess (cost over `FILLER_RATIO` per aligned
    /// word) its word and the words of the cheapest way on to a form's end add, from
    /// [`Aligner::filler_floor`]s (memoised per list).
    fn futures(&mut self, list: u32) -> Arc<Vec<f32>> {
        if let Some(f) = self.futures.get(&list) {
            return f.clone();
        }
        let vocab = self.vocab;
        let mut futures = Vec::new();
        if let Some(trie) = vocab.tries.get(list as usize) {
            futures = vec![0.0f32; trie.nodes.len()];
            // Children come after their parent.
            for (index, node) in trie.nodes.iter().enumerate().rev() {
                let mut on = if node.ends.is_empty() {
                    f32::INFINITY
                } else {
                    0.0
                };
                for &c in &node.children {
                    on = on.min(futures.get(c as usize).copied().unwrap_or(f32::INFINITY));
                }
                let own = if index == 0 {
                    0.0
                } else {
                    self.filler_floor(node.word)
                };
                futures[index] = own + on;
            }
        }
        let futures = Arc::new(futures);
        self.futures.insert(list, futures.clone());
        futures
    }

    /// What list word `id` adds at least to a form's excess over `FILLER_RATIO` per aligned
    /// word, wherever in the sentence it is aligned: dropped, or said as some heard word(s).
    fn filler_floor(&mut self, id: u32) -> f32 {
        if let Some(&f) = self.filler_floors.get(id as usize) {
            if !f.is_nan() {
                return f;
            }
        }
        let mut least = self.del_cost(id);
        // Spans by their bound, lowest first: once a bound is no less than the least found,
        // no distance after it can lower it.
        let mut by_bound = std::mem::take(&mut self.by_bound);
        by_bound.clear();
        for span in 0..self.spans.len() {
            let merged = MERGE_COST * (span % MAX_MERGE) as f32;
            if merged < least && self.spans[span].is_some() {
                let bound = self.span_bound(span, id) + merged;
                if bound < least {
                    by_bound.push((bound, span));
                }
            }
        }
        by_bound.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        for &(bound, span) in &by_bound {
            if bound >= least {
                break;
            }
            let merged = MERGE_COST * (span % MAX_MERGE) as f32;
            let (i, k) = (span / MAX_MERGE, span % MAX_MERGE + 1);
            least = least.min(self.span_distance(i, k, id) + merged);
        }
        self.by_bound = by_bound;
        let floor = least - FILLER_RATIO;
        if let Some(slot) = self.filler_floors.get_mut(id as usize) {
            *slot = floor;
        }
        floor
    }

    /// The fillers of [`Aligner::slot_fillers`], form by form (what it must give).
    #[cfg(test)]
    fn check_fillers(&mut self, list: u32, i: usize, got: &[(usize, f32, f32, u32)]) {
        let mut best: Vec<(usize, f32, f32, u32)> = Vec::new();
        if let Some(CompiledList::Values { tokens, forms, .. }) = self.c.lists.get(list as usize) {
            for f in forms {
                let form = &tokens[f.start as usize..(f.start + f.len) as usize];
                for (end, cost, units) in self.align_linear(i, form) {
                    match best.iter_mut().find(|b| b.0 == end) {
                        Some(b) if b.1 <= cost => {}
                        Some(b) => *b = (end, cost, units, f.value),
                        None => best.push((end, cost, units, f.value)),
                    }
                }
            }
        }
        best.sort_by_key(|b| b.0);
        assert_eq!(got, &best[..], "fillers of list {list} from {i}");
        CHECKED_FILLERS.with(|c| c.set(c.get() + 1));
    }

    /// Aligns word ids `form` with heard words from `i`: `(end, cost, units)` for each end
    /// within reach (no insertions before the first word).
    #[cfg(test)]
    fn align_linear(&mut self, i: usize, form: &[u32]) -> Vec<(usize, f32, f32)> {
        let n = self.heard.len();
        let m = form.len();
        let reach = (n - i).min(m * MAX_MERGE + 1);
        // cost[r][j]: r heard words from i used, j form words matched.
        let w = m + 1;
        let mut cost = vec![(f32::INFINITY, 0f32); (reach + 1) * w];
        cost[0] = (0.0, 0.0);
        for r in 0..=reach {
            for j in 0..=m {
                let (d, u) = cost[r * w + j];
                if !d.is_finite() {
                    continue;
                }
                if j < m {
                    let del = d + self.del_cost(form[j]);
                    let cell = &mut cost[r * w + j + 1];
                    if del < cell.0 {
                        *cell = (del, u + 1.0);
                    }
                    for k in 1..=MAX_MERGE.min(reach - r) {
                        let s = self.span_distance(i + r, k, form[j]);
                        let c = d + s + MERGE_COST * (k - 1) as f32;
                        let cell = &mut cost[(r + k) * w + j + 1];
                        if c < cell.0 {
                            *cell = (c, u + 1.0);
                        }
                    }
                }
                if r < reach && j > 0 && j < m {
                    let c = d + self.ins_cost(i + r);
                    let cell = &mut cost[(r + 1) * w + j];
                    if c < cell.0 {
                        *cell = (c, u + 1.0);
                    }
                }
            }
        }
        (1..=reach)
            .filter_map(|r| {
                let (d, u) = cost[r * w + m];
                // A value no heard word resembles is no filler.
                (d.is_finite() && d < FILLER_RATIO * u.max(1.0)).then_some((i + r, d, u))
            })
            .collect()
    }

    /// Templates in the order of a cheap estimate of how well they align: most of the words
    /// every match of them has heard as such first, so that the best is found early and
    /// bounds the rest.
    fn order(&self) -> Vec<usize> {
        let c = self.c;
        let heard: Vec<u32> = self
            .heard
            .iter()
            .filter_map(|h| c.words.get(h.text.as_str()).copied())
            .collect();
        let mut keyed: Vec<(i64, usize)> = c
            .templates
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let required = c.required_of(t);
                let found = required.iter().filter(|id| heard.contains(id)).count() as i64;
                (required.len() as i64 - 2 * found, ti)
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, ti)| ti).collect()
    }

    /// The best alignment of the whole heard sentence with template `ti`, unless it cannot
    /// score `limit` or less.
    ///
    /// The alignment minimises cost; its score is cost per aligned word (plus a share for
    /// inserted words). Each aligned word uses at least one heard word or one template / list
    /// word, so an alignment has at most `n + reach` of them and a cost above
    /// `limit × (n + reach)` scores above `limit`. Cells dearer than that are never written
    /// (costs only grow along a path, so the cheapest alignment, when it scores `limit` or
    /// less, never passes one), and the pass stops at the first heard position no cell
    /// reaches.
    ///
    /// With `excess`, a cell is also dropped when its prefix's excess (cost − `limit` ×
    /// aligned words) is more than the rest of the sentence could bring back: each heard word
    /// still to come lowers it by at most `limit` (a word matched exactly), or `2 × limit −
    /// 0.1` (one heard word for two template words), each template word by at most a dropped
    /// small word's `limit − 0.35`. Every alignment through such a cell scores over `limit`.
    /// With `floors` (this template's [`WordFloor`]s) that cut is sharper: the heard words
    /// still to come bring back at most minus the sum of their floors' excess (what each of
    /// them adds at least against this template, however it is aligned), and the template
    /// words still to come at most `0.35 − limit` each when that is below 0 — a lower bound
    /// of the rest's excess, as in an A* search; so an alignment stops soon after its prefix
    /// has gone worse than the template's bound allowed.
    /// That cut can make the alignment keep a dearer path than the cheapest, so a template
    /// that passes with it is aligned again without it (see [`recognize`]); one that fails
    /// with it fails without it too.
    fn align(
        &mut self,
        ti: usize,
        limit: f64,
        excess: bool,
        floors: Option<&[WordFloor]>,
    ) -> Option<Aligned> {
        let (c, vocab) = (self.c, self.vocab);
        let t = &c.templates[ti];
        let program = c.program(t);
        let code_start = t.code_start as usize;
        let len = program.len();
        let n = self.heard.len();
        if len == 0 || (n + 1) * len > MAX_CELLS {
            return None;
        }
        let reach = self.vocab.reach.get(ti).copied().unwrap_or(u32::MAX) as f64;
        let bound = limit * (n as f64 + reach);
        let bound = if bound.is_finite() {
            // Generous by a hair, so that f32 rounding never cuts the best alignment.
            (bound as f32) * (1.0 + 1e-5) + 1e-5
        } else {
            f32::INFINITY
        };
        let mut g = std::mem::take(&mut self.grid);
        g.start(n + 1, len, bound);
        if excess && limit.is_finite() {
            let l = limit as f32 * (1.0 + 1e-5) + 1e-5;
            g.limit = l;
            g.heard = n;
            let start = t.code_start as usize;
            g.reach.clear();
            g.reach
                .extend_from_slice(self.vocab.reach_at.get(start..start + len).unwrap_or(&[]));
            // Per heard word: a word matched (-l), one word said for two (0.1 - 2l), a small
            // word added (0.3 - l); per template word: a small word dropped (0.35 - l).
            // Or: per heard word -l, per template word the second of a pair (0.1 - l).
            g.recover = [
                (l.max(2.0 * l - MERGE_COST), (l - DEL_SMALL).max(0.0)),
                (l, (l - MERGE_COST).max(0.0)),
            ];
            if let Some(f) = floors.filter(|f| f.len() == n) {
                g.suffix.resize(n + 1, 0.0);
                for j in (0..n).rev() {
                    g.suffix[j] = g.suffix[j + 1] + f[j].excess(l);
                }
                g.dropped = (DEL_SMALL - l).min(0.0);
            }
        }
        let mut i = 0;
        while i <= n && i <= g.last_row {
            let mut pc = g.lo.get(i).copied().unwrap_or(usize::MAX);
            // Cells of this row may still be reached from earlier steps of it (splits, jumps
            // and dropped words only go forward), so its last step is read each time.
            while pc < len && pc <= g.hi.get(i).copied().unwrap_or(0) {
                let here = pc;
                pc += 1;
                let pc = here;
                let Cell {
                    cost: d, units: u, ..
                } = g.get(i, pc);
                if !d.is_finite() {
                    continue;
                }
                // A heard word the template does not have.
                if i < n {
                    let ins = self.ins_cost(i);
                    g.relax(i + 1, pc, d + ins, u + 1.0, (i, pc), Op::Ins);
                }
                match program[pc] {
                    Inst::Tok(id) => {
                        g.relax(i, pc + 1, d + self.del_cost(id), u + 1.0, (i, pc), Op::Del);
                        for k in 1..=MAX_MERGE.min(n - i) {
                            let merge = MERGE_COST * (k - 1) as f32;
                            // Not worth a distance when even a perfect one is too dear, or
                            // when the least it can cost does not beat what the cell has.
                            if !g.admits(i + k, pc + 1, d + merge, u + 1.0) {
                                continue;
                            }
                            let least = d + merge + self.span_bound(i * MAX_MERGE + k - 1, id);
                            if !g.admits(i + k, pc + 1, least, u + 1.0)
                                || g.get(i + k, pc + 1).cost <= least
                            {
                                continue;
                            }
                            let s = self.span_distance(i, k, id);
                            if s >= 1.0 {
                                continue;
                            }
                            let op = Op::Word {
                                exact: k == 1 && s == 0.0,
                            };
                            g.relax(i + k, pc + 1, d + s + merge, u + 1.0, (i, pc), op);
                        }
                        let pair = vocab.pair_at.get(code_start + pc).copied();
                        let pair = pair.filter(|&p| p != u32::MAX);
                        if let (true, Some(p)) = (
                            i < n && g.admits(i + 1, pc + 2, d + MERGE_COST, u + 2.0),
                            pair,
                        ) {
                            let least = d + self.pair_bound(i, p) + MERGE_COST;
                            if g.admits(i + 1, pc + 2, least, u + 2.0)
                                && g.get(i + 1, pc + 2).cost > least
                            {
                                let s = self.pair_distance(i, p);
                                if s < 1.0 {
                                    let op = Op::Word { exact: false };
                                    let cost = d + s + MERGE_COST;
                                    g.relax(i + 1, pc + 2, cost, u + 2.0, (i, pc), op);
                                }
                            }
                        }
                    }
                    Inst::Split(a, b) => {
                        for to in [a as usize, b as usize] {
                            if to > pc {
                                g.relax(i, to, d, u, (i, pc), Op::Eps);
                            }
                        }
                    }
                    Inst::Jmp(a) if a as usize > pc => {
                        g.relax(i, a as usize, d, u, (i, pc), Op::Eps);
                    }
                    Inst::Slot { list, slot } if i < n => match c.lists.get(list as usize) {
                        Some(CompiledList::Values { .. }) => {
                            for &(end, cost, units, value) in self.slot_fillers(list, i).iter() {
                                let fill = Fill::Value { list, value };
                                let op = Op::Slot { slot, fill };
                                g.relax(end, pc + 1, d + cost, u + units, (i, pc), op);
                            }
                        }
                        Some(CompiledList::Range(r)) => {
                            for (v, used, cost) in self.range_fillers(list, r, i).iter().copied() {
                                let fill = Fill::Number(v, cost > 0.0);
                                let op = Op::Slot { slot, fill };
                                g.relax(i + used, pc + 1, d + cost, u + used as f32, (i, pc), op);
                            }
                        }
                        Some(CompiledList::Wildcard) => {
                            for k in 1..=MAX_WILD.min(n - i) {
                                let cost = d + WILD_WORD * k as f32;
                                let op = Op::Slot {
                                    slot,
                                    fill: Fill::Wildcard,
                                };
                                g.relax(i + k, pc + 1, cost, u + k as f32, (i, pc), op);
                            }
                        }
                        None => {}
                    },
                    _ => {}
                }
            }
            i += 1;
        }
        let end = g.get(n, len - 1);
        let result = if end.cost.is_finite() && matches!(program[len - 1], Inst::Match) {
            Some(self.read_back(&g, ti))
        } else {
            None
        };
        self.grid = g;
        result
    }

    /// The alignment ending at the final `Match`, as the matcher's `TemplateMatch`.
    fn read_back(&self, g: &Grid, ti: usize) -> Aligned {
        let n = self.heard.len();
        let len = g.len;
        let end = g.get(n, len - 1);
        let mut captures = Vec::new();
        let mut said = Vec::new();
        let program = self.c.program(&self.c.templates[ti]);
        let word_at = |pc: usize| match program.get(pc) {
            Some(&Inst::Tok(id)) => Some(Said::Word(id)),
            _ => None,
        };
        let (mut literal, mut wildcard, mut inserted) = (0, 0, 0usize);
        let (mut i, mut pc) = (n, len - 1);
        let mut guard = (n + 1) * len + 1;
        while guard > 0 {
            guard -= 1;
            let cell = g.get(i, pc);
            let from_pc = cell.from_pc as usize;
            match cell.op {
                Op::Start => break,
                Op::Word { exact } => {
                    literal += usize::from(exact);
                    // Read backwards: a pair's second word first.
                    if pc == from_pc + 2 {
                        said.extend(word_at(from_pc + 1));
                    }
                    said.extend(word_at(from_pc));
                }
                Op::Del => said.extend(word_at(from_pc)),
                Op::Ins => inserted += 1,
                Op::Slot { slot, fill } => {
                    said.push(match fill {
                        Fill::Value { list, value } => Said::Value {
                            list,
                            value,
                            from: u32::from(cell.from_i),
                            to: i as u32,
                        },
                        Fill::Number(v, true) => {
                            let multiplier = match program.get(from_pc) {
                                Some(&Inst::Slot { list, .. }) => {
                                    match self.c.lists.get(list as usize) {
                                        Some(CompiledList::Range(r)) => r.multiplier.unwrap_or(1.0),
                                        _ => 1.0,
                                    }
                                }
                                _ => 1.0,
                            };
                            Said::Number(v / multiplier)
                        }
                        Fill::Number(_, false) | Fill::Wildcard => Said::Heard {
                            from: u32::from(cell.from_i),
                            to: i as u32,
                        },
                    });
                    let filled = match fill {
                        Fill::Value { list, value } => Filled::Value {
                            list: list as usize,
                            value: value as usize,
                        },
                        Fill::Number(v, _) => Filled::Number(v),
                        Fill::Wildcard => {
                            wildcard += i - cell.from_i as usize;
                            Filled::Wildcard
                        }
                    };
                    captures.push(Capture {
                        slot: slot as usize,
                        start: cell.from_i as usize,
                        end: i,
                        filled,
                    });
                }
                _ => {}
            }
            i = cell.from_i as usize;
            pc = cell.from_pc as usize;
        }
        captures.reverse();
        said.reverse();
        Aligned {
            // Cost per aligned word, plus the share of heard words the template has no place
            // for: unrelated speech is mostly such words, a misheard command few of them.
            score: (end.cost / end.units.max(1.0)) as f64
                + INSERTED_SHARE * inserted as f64 / n.max(1) as f64,
            template: ti,
            m: TemplateMatch {
                literal,
                wildcard,
                captures,
            },
            said,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CHECKED_FILLERS;
    use crate::nlu::{DialogueContext, Grammar, Language, Recognizer};

    /// The trie walk of `slot_fillers` gives each list's fillers as aligning form by form
    /// does (`check_fillers` asserts it on every call in test builds).
    #[test]
    fn list_fillers_along_the_trie_are_those_form_by_form() {
        let r = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compile");
        let ctx = DialogueContext::new();
        for (lang, text) in [
            ("en", include_str!("../../tests/data/nlu/en.tsv")),
            ("zh-CN", include_str!("../../tests/data/nlu/zh-CN.tsv")),
        ] {
            let language = Language::parse(lang).expect("tag");
            for line in text.lines().filter(|l| !l.starts_with('#')).take(120) {
                let sentence = line.split('\t').next().unwrap_or_default();
                let dropped: Vec<&str> = sentence
                    .split_whitespace()
                    .enumerate()
                    .filter(|(i, _)| *i != 1)
                    .map(|(_, w)| w)
                    .collect();
                for s in [sentence.to_string(), dropped.join(" ")] {
                    let _ = r.recognize_tolerant_exhaustive(&s, &language, &ctx);
                }
            }
        }
        assert!(CHECKED_FILLERS.with(|c| c.get()) > 100);
    }
}
