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
//! The cheapest template's cost per aligned word becomes a confidence in (0, 1) through a
//! logistic curve fitted on a development set of misheard and unrelated sentences
//! (`tests/nlu_tolerant.rs`); the caller's threshold keeps unrelated speech out.

use super::compile::{CompiledLanguage, CompiledList, Inst};
use super::forms::said_as;
use super::matcher::{range_readings, Capture, Filled, TemplateMatch};
use super::normalize::{Normalized, Token};
use super::phonetic::{distance, Sound};
use super::recognizer::{build_match, context_allows, Candidate};
use super::{DialogueContext, IntentMatch, Language};
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
}

impl Vocabulary {
    pub fn build(c: &CompiledLanguage) -> Vocabulary {
        let mut sounds = vec![Sound::default(); c.words.len()];
        for (word, &id) in &c.words {
            if let Some(s) = sounds.get_mut(id as usize) {
                *s = Sound::of(word);
            }
        }
        Vocabulary { sounds }
    }

    fn sound(&self, id: u32) -> Option<&Sound> {
        self.sounds.get(id as usize)
    }
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
    Value { list: u32, value: u32 },
    Number(f64),
    Wildcard,
}

#[derive(Clone, Copy)]
struct Cell {
    cost: f32,
    units: f32,
    from_i: u16,
    from_pc: u32,
    op: Op,
}

const EMPTY: Cell = Cell {
    cost: f32::INFINITY,
    units: 0.0,
    from_i: 0,
    from_pc: 0,
    op: Op::Start,
};

/// A template's best alignment.
struct Aligned {
    score: f64,
    template: usize,
    m: TemplateMatch,
}

