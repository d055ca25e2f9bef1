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

/// What is synthesised in one model run: the first clause of a sentence alone (so the first
/// sound comes after a clause's synthesis, not a whole sentence's), then the rest of the
/// sentence together (its prosody kept). A clause longer than [`LONG_CLAUSE_WORDS`] is cut at a
/// conjunction first ("…, and …", "…但是…").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub clauses: Vec<Clause>,
    /// Whether the piece ends its sentence (the player puts the sentence pause after it).
    pub ends_sentence: bool,
}

impl Piece {
    /// The piece as text with its punctuation (what espeak-ng is given).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.clauses {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&c.text);
            out.extend(c.terminator);
        }
        out
    }
}

/// A clause of more words than this (CJK characters count half) is cut at a conjunction.
pub const LONG_CLAUSE_WORDS: usize = 8;
/// The rest of a sentence is cut into pieces of at most about this many words, so one model run
/// stays short whatever the text (100 KB with no punctuation included).
const MAX_PIECE_WORDS: usize = 40;

const CONJUNCTIONS_EN: &[&str] = &[
    "and", "but", "or", "so", "because", "then", "which", "while", "although", "though", "where",
    "when", "until", "unless",
];
const CONJUNCTIONS_ZH: &[&str] = &[
    "但是", "然后", "所以", "因为", "而且", "并且", "或者", "可是", "不过", "如果", "同时",
];

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Length in words: a CJK character counts half.
fn words(text: &str) -> usize {
    let cjk = text.chars().filter(|&c| is_cjk(c)).count();
    text.split_whitespace()
        .filter(|w| !w.chars().all(is_cjk))
        .count()
        + cjk.div_ceil(2)
}

/// Cuts a long clause at conjunctions (and, when a stretch has none, every
/// [`MAX_PIECE_WORDS`] words) so no run of the model is long. The parts but the last end in
/// `,`, which Piper reads as a short pause with the voice held up.
fn split_long(clause: Clause) -> Vec<Clause> {
    if words(&clause.text) <= LONG_CLAUSE_WORDS {
        return vec![clause];
    }
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    // Words of `current`, kept as it grows (counting again at each character is quadratic).
    let (mut latin, mut cjk) = (0usize, 0usize);
    let text = clause.text.as_str();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let rest = &text[at..];
        let at_word_start = previous.is_none_or(|p| p.is_whitespace() || is_cjk(p));
        let english_conj = at_word_start
            && CONJUNCTIONS_EN.iter().any(|w| {
                rest.get(..w.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(w))
                    && rest[w.len()..].starts_with(char::is_whitespace)
            });
        let chinese_conj = is_cjk(c) && CONJUNCTIONS_ZH.iter().any(|w| rest.starts_with(w));
        let size = latin + cjk.div_ceil(2);
        if ((english_conj || chinese_conj) && size >= 4)
            || (size >= MAX_PIECE_WORDS && (at_word_start || is_cjk(c)))
        {
            parts.push(std::mem::take(&mut current));
            (latin, cjk) = (0, 0);
        }
        if is_cjk(c) {
            cjk += 1;
        } else if !c.is_whitespace() && at_word_start {
            latin += 1;
        }
        current.push(c);
        previous = Some(c);
    }
    // A short tail joins the part before it.
    if words(&current) < 3 {
        if let Some(last) = parts.pop() {
            current = format!("{last}{current}");
        }
    }
    parts.push(current);
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .filter_map(|(k, p)| {
            let text = p.split_whitespace().collect::<Vec<_>>().join(" ");
            (!text.is_empty()).then(|| Clause {
                text,
                terminator: if k + 1 == n {
                    clause.terminator
                } else {
                    Some(',')
                },
            })
        })
        .collect()
}

/// Text → the pieces it is synthesised in, in order (see [`Piece`]).
pub fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    for sentence in sentences(text) {
        let clauses: Vec<Clause> = sentence.into_iter().flat_map(split_long).collect();
        let n = clauses.len();
        let mut rest = clauses.into_iter();
        let Some(first) = rest.next() else { continue };
        out.push(Piece {
            clauses: vec![first],
            ends_sentence: n == 1,
        });
        let mut piece: Vec<Clause> = Vec::new();
        let mut size = 0;
        for (k, clause) in rest.enumerate() {
            let w = words(&clause.text);
            if !piece.is_empty() && size + w > MAX_PIECE_WORDS {
                out.push(Piece {
                    clauses: std::mem::take(&mut piece),
                    ends_sentence: false,
                });
                size = 0;
            }
            size += w;
            piece.push(clause);
            if k + 2 == n {
                out.push(Piece {
                    clauses: std::mem::take(&mut piece),
                    ends_sentence: true,
                });
            }
        }
    }
    out
}

