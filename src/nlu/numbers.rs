//! Numbers said in words or written in digits, in English and Mandarin.
//!
//! Range slots (`{temperature}`, `{volume}`) call [`parse_prefixes`] at a token position and get
//! every number that can be read from there, with the number of tokens it used; the matcher
//! keeps the readings that let the rest of the template match.

/// Which number words a grammar language understands (digits work in every language).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberWords {
    English,
    Chinese,
    DigitsOnly,
}

impl NumberWords {
    pub fn for_language(primary: &str) -> NumberWords {
        match primary {
            "en" => NumberWords::English,
            "zh" => NumberWords::Chinese,
            _ => NumberWords::DigitsOnly,
        }
    }
}

/// Longest number phrase looked at, in tokens.
const MAX_TOKENS: usize = 16;

/// Every reading of a number starting at `tokens[0]`: `(value, tokens used)`, shortest first.
pub fn parse_prefixes<S: AsRef<str>>(tokens: &[S], words: NumberWords) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    let Some(first) = tokens.first().map(|t| t.as_ref()) else {
        return out;
    };
    if let Some(v) = parse_digits(first) {
        out.push((v, 1));
    }
    let window = &tokens[..tokens.len().min(MAX_TOKENS)];
    match words {
        NumberWords::English => english(window, &mut out),
        NumberWords::Chinese => chinese(window, &mut out),
        NumberWords::DigitsOnly => {}
    }
    out.sort_by_key(|&(_, n)| n);
    out.dedup_by_key(|&mut (_, n)| n);
    out
}

/// `22`, `-5`, `22.5`, `+3`.
pub fn parse_digits(token: &str) -> Option<f64> {
    let body = token.strip_prefix(['-', '+']).unwrap_or(token);
    let mut parts = body.splitn(2, '.');
    let int = parts.next()?;
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    token.parse::<f64>().ok()
}

fn english_unit(w: &str) -> Option<u64> {
    Some(match w {
        "zero" | "oh" | "nought" => 0,
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        _ => return None,
    })
}

