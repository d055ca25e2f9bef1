//! Turning the growing decoded answer into chunks for the caller (e.g. TTS sentence
//! streaming): never split a multi-byte character, never emit text that a stop string may
//! still swallow.

/// Incremental view of an answer. Feed it the whole decoded text after every token.
#[derive(Debug, Clone)]
pub struct TextStream {
    stop: Vec<String>,
    /// Bytes of the answer already handed out.
    emitted: usize,
    /// The answer, once a stop string cut it.
    stopped_at: Option<usize>,
}

/// Byte-level BPE decodes a token that ends inside a UTF-8 sequence as U+FFFD; such a tail is
/// not final until the next token completes the character.
const REPLACEMENT: char = '\u{FFFD}';

impl TextStream {
    pub fn new(stop: &[String]) -> Self {
        Self {
            stop: stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
            emitted: 0,
            stopped_at: None,
        }
    }

    /// Take the full decoded text so far; return the new text that is safe to emit, and
    /// whether a stop string has ended the answer.
    pub fn update(&mut self, full: &str) -> (String, bool) {
        if let Some(end) = self.stopped_at {
            return (String::new(), end <= full.len());
        }
        let stable = full.trim_end_matches(REPLACEMENT);
        if let Some(pos) = self.first_stop(stable) {
            self.stopped_at = Some(pos);
            return (self.take(stable, pos), true);
        }
        let safe = stable.len() - self.held_back(stable);
        (self.take(stable, safe), false)
    }

    /// The rest of the answer when generation ends for another reason (end token, length,
    /// cancel): flush what was held back, apart from a stop-string match.
    pub fn finish(&mut self, full: &str) -> String {
        let end = match self.stopped_at {
            Some(end) => end,
            None => self.first_stop(full).unwrap_or(full.len()),
        };
        self.stopped_at = Some(end);
        self.take(full, end)
    }

    /// The answer as returned to the caller: `full` cut at the stop string, if any.
    pub fn final_text<'a>(&self, full: &'a str) -> &'a str {
        match self.stopped_at {
            Some(end) => full.get(..end).unwrap_or(full),
            None => full,
        }
    }

    fn take(&mut self, text: &str, end: usize) -> String {
        let mut end = end.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end <= self.emitted {
            return String::new();
        }
        let chunk = text.get(self.emitted..end).unwrap_or_default().to_owned();
        self.emitted = end;
        chunk
    }

    fn first_stop(&self, text: &str) -> Option<usize> {
        self.stop.iter().filter_map(|s| text.find(s.as_str())).min()
    }

    /// Length of the longest tail of `text` that starts some stop string.
    fn held_back(&self, text: &str) -> usize {
        let mut hold = 0;
        for s in &self.stop {
            for (k, _) in s.char_indices().skip(1) {
                if k > hold && text.ends_with(&s[..k]) {
                    hold = k;
                }
            }
        }
        hold
    }
}

/// Where the answer's `max` th sentence ends (a `.`, `!` or `?` before a space or the end,
/// or a Chinese `。！？`), if it has that many; `max == 0` never ends.
pub(super) fn sentences_end(text: &str, max: usize) -> Option<usize> {
    if max == 0 {
        return None;
    }
    let mut count = 0;
    let mut chars = text.char_indices().peekable();
    let mut prev = ' ';
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let ends = match c {
            '。' | '！' | '？' => true,
            // "22.5" is no sentence end, even while the "5" has not come yet.
            '.' => next.map_or(!prev.is_ascii_digit(), char::is_whitespace),
            '!' | '?' => next.is_none_or(char::is_whitespace),
            _ => false,
        };
        if ends && text[..i].trim().chars().any(char::is_alphanumeric) {
            count += 1;
            if count == max {
                return Some(i + c.len_utf8());
            }
        }
        prev = c;
    }
    None
}

/// The same token eight times in a row: a small model stuck in a loop ("；；；；").
pub(super) fn repeats_itself(ids: &[u32]) -> bool {
    const RUN: usize = 8;
    ids.len() >= RUN && ids[ids.len() - RUN..].windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_incomplete_characters_back() {
        let mut s = TextStream::new(&[]);
        assert_eq!(s.update("Hi "), ("Hi ".to_string(), false));
        // A token that ends inside "🐉" decodes with a replacement char.
        assert_eq!(s.update("Hi \u{FFFD}"), (String::new(), false));
        assert_eq!(s.update("Hi 🐉!"), ("🐉!".to_string(), false));
        assert_eq!(s.finish("Hi 🐉!"), "");
    }

    #[test]
    fn stop_string_is_cut_and_never_emitted() {
        let stop = vec!["\nUser:".to_string()];
        let mut s = TextStream::new(&stop);
        assert_eq!(s.update("Paris."), ("Paris.".to_string(), false));
        // "\nUs" might start the stop string: hold it.
        assert_eq!(s.update("Paris.\nUs"), (String::new(), false));
        assert_eq!(s.update("Paris.\nUser: hi"), (String::new(), true));
        assert_eq!(s.final_text("Paris.\nUser: hi"), "Paris.");
    }

    #[test]
    fn held_text_that_was_not_a_stop_is_released() {
        let stop = vec!["</answer>".to_string()];
        let mut s = TextStream::new(&stop);
        assert_eq!(s.update("a <"), ("a ".to_string(), false));
        assert_eq!(s.update("a <b"), ("<b".to_string(), false));
        assert_eq!(s.update("a <b</ans"), (String::new(), false));
        assert_eq!(s.finish("a <b</ans"), "</ans");
    }

    #[test]
    fn chunks_join_to_the_answer_with_multibyte_text() {
        let full = "北京是中国的首都。🇨🇳";
        let mut s = TextStream::new(&["。。".to_string()]);
        let mut out = String::new();
        let bytes = full.as_bytes();
        for n in 1..=bytes.len() {
            let partial = String::from_utf8_lossy(&bytes[..n]).into_owned();
            out.push_str(&s.update(&partial).0);
        }
        out.push_str(&s.finish(full));
        assert_eq!(out, full);
    }
}

#[cfg(test)]
mod sentence_tests {
    use super::{repeats_itself, sentences_end};

    #[test]
    fn sentences_end_after_the_nth_terminator() {
        assert_eq!(sentences_end("Paris. It is big. Yes", 2), Some(17));
        assert_eq!(sentences_end("Paris. It is big", 2), None);
        assert_eq!(sentences_end("It is 22.5 degrees. Warm", 1), Some(19));
        assert_eq!(sentences_end("It is 22.", 1), None, "a number may go on");
        assert_eq!(sentences_end("巴黎。很大！", 2), Some("巴黎。很大！".len()));
        assert_eq!(
            sentences_end("... Hello.", 1),
            Some(10),
            "leading dots are no sentence"
        );
        assert_eq!(sentences_end("Anything. At all.", 0), None);
    }

    #[test]
    fn a_token_repeated_eight_times_is_a_loop() {
        assert!(repeats_itself(&[1, 7, 7, 7, 7, 7, 7, 7, 7]));
        assert!(!repeats_itself(&[7, 7, 7, 7, 7, 7, 7]));
        assert!(!repeats_itself(&[7, 7, 7, 7, 8, 7, 7, 7, 7]));
    }
}
