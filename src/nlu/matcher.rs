//! Runs a compiled template program over the tokens of a sentence.
//!
//! A small backtracking machine with an explicit stack (no recursion, no per-step
//! allocation) that explores every way the template can cover the whole sentence and keeps
//! the best: the most words matched literally, then the fewest words taken by wildcards.

use super::compile::{CompiledList, Inst};
use super::lists::{RangeDef, RangeKind};
use super::numbers::{parse_digits, parse_prefixes, NumberWords};

/// Work allowed per template and sentence; a pathological template stops early with the best
/// match found so far rather than stalling the caller.
const STEP_BUDGET: usize = 20_000;

/// What a slot was filled with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filled {
    /// Value `value` of list `list`.
    Value {
        list: usize,
        value: usize,
    },
    Number(f64),
    Wildcard,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Capture {
    pub slot: usize,
    /// Token range in the matched sequence.
    pub start: usize,
    pub end: usize,
    pub filled: Filled,
}

#[derive(Debug, Clone)]
pub(crate) struct TemplateMatch {
    pub literal: usize,
    pub wildcard: usize,
    pub captures: Vec<Capture>,
}

/// The sentence as the matcher sees it.
pub(crate) struct Input<'a> {
    pub ids: &'a [u32],
    pub texts: &'a [&'a str],
    pub number_words: NumberWords,
}

/// The matcher's stacks, kept by the caller across the templates of one sentence so that
/// trying a template allocates nothing (allocation was a fifth of the time per sentence).
#[derive(Default)]
pub(crate) struct Scratch {
    stack: Vec<Thread>,
    caps: Vec<Capture>,
}

struct Thread {
    pc: usize,
    pos: usize,
    caps_len: usize,
    literal: usize,
    wildcard: usize,
    cap: Option<Capture>,
}

// Inlined into its one caller, as it was before templates' programs became slices of one
// array (out of line it cost 3% more instructions per sentence).
#[inline]
pub(crate) fn run(
    program: &[Inst],
    lists: &[CompiledList],
    input: &Input<'_>,
    scratch: &mut Scratch,
) -> Option<TemplateMatch> {
    let n = input.ids.len();
    let Scratch { stack, caps } = scratch;
    stack.clear();
    caps.clear();
    stack.push(Thread {
        pc: 0,
        pos: 0,
        caps_len: 0,
        literal: 0,
        wildcard: 0,
        cap: None,
    });
    let mut best: Option<TemplateMatch> = None;
    let mut steps = 0usize;
    'threads: while let Some(th) = stack.pop() {
        let Thread {
            mut pc,
            mut pos,
            caps_len,
            mut literal,
            wildcard,
            cap,
        } = th;
        caps.truncate(caps_len);
        if let Some(c) = cap {
            caps.push(c);
        }
        loop {
            steps += 1;
            if steps > STEP_BUDGET {
                break 'threads;
            }
            let Some(&inst) = program.get(pc) else {
                continue 'threads;
            };
            match inst {
                Inst::Tok(id) => {
                    if pos < n && input.ids[pos] == id {
                        pos += 1;
                        literal += 1;
                        pc += 1;
                    } else {
                        continue 'threads;
                    }
                }
                Inst::Split(a, b) => {
                    stack.push(Thread {
                        pc: b as usize,
                        pos,
                        caps_len: caps.len(),
                        literal,
                        wildcard,
                        cap: None,
                    });
                    pc = a as usize;
                }
                Inst::Jmp(a) => pc = a as usize,
                Inst::Match => {
                    if pos == n
                        && best.as_ref().is_none_or(|b| {
                            (literal, std::cmp::Reverse(wildcard))
                                > (b.literal, std::cmp::Reverse(b.wildcard))
                        })
                    {
                        best = Some(TemplateMatch {
                            literal,
                            wildcard,
                            captures: caps.clone(),
                        });
                    }
                    continue 'threads;
                }
                Inst::Slot { list, slot } => {
                    let base = caps.len();
                    let next = pc + 1;
                    let mut push = |end: usize, lit: usize, wild: usize, filled: Filled| {
                        stack.push(Thread {
                            pc: next,
                            pos: end,
                            caps_len: base,
                            literal: literal + lit,
                            wildcard: wildcard + wild,
                            cap: Some(Capture {
                                slot: slot as usize,
                                start: pos,
                                end,
                                filled,
                            }),
                        });
                    };
                    let list = list as usize;
                    match lists.get(list) {
                        Some(values @ CompiledList::Values { .. }) if pos < n => {
                            for (ids, value) in values.forms_starting(input.ids[pos]) {
                                if input.ids[pos..].starts_with(ids) {
                                    push(
                                        pos + ids.len(),
                                        ids.len(),
                                        0,
                                        Filled::Value { list, value },
                                    );
                                }
                            }
                        }
                        Some(CompiledList::Range(r)) => {
                            for (value, len) in
                                range_readings(r, &input.texts[pos..], input.number_words)
                            {
                                push(pos + len, len, 0, Filled::Number(value));
                            }
                        }
                        Some(CompiledList::Wildcard) => {
                            // Shortest last, so it is tried first: wildcards stop at the next literal.
                            for end in (pos + 1..=n).rev() {
                                push(end, 0, end - pos, Filled::Wildcard);
                            }
                        }
                        _ => {}
                    }
                    continue 'threads;
                }
            }
        }
    }
    best
}

