//! Grammar-aware decoding, the cheap way: an initial prompt made of sentences the active
//! grammar accepts.
//!
//! Whisper conditions its decoding on the prompt as if it were the text said just before, so
//! a prompt holding the grammar's words ("recirculation", "sunroof", "windshield", the
//! contacts of a `SetList`) makes those words likelier without forbidding any other: speech
//! outside the grammar is still transcribed freely. The prompt costs one batched decoder pass
//! over its tokens, small beside the encoder.
//!
//! The sentences are chosen to cover as much of the grammar's vocabulary as fits a budget: a
//! greedy set cover (each step takes the sentence adding the most words not yet in the
//! prompt, the shorter one on a tie), in the grammar's order otherwise, so the prompt is
//! deterministic.

use std::collections::HashSet;

/// Characters of prompt: about 110 whisper tokens of English. whisper.cpp keeps at most 223
/// prompt tokens; a longer prompt slows every decoder step for little gain.
const BUDGET_LATIN: usize = 480;
/// Mandarin: one or two tokens a character.
const BUDGET_CJK: usize = 150;

/// The words of `sentence` as the prompt counts them: lower-case words, or single characters
/// for text written without spaces.
fn units(sentence: &str) -> Vec<String> {
    crate::nlu::normalize::units(sentence)
}

/// A sentence as whisper would write it: first letter upper-case, ending in a full stop
/// (`。` for Chinese), so the prompt reads like earlier speech.
fn as_written(sentence: &str, chinese: bool) -> String {
    let s = sentence.trim();
    let mut chars = s.chars();
    let mut out = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '?', '!', '。', '？', '！']) {
        out.push(if chinese { '。' } else { '.' });
    }
    out
}

/// An initial prompt from `sentences` of the active grammar, covering as many of their words
/// as fit the budget. `chinese` picks the budget and the punctuation; `lead` (e.g. the
/// Simplified-Chinese priming sentence) goes first. Empty when there are no sentences.
pub fn command_prompt<'a>(
    sentences: impl IntoIterator<Item = &'a str>,
    chinese: bool,
    lead: Option<&str>,
) -> String {
    let budget = if chinese { BUDGET_CJK } else { BUDGET_LATIN };
    let mut seen_text = HashSet::new();
    let candidates: Vec<(String, Vec<String>)> = sentences
        .into_iter()
        .map(|s| as_written(s, chinese))
        .filter(|s| !s.is_empty() && !s.contains('\0') && seen_text.insert(s.clone()))
        .map(|s| {
            let u = units(&s);
            (s, u)
        })
        .collect();
    let mut covered: HashSet<&str> = HashSet::new();
    let mut used = vec![false; candidates.len()];
    let mut out: Vec<&str> = Vec::new();
    let mut len = lead.map_or(0, |l| l.chars().count());
    loop {
        let mut best: Option<(usize, usize, usize)> = None; // (new words, chars, index)
        for (i, (text, words)) in candidates.iter().enumerate() {
            if used[i] {
                continue;
            }
            let chars = text.chars().count();
            if len + chars + 1 > budget {
                continue;
            }
            let new = words
                .iter()
                .filter(|w| !covered.contains(w.as_str()))
                .collect::<HashSet<_>>()
                .len();
            if new == 0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((n, c, _)) => new > n || (new == n && chars < c),
            };
            if better {
                best = Some((new, chars, i));
            }
        }
        let Some((_, chars, i)) = best else { break };
        used[i] = true;
        len += chars + 1;
        covered.extend(candidates[i].1.iter().map(String::as_str));
        out.push(&candidates[i].0);
    }
    // Back in the grammar's order: related sentences stay together, as in real speech.
    let order: Vec<&str> = candidates
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(c, _)| c.0.as_str())
        .collect();
    debug_assert_eq!(order.len(), out.len());
    let sep = if chinese { "" } else { " " };
    let body = order.join(sep);
    match lead {
        Some(l) if !body.is_empty() => format!("{l}{sep}{body}"),
        Some(l) => l.to_string(),
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_new_words_first_within_the_budget() {
        let s = [
            "turn on the ac",
            "turn on the ac please",
            "turn on recirculation",
            "open the sunroof",
            "open the sunroof",
        ];
        let p = command_prompt(s.iter().copied(), false, None);
        assert_eq!(
            p,
            "Turn on the ac please. Turn on recirculation. Open the sunroof."
        );
        let long: Vec<String> = (0..500).map(|i| format!("say word{i}")).collect();
        let p = command_prompt(long.iter().map(String::as_str), false, None);
        assert!(p.len() <= BUDGET_LATIN, "{}", p.len());
        assert!(p.starts_with("Say word0. Say word1."));
    }

    #[test]
    fn chinese_sentences_are_joined_without_spaces_after_the_lead() {
        let p = command_prompt(
            ["打开车窗", "关闭车窗", "打开车窗"],
            true,
            Some("以下是普通话的句子。"),
        );
        assert_eq!(p, "以下是普通话的句子。打开车窗。关闭车窗。");
        assert_eq!(command_prompt([], true, Some("甲。")), "甲。");
        assert_eq!(command_prompt([], false, None), "");
    }
}
