//! The grammar as a space of sentences to search: which words can follow the words said so
//! far in some template. A speech recogniser walks it word by word and lets the audio choose
//! (`asr::WhisperRecognizer::transcribe_weighing`), so the grammar's sentences are found from
//! what was said, not only from what the recogniser first wrote.
//!
//! The templates' programs run as a set of threads over the words so far (as the exact
//! matcher's do over a sentence), each thread waiting for a template word, a word of a list
//! value (along the list's form trie) or a number of a range. Wildcards are not followed: any
//! text would fit them, so the audio alone would have to write it.

use super::compile::{CompiledLanguage, CompiledList, Inst};
use super::lists::RangeDef;
use super::tolerant::Vocabulary;
use std::collections::HashSet;

/// What can follow some words in the grammar ([`super::Recognizer::next_words`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NextWords {
    /// The words that continue some template, each once, in no particular order. Numbers of
    /// a range are written in digits ("22", "22.5"); the second part of an English
    /// contraction carries its apostrophe ("'s").
    pub words: Vec<String>,
    /// Whether some template is complete with the words so far.
    pub can_end: bool,
}

/// Most numbers one range offers as next words (a volume's 0–100 fits).
const MAX_RANGE_WORDS: usize = 128;

/// English contraction pieces the normaliser splits off ("what's" → "what s").
const CONTRACTION_PIECES: [&str; 7] = ["s", "t", "ll", "re", "ve", "d", "m"];

/// Where a thread waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum At {
    /// At a program step (a template word or a slot to start).
    Step,
    /// Inside a value list's form, at this node of its trie.
    Form(u32),
    /// At a range's number.
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Thread {
    template: u32,
    pc: u32,
    at: At,
}

/// The threads of every template at its start (those that can begin with `first`, when
/// given), and whether some template is complete without a word.
fn start(c: &CompiledLanguage, vocab: &Vocabulary, first: Option<u32>) -> (Vec<Thread>, bool) {
    let mut threads = Vec::new();
    let mut can_end = false;
    let mut seen = HashSet::new();
    for (t, template) in c.templates.iter().enumerate() {
        let context = c
            .blocks
            .get(template.block)
            .is_some_and(|b| !b.requires_context.is_empty());
        if context {
            continue; // alone, a follow-up's sentence means nothing
        }
        if first.is_some_and(|w| w != NUMBER && !c.may_start(template, w)) {
            continue;
        }
        let th = Thread {
            template: t as u32,
            pc: 0,
            at: At::Step,
        };
        can_end |= settle(c, vocab, th, &mut threads, &mut seen);
    }
    (threads, can_end)
}

/// Stands for a number word (digits) in `said`: ranges take it, nothing else does.
const NUMBER: u32 = u32::MAX - 2;

/// Follows jumps, splits and slot starts from `th` to the threads that wait for a word; true
/// when the template's end is reached.
fn settle(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    th: Thread,
    out: &mut Vec<Thread>,
    seen: &mut HashSet<Thread>,
) -> bool {
    let Some(program) = program_of(c, th) else {
        return false;
    };
    let mut stack = vec![th];
    let mut ended = false;
    while let Some(th) = stack.pop() {
        if !seen.insert(th) {
            continue;
        }
        if let At::Form(node) = th.at {
            if vocab.form_has_children(th_list(program, th.pc), node) {
                out.push(th);
            }
            if vocab.form_ends(th_list(program, th.pc), node) {
                stack.push(Thread {
                    pc: th.pc + 1,
                    at: At::Step,
                    ..th
                });
            }
            continue;
        }
        if th.at == At::Number {
            out.push(th);
            continue;
        }
        match program.get(th.pc as usize) {
            Some(Inst::Tok(_)) => out.push(th),
            Some(&Inst::Split(a, b)) => {
                stack.push(Thread { pc: b, ..th });
                stack.push(Thread { pc: a, ..th });
            }
            Some(&Inst::Jmp(to)) => stack.push(Thread { pc: to, ..th }),
            Some(&Inst::Slot { list, .. }) => match c.lists.get(list as usize) {
                Some(CompiledList::Values { .. }) => stack.push(Thread {
                    at: At::Form(0),
                    ..th
                }),
                Some(CompiledList::Range(_)) => out.push(Thread {
                    at: At::Number,
                    ..th
                }),
                // Not followed (see the module's note).
                Some(CompiledList::Wildcard) | None => {}
            },
            Some(Inst::Match) => ended = true,
            None => {}
        }
    }
    ended
}

