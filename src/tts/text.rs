//! Text → sentences → clauses, the units speech is synthesised in.
//!
//! Piper speaks one sentence per model run and marks each clause with its punctuation
//! (`,` `;` `:` inside, `.` `?` `!` at the end), which shapes pauses and intonation. espeak-ng's
//! command line drops that punctuation, so the split is done here and the punctuation put back
//! after phonemisation (see `piper.rs`). Pure functions, unit-tested.

/// A clause and the punctuation that ended it (`None` when the text just stops there, which
/// Piper leaves unmarked too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub text: String,
    pub terminator: Option<char>,
}

impl Clause {
    /// Sentence-ending clauses (`.`, `?`, `!`, or the end of the text) need no space after.
    pub fn ends_sentence(&self) -> bool {
        matches!(self.terminator, Some('.' | '?' | '!') | None)
    }
}

/// Abbreviations whose period does not end a sentence (lower case, without the period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "approx",
];

fn sentence_end(c: char) -> Option<char> {
    match c {
        '.' | '。' | '…' => Some('.'),
        '!' | '！' => Some('!'),
        '?' | '？' => Some('?'),
        _ => None,
    }
}

fn clause_end(c: char) -> Option<char> {
    match c {
        ',' | '，' | '、' => Some(','),
        ';' | '；' => Some(';'),
        ':' | '：' => Some(':'),
        // espeak ends a clause at a dash and Piper marks it like a semicolon.
        '—' | '–' => Some(';'),
        _ => None,
    }
}

/// True when the punctuation at `i` is followed by whitespace or the end of the text, so
/// "3.5", "10:30" and "1,000" stay inside their clause. CJK punctuation always splits.
fn at_boundary(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    if !c.is_ascii() {
        return true;
    }
    match chars.get(i + 1) {
        None => true,
        Some(&n) => {
            n.is_whitespace()
                || matches!(n, '"' | '\'' | ')' | '”' | '’')
                || sentence_end(n).is_some()
                || clause_end(n).is_some()
        }
    }
}

fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
        .trim_start_matches(['(', '"', '\''])
        .to_lowercase();
    // Single letters are initials ("J. R. R. Tolkien").
    ABBREVIATIONS.contains(&word.as_str())
        || (word.chars().count() == 1 && word.chars().all(char::is_alphabetic))
}

/// Split text into sentences, each a list of clauses with speakable text. Blank lines also end
/// sentences. Clauses with no letters or digits at all are dropped (but an emoji counts: espeak
/// has names for many symbols).
pub fn sentences(text: &str) -> Vec<Vec<Clause>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Vec<Clause>> = Vec::new();
    let mut sentence: Vec<Clause> = Vec::new();
    let mut current = String::new();

    fn push_clause(sentence: &mut Vec<Clause>, current: &mut String, terminator: Option<char>) {
        let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
        current.clear();
        if text
            .chars()
            .any(|c| !c.is_ascii_punctuation() && !c.is_whitespace())
        {
            sentence.push(Clause { text, terminator });
        } else if let Some(last) = sentence.last_mut() {
            // "Really?!" or "Wait, ..." — keep the stronger sentence terminator.
            if terminator.is_some_and(|t| sentence_end(t).is_some()) {
                last.terminator = terminator;
            }
        }
    }

    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(t) = sentence_end(c) {
            if at_boundary(&chars, i) && !(t == '.' && is_abbreviation(&current)) {
                push_clause(&mut sentence, &mut current, Some(t));
                if !sentence.is_empty() {
                    out.push(std::mem::take(&mut sentence));
                }
                i += 1;
                continue;
            }
        } else if let Some(t) = clause_end(c) {
            if at_boundary(&chars, i) {
                push_clause(&mut sentence, &mut current, Some(t));
                i += 1;
                continue;
            }
        } else if c == '\n' && chars.get(i + 1) == Some(&'\n') {
            push_clause(&mut sentence, &mut current, None);
            if !sentence.is_empty() {
                out.push(std::mem::take(&mut sentence));
            }
            i += 2;
            continue;
        }
        current.push(c);
        i += 1;
    }
    push_clause(&mut sentence, &mut current, None);
    if !sentence.is_empty() {
        out.push(sentence);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &[Vec<Clause>]) -> Vec<Vec<(String, Option<char>)>> {
        s.iter()
            .map(|c| c.iter().map(|c| (c.text.clone(), c.terminator)).collect())
            .collect()
    }

    fn cl(t: &str, p: char) -> (String, Option<char>) {
        (t.to_string(), Some(p))
    }

    fn open(t: &str) -> (String, Option<char>) {
        (t.to_string(), None)
    }

    #[test]
    fn splits_sentences_and_clauses() {
        let s = sentences("Turning on the air conditioning. Hello, world; how are you? Great!");
        assert_eq!(
            texts(&s),
            vec![
                vec![cl("Turning on the air conditioning", '.')],
                vec![cl("Hello", ','), cl("world", ';'), cl("how are you", '?')],
                vec![cl("Great", '!')],
            ]
        );
    }

    #[test]
    fn numbers_times_and_abbreviations_do_not_split() {
        let s = sentences("Dr. Smith paid 3.5 dollars at 10:30 for 1,000 apples");
        assert_eq!(
            texts(&s),
            vec![vec![open(
                "Dr. Smith paid 3.5 dollars at 10:30 for 1,000 apples"
            )]]
        );
    }

    #[test]
    fn unterminated_text_has_no_terminator() {
        assert_eq!(
            texts(&sentences("set the fan to three")),
            vec![vec![open("set the fan to three")]]
        );
        assert_eq!(
            texts(&sentences("set the fan to three,")),
            vec![vec![cl("set the fan to three", ',')]]
        );
    }

    #[test]
    fn punctuation_only_and_empty_give_nothing() {
        assert!(sentences("").is_empty());
        assert!(sentences(" ... !? ,").is_empty());
    }

    #[test]
    fn dash_is_a_clause_break() {
        assert_eq!(
            texts(&sentences("café — ok")),
            vec![vec![cl("café", ';'), open("ok")]]
        );
    }

    #[test]
    fn emoji_survive_as_text() {
        let s = sentences("Done 😀!");
        assert_eq!(texts(&s), vec![vec![cl("Done 😀", '!')]]);
    }

    #[test]
    fn doubled_terminators_keep_the_first() {
        assert_eq!(
            texts(&sentences("Really?! Yes.")),
            vec![vec![cl("Really", '?')], vec![cl("Yes", '.')]]
        );
        assert_eq!(texts(&sentences("Wait, ...")), vec![vec![cl("Wait", '.')]]);
    }

    #[test]
    fn cjk_punctuation_splits() {
        let s = sentences("打开空调。好的，谢谢！");
        assert_eq!(
            texts(&s),
            vec![
                vec![cl("打开空调", '.')],
                vec![cl("好的", ','), cl("谢谢", '!')]
            ]
        );
    }

    #[test]
    fn blank_line_ends_sentence() {
        let s = sentences("first part\n\nsecond part");
        assert_eq!(
            texts(&s),
            vec![vec![open("first part")], vec![open("second part")]]
        );
    }
}