/// Text that arrives in chunks (an answer streamed by a model) → the parts of it that are
/// complete up to a clause or sentence boundary, as soon as they are. A boundary is only known
/// once the character after it has arrived ("3." could still become "3.5"), except after CJK
/// punctuation, which always ends a clause.
#[derive(Debug, Default)]
pub struct TextStream {
    pending: String,
}

impl TextStream {
    pub fn new() -> TextStream {
        TextStream::default()
    }

    /// Adds a chunk; returns the text now complete (empty when none is).
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let chars: Vec<(usize, char)> = self.pending.char_indices().collect();
        let plain: Vec<char> = chars.iter().map(|&(_, c)| c).collect();
        let mut cut = None;
        for (k, &(at, c)) in chars.iter().enumerate() {
            let boundary = sentence_end(c).is_some() || clause_end(c).is_some();
            if !boundary {
                if c == '\n' && plain.get(k + 1) == Some(&'\n') {
                    cut = Some(at + 2);
                }
                continue;
            }
            let known = !c.is_ascii() || k + 1 < plain.len();
            if known
                && at_boundary(&plain, k)
                && !(sentence_end(c) == Some('.') && is_abbreviation(&self.pending[..at]))
            {
                cut = Some(at + c.len_utf8());
            }
        }
        match cut {
            Some(end) => {
                let rest = self.pending.split_off(end);
                std::mem::replace(&mut self.pending, rest)
            }
            None => String::new(),
        }
    }

    /// The rest, at the end of the stream.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
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

    fn piece_texts(text: &str) -> Vec<(String, bool)> {
        pieces(text)
            .iter()
            .map(|p| (p.text(), p.ends_sentence))
            .collect()
    }

    #[test]
    fn first_clause_is_its_own_piece() {
        assert_eq!(
            piece_texts(
                "Sure, the nearest charging station is two kilometers away, on the left; it has four free spots. Drive safely!"
            ),
            vec![
                ("Sure,".to_string(), false),
                (
                    "the nearest charging station is two kilometers away, on the left; it has four free spots.".to_string(),
                    true
                ),
                ("Drive safely!".to_string(), true),
            ]
        );
        assert_eq!(
            piece_texts("好的，正在为您导航到最近的充电站。"),
            vec![
                ("好的,".to_string(), false),
                ("正在为您导航到最近的充电站.".to_string(), true)
            ]
        );
    }

    #[test]
    fn long_clauses_are_cut_at_conjunctions() {
        let p = piece_texts(
            "The weather tomorrow will be sunny in the morning and cloudy in the afternoon with a light breeze from the north",
        );
        assert_eq!(
            p,
            vec![
                (
                    "The weather tomorrow will be sunny in the morning,".to_string(),
                    false
                ),
                (
                    "and cloudy in the afternoon with a light breeze from the north".to_string(),
                    true
                ),
            ]
        );
        let p = piece_texts("明天上午天气晴朗气温适宜但是下午会有小雨请注意带伞出行");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[1].0.starts_with("但是"), "{p:?}");
    }

    #[test]
    fn huge_text_comes_in_bounded_pieces() {
        let text = "word ".repeat(20_000) + &"字".repeat(20_000) + &"😀 ".repeat(5000);
        let p = pieces(&text);
        assert!(p.len() > 500, "{}", p.len());
        assert!(p.iter().all(|p| words(&p.text()) <= MAX_PIECE_WORDS + 2));
        assert!(pieces("").is_empty());
        assert!(pieces("😀").len() == 1);
    }

    #[test]
    fn streamed_text_is_released_at_known_boundaries() {
        let mut s = TextStream::new();
        assert_eq!(s.push("It is 3"), "");
        assert_eq!(s.push("."), "");
        assert_eq!(s.push("5 km to Dr."), "");
        assert_eq!(s.push(" Lee's office,"), "");
        assert_eq!(s.push(" then"), "It is 3.5 km to Dr. Lee's office,");
        assert_eq!(s.push(" left. Go"), " then left.");
        assert_eq!(s.finish(), " Go");
        let mut s = TextStream::new();
        assert_eq!(s.push("好的，"), "好的，");
        assert_eq!(s.push("马上出发"), "");
        assert_eq!(s.finish(), "马上出发");
    }
}
