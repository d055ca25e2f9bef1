//! Character error rate, the usual measure of Mandarin recognition: the edit distance between
//! the reference and the hypothesis, counted in characters, over the reference's length.
//!
//! Both sides are folded alike first (case, full-width forms, Traditional → Simplified, as the
//! grammar matcher folds them) and keep only letters and digits, so punctuation, spaces and
//! the script whisper happened to choose do not count as errors; words written differently
//! ("35" for "三十五") do.

use crate::nlu::normalize::fold_char;

fn units(text: &str) -> Vec<char> {
    text.chars()
        .flat_map(|c| fold_char(c).to_lowercase())
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Edits (substitutions, insertions, deletions) from `reference` to `hypothesis`, and the
/// reference's length, both in folded characters.
pub fn char_edits(reference: &str, hypothesis: &str) -> (usize, usize) {
    let (r, h) = (units(reference), units(hypothesis));
    (edits(&r, &h), r.len())
}

/// Unit-cost edit distance (substitutions, insertions, deletions) between two sequences of
/// any units: characters here, words where whisper's repeated sentences are compared.
pub(crate) fn edits<T: PartialEq>(r: &[T], h: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    let mut cur = vec![0; h.len() + 1];
    for (i, rc) in r.iter().enumerate() {
        cur[0] = i + 1;
        for (j, hc) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rc != hc);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[h.len()]
}

/// The character error rate (0 = perfect; may exceed 1 when the hypothesis adds much).
/// An empty reference gives 0 for an empty hypothesis and 1 otherwise.
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let (edits, len) = char_edits(reference, hypothesis);
    if len == 0 {
        return if edits == 0 { 0.0 } else { 1.0 };
    }
    edits as f64 / len as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_character_edits_after_folding() {
        assert_eq!(cer("打开车窗", "打开车窗。"), 0.0);
        assert_eq!(
            cer("打开车窗", "打開車窗"),
            0.0,
            "Traditional folds to Simplified"
        );
        assert_eq!(cer("打开车窗", "打开窗"), 0.25);
        assert_eq!(cer("打开车窗", "关闭车窗"), 0.5);
        assert_eq!(cer("Open it", "open IT!"), 0.0);
        assert_eq!(char_edits("abc", "xabcx"), (2, 3));
        assert_eq!(cer("", ""), 0.0);
        assert_eq!(cer("", "x"), 1.0);
    }
}
