//! Mandarin text → Kokoro v1.0 phonemes: a port of misaki\[zh\] 0.9.4's Kokoro v1.0 path
//! (`misaki.zh.ZHG2P(version=None)`, the phoneme set Kokoro-82M v1.0 was trained on).
//!
//! The steps are misaki's: punctuation mapped to the ASCII marks Kokoro knows (`，` → `, `,
//! `。` → `. `, `《` → ` “`, …); the text cut into runs of Han characters (U+4E00..U+9FFF) and
//! the rest, which passes through as it is (the voice skips what its vocabulary lacks); each Han
//! run split into words by jieba (`jieba-rs`, the same dictionary and HMM as Python jieba);
//! each word read as pypinyin's `lazy_pinyin(word, TONE3, neutral_tone_with_five)` does —
//! phrases of its dictionary by longest match from the left, the other characters by their
//! default reading; each syllable turned into IPA as misaki's `transcription.pinyin_to_ipa`
//! with the tone as an arrow (`→ ↗ ↓ ↘`, none for the neutral tone); words joined by a space.
//! misaki's v1.0 path applies no tone sandhi (不, 一, third tones keep their citation tone);
//! neither does this port, since the voice was trained on exactly those strings.
//!
//! One change from misaki, as skylark's Kokoro bench (`benches/speech_intent/kokoro_zh.py`):
//! a lone 调 reads tiáo (调高, 调到); phrases such as 声调, 调查 keep their diào.
//!
//! The data are generated from pypinyin 0.55 and misaki 0.9.4 by `scripts/zh_g2p_tables.py`
//! (`zh_g2p/chars.txt`: the default reading of every character; `phrases.txt`: pypinyin's
//! phrase dictionary, readings kept only where they differ from the characters' own;
//! `syllables.txt`: misaki's IPA of every syllable). pypinyin and its data are MIT.
//! Numbers must already be words (`tts::normalize`, as misaki's `cn2an` step).

use std::collections::HashMap;
use std::sync::OnceLock;

use jieba_rs::Jieba;

const CHARS: &str = include_str!("zh_g2p/chars.txt");
const PHRASES: &str = include_str!("zh_g2p/phrases.txt");
const SYLLABLES: &str = include_str!("zh_g2p/syllables.txt");

struct Tables {
    /// Default TONE3 reading of each character.
    chars: HashMap<char, &'static str>,
    /// Phrase → its readings separated by spaces, `None` when they are the characters' own.
    phrases: HashMap<&'static str, Option<&'static str>>,
    /// The longest phrase, in characters.
    longest: usize,
    /// TONE3 syllable → IPA with tone arrows.
    syllables: HashMap<&'static str, &'static str>,
}

fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let chars = data_lines(CHARS)
            .filter_map(|l| {
                let c = l.chars().next()?;
                Some((c, &l[c.len_utf8()..]))
            })
            .collect();
        let mut longest = 1;
        let phrases = data_lines(PHRASES)
            .map(|l| {
                let (phrase, readings) = match l.split_once(' ') {
                    Some((p, r)) => (p, Some(r)),
                    None => (l, None),
                };
                longest = longest.max(phrase.chars().count());
                (phrase, readings)
            })
            .collect();
        let syllables = data_lines(SYLLABLES)
            .map(|l| l.split_once(' ').unwrap_or((l, "")))
            .collect();
        Tables {
            chars,
            phrases,
            longest,
            syllables,
        }
    })
}

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Loads the dictionaries now (~0.2 s), so the first sentence does not wait for them.
pub fn warm() {
    tables();
    jieba();
}

fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// misaki's `map_punctuation`: full-width marks to the ASCII marks (and quotes) of Kokoro's
/// vocabulary, each followed by a space.
fn map_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '、' | '，' => out.push_str(", "),
            '。' | '．' => out.push_str(". "),
            '！' => out.push_str("! "),
            '：' => out.push_str(": "),
            '；' => out.push_str("; "),
            '？' => out.push_str("? "),
            '«' | '《' | '「' | '【' => out.push_str(" “"),
            '»' | '》' | '」' | '】' => out.push_str("” "),
            '（' => out.push_str(" ("),
            '）' => out.push_str(") "),
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

/// The TONE3 readings of one word (`zhong1`, `lv4`, `de5`), as pypinyin's `lazy_pinyin`
/// gives them: dictionary phrases by longest match from the left, else each character's
/// default reading. Characters without a reading are left out.
pub fn word_pinyin(word: &str) -> Vec<&'static str> {
    let t = tables();
    let starts: Vec<usize> = word
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(word.len()))
        .collect();
    let n = starts.len() - 1;
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let mut step = 1;
        for len in (2..=t.longest.min(n - i)).rev() {
            if let Some(readings) = t.phrases.get(&word[starts[i]..starts[i + len]]) {
                match readings {
                    Some(r) => out.extend(r.split(' ')),
                    None => out.extend(
                        word[starts[i]..starts[i + len]]
                            .chars()
                            .filter_map(|c| t.chars.get(&c).copied()),
                    ),
                }
                step = len;
                break;
            }
        }
        if step == 1 {
            let c = word[starts[i]..].chars().next();
            out.extend(c.and_then(|c| t.chars.get(&c).copied()));
        }
        i += step;
    }
    out
}

/// One TONE3 syllable in Kokoro's IPA (`zhong1` → `ꭧʊ→ŋ`); empty for one misaki cannot read.
pub fn syllable_ipa(syllable: &str) -> &'static str {
    tables().syllables.get(syllable).copied().unwrap_or("")
}

/// Kokoro v1.0 phonemes of `text`, as misaki's `ZHG2P()(text)[0]`. Text that is not Han
/// passes through (Kokoro's vocabulary then keeps only what it knows).
pub fn phonemes(text: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    let text = map_punctuation(text);
    let mut out = String::with_capacity(text.len() * 4);
    let mut rest = text.as_str();
    while let Some(first) = rest.chars().next() {
        let han = is_han(first);
        let end = rest
            .char_indices()
            .find(|&(_, c)| is_han(c) != han)
            .map_or(rest.len(), |(i, _)| i);
        let (run, tail) = rest.split_at(end);
        rest = tail;
        if !han {
            out.push_str(run);
            continue;
        }
        for (k, word) in jieba().cut(run, true).into_iter().enumerate() {
            if k > 0 {
                out.push(' ');
            }
            for syllable in word_pinyin(word) {
                out.push_str(syllable_ipa(syllable));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syllables_read_as_misaki() {
        assert_eq!(syllable_ipa("zhong1"), "ꭧʊ→ŋ");
        assert_eq!(syllable_ipa("lv4"), "ly↘");
        assert_eq!(syllable_ipa("shi4"), "ʂɨ↘");
        assert_eq!(syllable_ipa("de5"), "tɤ");
        assert_eq!(syllable_ipa("nope9"), "");
    }

    #[test]
    fn polyphones_by_phrase() {
        assert_eq!(word_pinyin("银行"), ["yin2", "hang2"]);
        assert_eq!(word_pinyin("行走"), ["xing2", "zou3"]);
        assert_eq!(word_pinyin("长大"), ["zhang3", "da4"]);
        assert_eq!(word_pinyin("调"), ["tiao2"]);
        assert_eq!(word_pinyin("声调"), ["sheng1", "diao4"]);
    }

    #[test]
    fn punctuation_and_other_scripts() {
        assert_eq!(phonemes(""), "");
        assert_eq!(phonemes("  \n"), "");
        assert_eq!(phonemes("好，走。"), "xau↓, ʦou↓.");
        assert_eq!(phonemes("🙂"), "🙂");
    }
}