fn english_teen(w: &str) -> Option<u64> {
    Some(match w {
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn english_tens(w: &str) -> Option<u64> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Last {
    Start,
    Sign,
    A,
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
    And,
}

fn english<S: AsRef<str>>(tokens: &[S], out: &mut Vec<(f64, usize)>) {
    let mut sign = 1.0;
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut last = Last::Start;
    let mut i = 0;
    while i < tokens.len() {
        let w = tokens[i].as_ref();
        let ok_small = matches!(
            last,
            Last::Start | Last::Sign | Last::Hundred | Last::Scale | Last::And
        );
        if let Some(u) = english_unit(w) {
            if !(ok_small || last == Last::Tens)
                || (u == 0 && last != Last::Start && last != Last::Sign)
            {
                break;
            }
            current += u;
            last = Last::Unit;
        } else if let Some(t) = english_teen(w).or_else(|| english_tens(w)) {
            if !ok_small {
                break;
            }
            current += t;
            last = if t < 20 { Last::Teen } else { Last::Tens };
        } else if w == "hundred" {
            if !(matches!(last, Last::Unit | Last::Teen | Last::Tens | Last::A) && current < 100) {
                break;
            }
            current = current.max(1) * 100;
            last = Last::Hundred;
        } else if w == "thousand" || w == "million" {
            if !matches!(
                last,
                Last::Unit | Last::Teen | Last::Tens | Last::Hundred | Last::A
            ) {
                break;
            }
            let scale = if w == "thousand" { 1_000 } else { 1_000_000 };
            total += current.max(1) * scale;
            current = 0;
            last = Last::Scale;
        } else if w == "and" && matches!(last, Last::Hundred | Last::Scale) {
            last = Last::And;
        } else if (w == "a" || w == "an") && last == Last::Start {
            last = Last::A;
        } else if (w == "minus" || w == "negative") && last == Last::Start {
            sign = -1.0;
            last = Last::Sign;
        } else if w == "point"
            && matches!(
                last,
                Last::Unit | Last::Teen | Last::Tens | Last::Hundred | Last::Scale
            )
        {
            // Decimals: "point five", "point two five".
            let base = (total + current) as f64;
            let mut frac = 0.0;
            let mut scale = 0.1;
            let mut j = i + 1;
            while j < tokens.len() {
                let Some(d) = english_unit(tokens[j].as_ref()) else {
                    break;
                };
                frac += d as f64 * scale;
                scale /= 10.0;
                j += 1;
                out.push((sign * (base + frac), j));
            }
            return;
        } else if w == "and" && matches!(last, Last::Unit | Last::Teen | Last::Tens) {
            // "twenty two and a half"
            let rest: Vec<&str> = tokens[i + 1..].iter().take(2).map(|t| t.as_ref()).collect();
            if rest == ["a", "half"] {
                out.push((sign * ((total + current) as f64 + 0.5), i + 3));
            }
            return;
        } else {
            break;
        }
        i += 1;
        if matches!(
            last,
            Last::Unit | Last::Teen | Last::Tens | Last::Hundred | Last::Scale
        ) {
            out.push((sign * (total + current) as f64, i));
        }
    }
}

fn zh_digit(c: &str) -> Option<u64> {
    Some(match c {
        "零" | "〇" => 0,
        "一" | "幺" => 1,
        "二" | "两" => 2,
        "三" => 3,
        "四" => 4,
        "五" => 5,
        "六" => 6,
        "七" => 7,
        "八" => 8,
        "九" => 9,
        _ => return None,
    })
}

fn chinese<S: AsRef<str>>(tokens: &[S], out: &mut Vec<(f64, usize)>) {
    let toks: Vec<&str> = tokens.iter().map(|t| t.as_ref()).collect();
    let (sign, skip) = match toks.as_slice() {
        ["负", ..] => (-1.0, 1),
        ["零", "下", ..] => (-1.0, 2),
        _ => (1.0, 0),
    };
    let body = &toks[skip..];
    // Digits after a sign word: "负5", "零下5".
    if skip > 0 {
        if let Some(v) = body.first().and_then(|t| parse_digits(t)) {
            out.push((sign * v, skip + 1));
        }
    }
    for len in 1..=body.len() {
        if let Some(v) = chinese_number(&body[..len]) {
            out.push((sign * v, skip + len));
        }
    }
}

/// A whole Chinese number: `二十二`, `两百`, `一百零五`, `二十二点五`, `三万五千`, `一百五` (150).
fn chinese_number(chars: &[&str]) -> Option<f64> {
    let (int_part, frac_part) = match chars.iter().position(|&c| c == "点") {
        Some(p) => (&chars[..p], Some(&chars[p + 1..])),
        None => (chars, None),
    };
    let int = chinese_integer(int_part)?;
    match frac_part {
        None => Some(int as f64),
        Some(frac) if !frac.is_empty() => {
            let mut v = int as f64;
            let mut scale = 0.1;
            for c in frac {
                v += zh_digit(c)? as f64 * scale;
                scale /= 10.0;
            }
            Some(v)
        }
        Some(_) => None,
    }
}

fn chinese_integer(chars: &[&str]) -> Option<u64> {
    if chars.is_empty() {
        return None;
    }
    if chars == ["零"] || chars == ["〇"] {
        return Some(0);
    }
    // A string of plain digits read one by one: "二二" = 22 (not with units).
    if chars.len() > 1 && chars.iter().all(|c| zh_digit(c).is_some()) {
        return chars
            .iter()
            .try_fold(0u64, |acc, c| Some(acc * 10 + zh_digit(c)?));
    }
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut digit: Option<u64> = None;
    let mut last_unit: u64 = 0;
    let mut after_zero = false;
    for (i, &c) in chars.iter().enumerate() {
        if let Some(d) = zh_digit(c) {
            if digit.is_some() {
                return None;
            }
            if d == 0 {
                // 零 only fills a gap: 一百零五.
                if i == 0 || after_zero {
                    return None;
                }
                after_zero = true;
                continue;
            }
            digit = Some(d);
        } else {
            let unit = match c {
                "十" => 10,
                "百" => 100,
                "千" => 1000,
                "万" => 10_000,
                _ => return None,
            };
            if unit == 10_000 {
                section += digit.take().unwrap_or(0);
                if section == 0 {
                    return None;
                }
                total += section * 10_000;
                section = 0;
                last_unit = 10_000;
            } else {
                if last_unit != 0 && last_unit != 10_000 && unit >= last_unit && !after_zero {
                    return None;
                }
                let d = match digit.take() {
                    Some(d) => d,
                    None if unit == 10 && (i == 0 || after_zero) => 1,
                    None => return None,
                };
                section += d * unit;
                last_unit = unit;
            }
            after_zero = false;
        }
    }
    if let Some(d) = digit {
        // "一百五" is 150 and "三千五" 3500: a bare digit after a unit counts in the next unit down.
        let scaled = if !after_zero && last_unit >= 100 && last_unit != 10_000 {
            d * last_unit / 10
        } else {
            d
        };
        section += scaled;
    } else if after_zero {
        return None;
    }
    Some(total + section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize::token_texts;

    /// The longest reading of the whole text, or None.
    fn read(text: &str, words: NumberWords) -> Option<f64> {
        let toks = token_texts(text, words == NumberWords::Chinese);
        parse_prefixes(&toks, words)
            .into_iter()
            .rev()
            .find(|&(_, n)| n == toks.len())
            .map(|(v, _)| v)
    }

    #[test]
    fn english_table() {
        let table: &[(&str, Option<f64>)] = &[
            ("22", Some(22.0)),
            ("22.5", Some(22.5)),
            ("-5", Some(-5.0)),
            ("zero", Some(0.0)),
            ("seven", Some(7.0)),
            ("twelve", Some(12.0)),
            ("twenty", Some(20.0)),
            ("twenty two", Some(22.0)),
            ("twenty-two", Some(22.0)),
            ("ninety nine", Some(99.0)),
            ("a hundred", Some(100.0)),
            ("one hundred and five", Some(105.0)),
            ("two hundred fifty", Some(250.0)),
            ("three thousand two hundred", Some(3200.0)),
            ("twenty two point five", Some(22.5)),
            ("twenty two and a half", Some(22.5)),
            ("point five", None),
            ("minus five", Some(-5.0)),
            ("negative twelve", Some(-12.0)),
            ("twenty twenty", None),
            ("five two", None),
            ("hundred", None),
            ("two zero", None),
            ("cold", None),
            ("1e5", None),
        ];
        for &(text, want) in table {
            assert_eq!(read(text, NumberWords::English), want, "{text}");
        }
    }

    #[test]
    fn chinese_table() {
        let table: &[(&str, Option<f64>)] = &[
            ("二十二", Some(22.0)),
            ("22", Some(22.0)),
            ("22.5", Some(22.5)),
            ("十", Some(10.0)),
            ("十五", Some(15.0)),
            ("两", Some(2.0)),
            ("两百", Some(200.0)),
            ("二百", Some(200.0)),
            ("一百零五", Some(105.0)),
            ("一百五", Some(150.0)),
            ("一百五十", Some(150.0)),
            ("三千五", Some(3500.0)),
            ("三万五千", Some(35000.0)),
            ("二十二点五", Some(22.5)),
            ("十八点五", Some(18.5)),
            ("负五", Some(-5.0)),
            ("零下五", Some(-5.0)),
            ("负5", Some(-5.0)),
            ("零", Some(0.0)),
            ("零度", None),
            ("二二", Some(22.0)),
            ("百", None),
            ("十十", None),
            ("二十二点", None),
            ("五十万", Some(500000.0)),
            ("空调", None),
        ];
        for &(text, want) in table {
            assert_eq!(read(text, NumberWords::Chinese), want, "{text}");
        }
    }

    #[test]
    fn prefixes_let_the_template_decide() {
        let toks = token_texts("二十二度", true);
        let got: Vec<usize> = parse_prefixes(&toks, NumberWords::Chinese)
            .iter()
            .map(|&(_, n)| n)
            .collect();
        assert_eq!(got, vec![1, 2, 3]);
        let toks = token_texts("twenty two degrees", false);
        let got = parse_prefixes(&toks, NumberWords::English);
        assert_eq!(got, vec![(20.0, 1), (22.0, 2)]);
    }
}

/// The numbers said or written in a sentence of `language`, in order: at each position the
/// longest reading ("twenty two" is 22, not 20 and 2; 二十二 is 22). The LLM's number slots
/// may only take one of these, as a grammar's range slot only takes what was said.
pub fn numbers_in(text: &str, language: &super::Language) -> Vec<f64> {
    let split_letters = language.primary() == "zh";
    let words = NumberWords::for_language(language.primary());
    let tokens: Vec<String> = super::normalize::normalize(text, split_letters)
        .tokens
        .into_iter()
        .map(|t| t.text)
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match parse_prefixes(&tokens[i..], words).last() {
            Some(&(v, used)) if used > 0 => {
                out.push(v);
                i += used;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod numbers_in_tests {
    use super::numbers_in;
    use crate::nlu::Language;

    #[test]
    fn longest_readings_in_order() {
        assert_eq!(
            numbers_in(
                "warm the driver side to twenty two, fan 3",
                &Language::english()
            ),
            vec![22.0, 3.0]
        );
        assert_eq!(
            numbers_in("把车内保持在二十度，风量三档", &Language::mandarin()),
            vec![20.0, 3.0]
        );
        assert_eq!(
            numbers_in("set it to 21.5", &Language::english()),
            vec![21.5]
        );
        assert!(numbers_in("it's chilly, bump the heat", &Language::english()).is_empty());
    }
}