/// The program of `th`'s template.
fn program_of(c: &CompiledLanguage, th: Thread) -> Option<&[Inst]> {
    c.templates.get(th.template as usize).map(|t| c.program(t))
}

/// The list of the slot step at `pc` (`u32::MAX` when it is not one).
fn th_list(program: &[Inst], pc: u32) -> u32 {
    match program.get(pc as usize) {
        Some(&Inst::Slot { list, .. }) => list,
        _ => u32::MAX,
    }
}

/// `th` takes `word`: the threads after it into `out`; true when a template ends there.
fn advance(
    c: &CompiledLanguage,
    vocab: &Vocabulary,
    th: Thread,
    word: u32,
    out: &mut Vec<Thread>,
    seen: &mut HashSet<Thread>,
) -> bool {
    let Some(program) = program_of(c, th) else {
        return false;
    };
    let after = Thread {
        pc: th.pc + 1,
        at: At::Step,
        ..th
    };
    match th.at {
        At::Step => match program.get(th.pc as usize) {
            Some(&Inst::Tok(id)) if id == word => settle(c, vocab, after, out, seen),
            _ => false,
        },
        At::Form(node) => match vocab.form_child(th_list(program, th.pc), node, word) {
            Some(child) => settle(
                c,
                vocab,
                Thread {
                    at: At::Form(child),
                    ..th
                },
                out,
                seen,
            ),
            None => false,
        },
        At::Number => false, // a number is taken in `next_words`, by its digits
    }
}

/// The numbers a range offers, in digits.
fn range_words(r: &RangeDef) -> Vec<String> {
    let nan = [Some(r.from), Some(r.to), Some(r.step), r.fraction]
        .into_iter()
        .flatten()
        .any(f64::is_nan);
    if nan || r.to < r.from {
        return Vec::new();
    }
    super::schema::range_steps(r, MAX_RANGE_WORDS).map_or_else(Vec::new, |steps| {
        steps
            .map(|v| super::SlotValue::number(v).to_string())
            .collect()
    })
}

/// Whether `text` (digits) is one of the numbers `r` offers.
fn in_range(r: &RangeDef, text: &str) -> bool {
    range_words(r).iter().any(|w| w == text)
}

/// The words that can follow `said` ([`super::Recognizer::next_words`]).
pub(crate) fn next_words(c: &CompiledLanguage, vocab: &Vocabulary, said: &[&str]) -> NextWords {
    // Words the grammar does not have cannot be followed; a number goes by its digits.
    let mut ids = Vec::with_capacity(said.len());
    for w in said {
        let w = w.strip_prefix('\'').unwrap_or(w);
        if w.parse::<f64>().is_ok() {
            ids.push(NUMBER);
        } else if let Some(&id) = c.words.get(w.to_lowercase().as_str()) {
            ids.push(id);
        } else {
            return NextWords::default();
        }
    }
    // Run the words, a number taken only by a range that has it.
    let (mut threads, mut can_end) = start(c, vocab, ids.first().copied());
    let mut seen = HashSet::new();
    for (k, &id) in ids.iter().enumerate() {
        let mut next = Vec::new();
        seen.clear();
        let mut end = false;
        for th in threads {
            if id == NUMBER {
                if th.at != At::Number {
                    continue;
                }
                let Some(program) = program_of(c, th) else {
                    continue;
                };
                let list = th_list(program, th.pc);
                let Some(CompiledList::Range(r)) = c.lists.get(list as usize) else {
                    continue;
                };
                if said.get(k).is_some_and(|n| in_range(r, n)) {
                    let after = Thread {
                        pc: th.pc + 1,
                        at: At::Step,
                        ..th
                    };
                    end |= settle(c, vocab, after, &mut next, &mut seen);
                }
            } else {
                end |= advance(c, vocab, th, id, &mut next, &mut seen);
            }
        }
        threads = next;
        can_end = end;
        if threads.is_empty() {
            break;
        }
    }
    let mut words: HashSet<String> = HashSet::new();
    let mut ranges: HashSet<u32> = HashSet::new();
    for th in &threads {
        let Some(program) = program_of(c, *th) else {
            continue;
        };
        match th.at {
            At::Step => {
                if let Some(&Inst::Tok(id)) = program.get(th.pc as usize) {
                    if let Some(t) = vocab.text(id) {
                        words.insert(spelled(t));
                    }
                }
            }
            At::Form(node) => {
                for id in vocab.form_words(th_list(program, th.pc), node) {
                    if let Some(t) = vocab.text(id) {
                        words.insert(spelled(t));
                    }
                }
            }
            At::Number => {
                let list = th_list(program, th.pc);
                if ranges.insert(list) {
                    if let Some(CompiledList::Range(r)) = c.lists.get(list as usize) {
                        words.extend(range_words(r));
                    }
                }
            }
        }
    }
    let mut words: Vec<String> = words.into_iter().collect();
    words.sort_unstable();
    NextWords { words, can_end }
}