/// The best tolerant match of `text`, with its confidence, when it reaches `threshold`.
pub(crate) fn recognize(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    lang: &Language,
    norm: &Normalized,
    context: &DialogueContext,
    threshold: f64,
) -> Option<IntentMatch> {
    let heard = hear(norm, c);
    if heard.is_empty() || heard.len() > MAX_HEARD {
        return None;
    }
    let mut a = Aligner::new(c, vocab, &heard);
    let mut found: Vec<Aligned> = Vec::new();
    for ti in 0..c.templates.len() {
        if let Some(al) = a.align(ti) {
            found.push(al);
        }
    }
    found.sort_by(|x, y| {
        x.score
            .total_cmp(&y.score)
            .then(x.template.cmp(&y.template))
    });
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
    for al in found {
        let confidence = confidence(al.score);
        if confidence < threshold {
            return None;
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
        let Some(mut m) = build_match(c, lang, &norm, context, cand) else {
            continue;
        };
        m.confidence = (confidence * 1000.0).round() / 1000.0;
        tracing::debug!(
            language = %lang,
            intent = %m.intent,
            template = %m.template,
            cost_per_word = al.score,
            confidence = m.confidence,
            "tolerant grammar match"
        );
        return Some(m);
    }
    None
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
    (0..c.templates.len())
        .filter_map(|ti| a.align(ti).map(|al| al.score))
        .min_by(f64::total_cmp)
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
    /// Distance of heard word `i` to two template words said as one.
    pairs: HashMap<(usize, u32, u32), f32>,
    /// A list's fillers from heard position `i`: `(end, cost, units, value)`.
    slots: HashMap<(u32, usize), Arc<Vec<(usize, f32, f32, u32)>>>,
    cells: Vec<Cell>,
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
            sub: vec![f32::NAN; spans.len() * words],
            spans,
            words,
            pairs: HashMap::new(),
            slots: HashMap::new(),
            cells: Vec::new(),
        }
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

    /// Distance of heard word `i` to template words `a` `b` said as one ("sunroof").
    fn pair_distance(&mut self, i: usize, a: u32, b: u32) -> f32 {
        if let Some(&d) = self.pairs.get(&(i, a, b)) {
            return d;
        }
        let d = match (self.vocab.sound(a), self.vocab.sound(b)) {
            (Some(x), Some(y)) if !x.is_han() && !self.heard[i].sound.is_han() => {
                distance(&self.heard[i].sound, &Sound::joined(&[x, y]))
            }
            _ => 1.0,
        };
        self.pairs.insert((i, a, b), d);
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

    /// Ways list `list` can fill a slot from heard position `i`: per end, the cheapest value.
    fn slot_fillers(&mut self, list: u32, i: usize) -> Arc<Vec<(usize, f32, f32, u32)>> {
        if let Some(f) = self.slots.get(&(list, i)) {
            return f.clone();
        }
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
        let best = Arc::new(best);
        self.slots.insert((list, i), best.clone());
        best
    }

    /// Aligns word ids `form` with heard words from `i`: `(end, cost, units)` for each end
    /// within reach (no insertions before the first word).
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
                (d.is_finite() && d < 0.45 * u.max(1.0)).then_some((i + r, d, u))
            })
            .collect()
    }

    /// The best alignment of the whole heard sentence with template `ti`.
    fn align(&mut self, ti: usize) -> Option<Aligned> {
        let c = self.c;
        let t = &c.templates[ti];
        let program = c.program(t);
        let len = program.len();
        let n = self.heard.len();
        if len == 0 || (n + 1) * len > MAX_CELLS {
            return None;
        }
        let mut cells = std::mem::take(&mut self.cells);
        cells.clear();
        cells.resize((n + 1) * len, EMPTY);
        cells[0] = Cell { cost: 0.0, ..EMPTY };
        let at = |i: usize, pc: usize| i * len + pc;
        let relax = |cells: &mut Vec<Cell>,
                     to: usize,
                     cost: f32,
                     units: f32,
                     from_i: usize,
                     from_pc: usize,
                     op: Op| {
            if let Some(cell) = cells.get_mut(to) {
                if cost < cell.cost {
                    *cell = Cell {
                        cost,
                        units,
                        from_i: from_i as u16,
                        from_pc: from_pc as u32,
                        op,
                    };
                }
            }
        };
        for i in 0..=n {
            for pc in 0..len {
                let Cell {
                    cost: d, units: u, ..
                } = cells[at(i, pc)];
                if !d.is_finite() {
                    continue;
                }
                // A heard word the template does not have.
                if i < n {
                    let ins = self.ins_cost(i);
                    relax(&mut cells, at(i + 1, pc), d + ins, u + 1.0, i, pc, Op::Ins);
                }
                match program[pc] {
                    Inst::Tok(id) => {
                        relax(
                            &mut cells,
                            at(i, pc + 1),
                            d + self.del_cost(id),
                            u + 1.0,
                            i,
                            pc,
                            Op::Del,
                        );
                        for k in 1..=MAX_MERGE.min(n - i) {
                            let s = self.span_distance(i, k, id);
                            if s >= 1.0 {
                                continue;
                            }
                            let cost = d + s + MERGE_COST * (k - 1) as f32;
                            let op = Op::Word {
                                exact: k == 1 && s == 0.0,
                            };
                            relax(&mut cells, at(i + k, pc + 1), cost, u + 1.0, i, pc, op);
                        }
                        if i < n {
                            if let Some(&Inst::Tok(next)) = program.get(pc + 1) {
                                let s = self.pair_distance(i, id, next);
                                if s < 1.0 {
                                    let cost = d + s + MERGE_COST;
                                    relax(
                                        &mut cells,
                                        at(i + 1, pc + 2),
                                        cost,
                                        u + 2.0,
                                        i,
                                        pc,
                                        Op::Word { exact: false },
                                    );
                                }
                            }
                        }
                    }
                    Inst::Split(a, b) => {
                        for to in [a as usize, b as usize] {
                            if to > pc {
                                relax(&mut cells, at(i, to), d, u, i, pc, Op::Eps);
                            }
                        }
                    }
                    Inst::Jmp(a) => {
                        if a as usize > pc {
                            relax(&mut cells, at(i, a as usize), d, u, i, pc, Op::Eps);
                        }
                    }
                    Inst::Slot { list, slot } if i < n => match c.lists.get(list as usize) {
                        Some(CompiledList::Values { .. }) => {
                            for &(end, cost, units, value) in self.slot_fillers(list, i).iter() {
                                let fill = Fill::Value { list, value };
                                relax(
                                    &mut cells,
                                    at(end, pc + 1),
                                    d + cost,
                                    u + units,
                                    i,
                                    pc,
                                    Op::Slot { slot, fill },
                                );
                            }
                        }
                        Some(CompiledList::Range(r)) => {
                            let texts: Vec<&str> =
                                self.heard[i..].iter().map(|h| h.text.as_str()).collect();
                            for (v, used) in range_readings(r, &texts, c.number_words) {
                                let fill = Fill::Number(v);
                                relax(
                                    &mut cells,
                                    at(i + used, pc + 1),
                                    d,
                                    u + used as f32,
                                    i,
                                    pc,
                                    Op::Slot { slot, fill },
                                );
                            }
                        }
                        Some(CompiledList::Wildcard) => {
                            for k in 1..=MAX_WILD.min(n - i) {
                                let cost = d + WILD_WORD * k as f32;
                                let fill = Fill::Wildcard;
                                relax(
                                    &mut cells,
                                    at(i + k, pc + 1),
                                    cost,
                                    u + k as f32,
                                    i,
                                    pc,
                                    Op::Slot { slot, fill },
                                );
                            }
                        }
                        None => {}
                    },
                    _ => {}
                }
            }
        }
        let end = cells[at(n, len - 1)];
        let result = if end.cost.is_finite() && matches!(program[len - 1], Inst::Match) {
            Some(self.read_back(&cells, len, ti))
        } else {
            None
        };
        self.cells = cells;
        result
    }

    /// The alignment ending at the final `Match`, as the matcher's `TemplateMatch`.
    fn read_back(&self, cells: &[Cell], len: usize, ti: usize) -> Aligned {
        let n = self.heard.len();
        let end = cells[n * len + len - 1];
        let mut captures = Vec::new();
        let (mut literal, mut wildcard, mut inserted) = (0, 0, 0usize);
        let (mut i, mut pc) = (n, len - 1);
        let mut guard = (n + 1) * len + 1;
        while guard > 0 {
            guard -= 1;
            let cell = cells[i * len + pc];
            match cell.op {
                Op::Start => break,
                Op::Word { exact: true } => literal += 1,
                Op::Ins => inserted += 1,
                Op::Slot { slot, fill } => {
                    let filled = match fill {
                        Fill::Value { list, value } => Filled::Value {
                            list: list as usize,
                            value: value as usize,
                        },
                        Fill::Number(v) => Filled::Number(v),
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
        }
    }
}