/// Unit words a range of the given kind may swallow after (or before) the number.
fn suffixes(kind: RangeKind) -> &'static [&'static [&'static str]] {
    match kind {
        RangeKind::Number => &[],
        RangeKind::Percentage => &[&["%"], &["percent"], &["per", "cent"], &["pc"]],
        RangeKind::Temperature => &[
            &["°"],
            &["°c"],
            &["°", "c"],
            &["degrees"],
            &["degree"],
            &["degrees", "celsius"],
            &["degree", "celsius"],
            &["celsius"],
            &["度"],
            &["摄", "氏", "度"],
        ],
    }
}

/// Every number reading of a range slot at the start of `texts`: `(output value, tokens)`.
pub(crate) fn range_readings(
    r: &RangeDef,
    texts: &[&str],
    words: NumberWords,
) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    if texts.is_empty() {
        return out;
    }
    // "百分之五十": the percent word comes first in Mandarin.
    let lead = if r.kind == RangeKind::Percentage && texts.starts_with(&["百", "分", "之"]) {
        3
    } else {
        0
    };
    let words = if r.words {
        words
    } else {
        NumberWords::DigitsOnly
    };
    for (value, len) in parse_prefixes(&texts[lead..], words) {
        if !r.digits && parse_digits(texts[lead]).is_some() {
            continue;
        }
        let end = lead + len;
        let mut push = |v: f64, end: usize| {
            if accepts(r, v) {
                out.push((v * r.multiplier.unwrap_or(1.0), end));
            }
        };
        push(value, end);
        if lead == 0 {
            for suffix in suffixes(r.kind) {
                if texts[end..].starts_with(suffix) {
                    push(value, end + suffix.len());
                    // "二十二度半" is 22.5.
                    if suffix == &["度"]
                        && texts.get(end + 1) == Some(&"半")
                        && value.fract() == 0.0
                    {
                        push(value + if value < 0.0 { -0.5 } else { 0.5 }, end + 2);
                    }
                }
            }
        }
    }
    out
}

fn accepts(r: &RangeDef, v: f64) -> bool {
    if !v.is_finite() || v < r.from - 1e-9 || v > r.to + 1e-9 {
        return false;
    }
    if v.fract().abs() > 1e-9 {
        return r
            .fraction
            .is_some_and(|f| ((v / f) - (v / f).round()).abs() < 1e-6);
    }
    if r.step.fract() == 0.0 && r.step > 1.0 {
        return ((v - r.from) % r.step).abs() < 1e-9;
    }
    true
}