/// A grammar word as written after the words before it: contraction pieces with their
/// apostrophe.
fn spelled(word: &str) -> String {
    if CONTRACTION_PIECES.contains(&word) {
        format!("'{word}")
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::nlu::{Grammar, Language, Recognizer};

    fn recognizer() -> Recognizer {
        let yaml = r#"
language: en
intents:
  WindowOpen:
    data:
      - sentences:
          - "(open|lower) the {window} [window]"
          - "what's the temperature"
  FanSet:
    data:
      - sentences:
          - "fan [speed] to {level}"
  Navigate:
    data:
      - sentences:
          - "navigate to {destination}"
lists:
  window:
    values:
      - in: "rear left"
        out: rl
      - in: "rear right"
        out: rr
      - in: driver's
        out: fl
  level:
    range:
      from: 1
      to: 3
  destination:
    wildcard: true
"#;
        let mut g = Grammar::new();
        g.add_source("test.yaml", yaml).expect("grammar");
        Recognizer::new(g).expect("grammar")
    }

    #[test]
    fn the_grammar_s_words_follow_each_other_as_its_templates_say() {
        let r = recognizer();
        let en = Language::english();
        let next = |said: &[&str]| r.next_words(said, &en);
        let first = next(&[]);
        assert_eq!(first.words, ["fan", "lower", "navigate", "open", "what"]);
        assert!(!first.can_end);
        // A value list's forms, word by word; the optional word after it.
        assert_eq!(next(&["open", "the"]).words, ["driver", "rear"]);
        assert_eq!(next(&["open", "the", "rear"]).words, ["left", "right"]);
        let after = next(&["Open", "the", "rear", "left"]);
        assert_eq!(after.words, ["window"]);
        assert!(after.can_end);
        // A contraction's second part is written with its apostrophe, and read back.
        assert_eq!(next(&["what"]).words, ["'s"]);
        assert_eq!(next(&["what", "'s"]).words, ["the"]);
        // A range offers its numbers in digits and takes only those.
        assert_eq!(next(&["fan", "to"]).words, ["1", "2", "3"]);
        assert!(next(&["fan", "speed", "to", "2"]).can_end);
        assert_eq!(next(&["fan", "to", "7"]), super::NextWords::default());
        // Wildcards are not followed; words the grammar lacks end the search.
        assert_eq!(next(&["navigate", "to"]), super::NextWords::default());
        assert_eq!(next(&["close"]), super::NextWords::default());
    }

    #[test]
    fn a_language_written_without_spaces_is_not_offered_for_search() {
        let r = Recognizer::new(Grammar::builtin().expect("catalog")).expect("catalog");
        let en = r.next_words(&[], &Language::english());
        assert!(en.words.iter().any(|w| w == "turn"), "{en:?}");
        let zh = Language::parse("zh-CN").expect("zh-CN");
        assert_eq!(r.next_words(&[], &zh), super::NextWords::default());
    }
}
