//! The other ways a number is written: "20" and "twenty", "22度" and "二十二度", "2nd" and
//! "second", "50%" and "fifty percent", "两" and "二".
//!
//! Used on both sides of a match: list values get their other written forms when they are
//! compiled (so the exact matcher takes "20 ounce" for a list that says "twenty ounce"), and
//! the tolerant matcher reads the digits of what was heard as the words they are said as.

use super::normalize::token_texts;
use super::numbers::{parse_digits, parse_prefixes, NumberWords};

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// An integer in English words ("twenty two"), for 0 ≤ n < 1,000,000.
pub fn english_words(n: u64) -> Option<String> {
    fn below_thousand(n: u64, out: &mut Vec<&'static str>) {
        if n >= 100 {
            out.push(UNITS[(n / 100) as usize]);
            out.push("hundred");
        }
        let r = n % 100;
        if r >= 20 {
            out.push(TENS[(r / 10) as usize]);
            if !r.is_multiple_of(10) {
                out.push(UNITS[(r % 10) as usize]);
            }
        } else if r > 0 || n == 0 {
            out.push(UNITS[r as usize]);
        }
    }
    if n >= 1_000_000 {
        return None;
    }
    let mut out = Vec::new();
    if n >= 1000 {
        below_thousand(n / 1000, &mut out);
        out.push("thousand");
        if !n.is_multiple_of(1000) {
            below_thousand(n % 1000, &mut out);
        }
    } else {
        below_thousand(n, &mut out);
    }
    Some(out.join(" "))
}

/// An ordinal in English words ("second", "twenty first"), for 1 ≤ n < 1000.
pub fn english_ordinal(n: u64) -> Option<String> {
    if n == 0 || n >= 1000 {
        return None;
    }
    let words = english_words(n)?;
    let (head, last) = match words.rsplit_once(' ') {
        Some((h, l)) => (format!("{h} "), l.to_string()),
        None => (String::new(), words),
    };
    let last = match last.as_str() {
        "one" => "first".to_string(),
        "two" => "second".to_string(),
        "three" => "third".to_string(),
        "five" => "fifth".to_string(),
        "eight" => "eighth".to_string(),
        "nine" => "ninth".to_string(),
        "twelve" => "twelfth".to_string(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    Some(format!("{head}{last}"))
}

/// An integer in Chinese numerals ("二十二", "十", "一百零五"), for 0 ≤ n < 10,000.
pub fn chinese_numerals(n: u64) -> Option<String> {
    const D: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    if n >= 10_000 {
        return None;
    }
    if n == 0 {
        return Some("零".into());
    }
    let mut out = String::new();
    let digits = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10];
    let units = ["千", "百", "十", ""];
    let mut zero = false;
    for (i, &d) in digits.iter().enumerate() {
        if d == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        // "十二", not "一十二", when the number starts at the tens.
        if !(i == 2 && d == 1 && out.is_empty()) {
            out.push(D[d as usize]);
        }
        out.push_str(units[i]);
    }
    Some(out)
}

/// A number's words in the grammar's language.
fn number_words(v: f64, words: NumberWords) -> Option<String> {
    if v < 0.0 || v.fract() != 0.0 {
        return None;
    }
    match words {
        NumberWords::English => english_words(v as u64),
        NumberWords::Chinese => chinese_numerals(v as u64),
        NumberWords::DigitsOnly => None,
    }
}

/// The other written forms of a list value's spoken form: numbers in words ⇄ digits, and
/// `两` ⇄ `二`. "twenty ounce" → ["20 ounce"]; "12 ounce" → ["twelve ounce"];
/// "二十二度" → ["22度"]; "两档" → ["二档"]. Empty when there is none.
pub fn number_variants(spoken: &str, words: NumberWords) -> Vec<String> {
    if words == NumberWords::DigitsOnly {
        return Vec::new();
    }
    let chinese = words == NumberWords::Chinese;
    let tokens = token_texts(spoken, chinese);
    if tokens.is_empty() {
        return Vec::new();
    }
    let sep = if chinese { "" } else { " " };
    let mut digits_form: Vec<String> = Vec::with_capacity(tokens.len());
    let mut words_form: Vec<String> = Vec::with_capacity(tokens.len());
    let mut changed_digits = false;
    let mut changed_words = false;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        if let Some(v) = parse_digits(t) {
            match number_words(v, words) {
                Some(w) => {
                    words_form.push(w);
                    changed_words = true;
                }
                None => words_form.push(t.to_string()),
            }
            digits_form.push(t.to_string());
            i += 1;
            continue;
        }
        // "oh" and "a" read as numbers only inside longer numbers; alone they are words.
        let reading = parse_prefixes(&tokens[i..], words)
            .into_iter()
            .rfind(|&(_, len)| len > 1 || !matches!(t, "oh" | "a" | "nought"));
        match reading {
            Some((v, len)) if v.fract() == 0.0 && v >= 0.0 => {
                digits_form.push(format!("{}", v as i64));
                words_form.extend(tokens[i..i + len].iter().cloned());
                changed_digits = true;
                i += len;
            }
            _ => {
                digits_form.push(t.to_string());
                words_form.push(t.to_string());
                i += 1;
            }
        }
    }
    let mut out = Vec::new();
    if changed_digits {
        out.push(join(&digits_form, sep, chinese));
    }
    if changed_words {
        out.push(join(&words_form, sep, chinese));
    }
    if chinese && (spoken.contains('两') || spoken.contains('二')) {
        let swapped: String = spoken
            .chars()
            .map(|c| match c {
                '两' => '二',
                '二' => '两',
                c => c,
            })
            .collect();
        out.push(swapped);
    }
    out.retain(|v| v != spoken);
    out.dedup();
    out
}

/// Joins tokens; in Chinese, digits keep a space from each other only.
fn join(tokens: &[String], sep: &str, chinese: bool) -> String {
    if !chinese {
        return tokens.join(sep);
    }
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        let digit = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if i > 0 && digit(t) && digit(&tokens[i - 1]) {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

/// How a token of what was heard is said, for comparing sounds: digits as words ("20" →
/// "twenty", "22" → "二十二"), "%" as "percent" / "百分之", an ordinal's digits with its
/// suffix ("2" + "nd" → "second"). Returns the words and how many tokens they stand for;
/// `None` when the token is said as written.
pub fn said_as(tokens: &[&str], words: NumberWords) -> Option<(String, usize)> {
    let t = *tokens.first()?;
    if t == "%" {
        return Some((
            if words == NumberWords::Chinese {
                "百分之"
            } else {
                "percent"
            }
            .to_string(),
            1,
        ));
    }
    let v = parse_digits(t)?;
    if words == NumberWords::English {
        if let Some(&suffix) = tokens.get(1) {
            if matches!(suffix, "st" | "nd" | "rd" | "th") && v.fract() == 0.0 && v >= 0.0 {
                return english_ordinal(v as u64).map(|w| (w, 2));
            }
        }
    }
    number_words(v, words).map(|w| (w, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_words() {
        assert_eq!(english_words(20).as_deref(), Some("twenty"));
        assert_eq!(english_words(22).as_deref(), Some("twenty two"));
        assert_eq!(english_words(105).as_deref(), Some("one hundred five"));
        assert_eq!(english_ordinal(2).as_deref(), Some("second"));
        assert_eq!(english_ordinal(21).as_deref(), Some("twenty first"));
        assert_eq!(english_ordinal(20).as_deref(), Some("twentieth"));
        assert_eq!(chinese_numerals(22).as_deref(), Some("二十二"));
        assert_eq!(chinese_numerals(10).as_deref(), Some("十"));
        assert_eq!(chinese_numerals(105).as_deref(), Some("一百零五"));
    }

    #[test]
    fn list_value_variants_both_ways() {
        let en = NumberWords::English;
        assert_eq!(number_variants("twenty ounce", en), ["20 ounce"]);
        assert_eq!(number_variants("12 ounce", en), ["twelve ounce"]);
        assert_eq!(number_variants("three", en), ["3"]);
        assert!(number_variants("latte", en).is_empty());
        assert!(number_variants("oh", en).is_empty());
        let zh = NumberWords::Chinese;
        assert!(number_variants("二十二度", zh).contains(&"22度".to_string()));
        assert!(number_variants("两档", zh).contains(&"二档".to_string()));
    }

    #[test]
    fn heard_digits_are_said_as_words() {
        let en = NumberWords::English;
        assert_eq!(said_as(&["20", "ounce"], en), Some(("twenty".into(), 1)));
        assert_eq!(said_as(&["2", "nd"], en), Some(("second".into(), 2)));
        assert_eq!(said_as(&["%"], en), Some(("percent".into(), 1)));
        assert_eq!(said_as(&["music"], en), None);
        assert_eq!(
            said_as(&["22"], NumberWords::Chinese),
            Some(("二十二".into(), 1))
        );
    }
}
