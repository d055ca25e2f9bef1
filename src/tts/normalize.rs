//! Text → the words a voice should say: numbers, decimals, ordinals, temperatures and units,
//! times, dates, currency and cockpit abbreviations, in English and Mandarin. Applied to every
//! text before Piper and espeak-ng see it (`PiperVoice`, `EspeakVoice`), so "22°C", "3.5 km",
//! "14:30" and "No. 5" are not left to espeak-ng's guesses.
//!
//! Decisions (also in README, "Speech out"):
//! - **Times** are read on the 12-hour clock with "a m" / "p m" in English ("14:30" → "two
//!   thirty p m", "09:05" → "nine oh five a m", "12:00" → "twelve noon", "00:00" → "twelve
//!   midnight"), as a US voice would say them to a driver; in Mandarin with the part of the
//!   day ("14:30" → 下午两点半, "09:05" → 上午九点零五分, 凌晨 0–5, 上午 6–11, 中午 12,
//!   下午 13–17, 晚上 18–23).
//! - **Names are left intact**: a number glued to letters ("7-Eleven", "A4", "M25", "3M",
//!   "4S店") is part of a name or code and is read as written, unless the letters are a known
//!   unit ("5km", "22°C") or an English ordinal suffix ("2nd").
//! - **Long digit strings** (7 digits or more with no grouping commas, or any number with a
//!   leading 0) are phone numbers, codes or house numbers: read digit by digit.
//! - **Mandarin 两/二**: 两 for a lone 2 before a measure word (两个, 两公里, 两度, 两点 of a
//!   time, 两元) and as the leading digit of 百/千/万/亿 (两千, 两万); 二 elsewhere (二十二,
//!   二点五, 第二, 二号, 百分之二). °C is read 度 (Celsius is the default), °F 华氏…度.
//! - **Abbreviations by context**: "No." before a number → "number"; "St." after a capitalised
//!   word → "Street", else before one → "Saint"; "Dr." after a capitalised word → "Drive",
//!   else → "Doctor"; "Ave." "Rd." "Blvd." "Mt." "approx." "vs." "etc." → full words.
//!
//! Pure functions over `&str`; any text (emoji, other scripts, 100 KB) comes back as text.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::nlu::forms::{chinese_numerals, english_ordinal, english_words};

/// Which rules a text is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    English,
    Mandarin,
    /// A language without rules here: the text is spoken as written.
    AsWritten,
}

impl Reading {
    /// The reading for a BCP-47 primary language subtag (`en`, `zh`).
    pub fn for_language(primary: &str) -> Reading {
        match primary.to_ascii_lowercase().as_str() {
            "en" => Reading::English,
            "zh" | "cmn" => Reading::Mandarin,
            _ => Reading::AsWritten,
        }
    }

    /// The reading for an espeak-ng voice name (`en-us`, `cmn`, `cmn-latn-pinyin`).
    pub fn for_espeak_voice(voice: &str) -> Reading {
        let primary = voice.split(['-', '_', '/']).next().unwrap_or("");
        Reading::for_language(primary)
    }
}

/// `text` as the words a voice should say in `reading`.
pub fn for_speech(text: &str, reading: Reading) -> String {
    match reading {
        Reading::English => english(text),
        Reading::Mandarin => mandarin(text),
        Reading::AsWritten => text.to_string(),
    }
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this file, checked by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("normalize.rs pattern {pattern}: {e}"))
}

/// A number as written: digits with optional grouping commas and decimals.
const NUM: &str = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?";

/// Parses a written number: integer part (commas removed), decimal digits.
fn split_number(s: &str) -> (String, Option<&str>) {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    (int.replace(',', ""), frac)
}

/// Whether the digits must be read one by one (see module docs).
fn read_as_digits(written: &str) -> bool {
    let (int, frac) = split_number(written);
    frac.is_none()
        && ((int.len() > 1 && int.starts_with('0')) || (int.len() >= 7 && !written.contains(',')))
}

// --- English ---------------------------------------------------------------------------------

const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

fn en_digits(digits: &str) -> String {
    digits
        .chars()
        .filter_map(|c| c.to_digit(10).map(|d| DIGIT_WORDS[d as usize]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An integer in words, up to 999 trillion; `None` past that.
fn en_integer(n: u64) -> Option<String> {
    const SCALES: [(u64, &str); 4] = [
        (1_000_000_000_000, "trillion"),
        (1_000_000_000, "billion"),
        (1_000_000, "million"),
        (1, ""),
    ];
    if n < 1_000_000 {
        return english_words(n);
    }
    let mut parts = Vec::new();
    let mut rest = n;
    for (scale, name) in SCALES {
        let q = rest / scale;
        if q >= 1000 && scale == 1_000_000_000_000 {
            return None;
        }
        if q > 0 {
            parts.push(english_words(q)?);
            if !name.is_empty() {
                parts.push(name.to_string());
            }
        }
        rest %= scale;
    }
    Some(parts.join(" "))
}

/// A written number ("1,250", "3.5", "007") in words; the text itself when too large.
fn en_number(written: &str) -> String {
    if read_as_digits(written) {
        return en_digits(written);
    }
    let (int, frac) = split_number(written);
    let Some(mut words) = int.parse::<u64>().ok().and_then(en_integer) else {
        return en_digits(written);
    };
    if let Some(frac) = frac {
        words.push_str(" point ");
        words.push_str(&en_digits(frac));
    }
    words
}

/// Whether a written number is exactly one (singular unit names).
fn is_one(written: &str) -> bool {
    written == "1"
}

fn en_unit(unit: &str, one: bool) -> Option<&'static str> {
    let (singular, plural) = match unit {
        "km/h" | "kph" | "kmh" => ("kilometer per hour", "kilometers per hour"),
        "mph" => ("mile per hour", "miles per hour"),
        "km" => ("kilometer", "kilometers"),
        "m" => ("meter", "meters"),
        "cm" => ("centimeter", "centimeters"),
        "mm" => ("millimeter", "millimeters"),
        "mi" => ("mile", "miles"),
        "ft" => ("foot", "feet"),
        "kWh" | "kwh" => ("kilowatt hour", "kilowatt hours"),
        "kW" | "kw" => ("kilowatt", "kilowatts"),
        "kg" => ("kilogram", "kilograms"),
        "L" | "l" => ("liter", "liters"),
        "h" | "hr" | "hrs" => ("hour", "hours"),
        "min" | "mins" => ("minute", "minutes"),
        "s" | "sec" | "secs" => ("second", "seconds"),
        "%" => ("percent", "percent"),
        _ => return None,
    };
    Some(if one { singular } else { plural })
}

static EN_CURRENCY: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(-)?([$€£¥￥])\s?({NUM})(?:\s?(thousand|million|billion|k\b|m\b|bn\b))?"
    ))
});
static EN_YUAN: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"({NUM})\s?(?:元|块|(?:yuan|RMB|CNY)\b)")));
static EN_TEMPERATURE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(^|[^\w.,])([-−])?({NUM})\s?°\s?([CF]\b)?")));
static EN_TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b([01]?\d|2[0-4]):([0-5]\d)(?::[0-5]\d)?(?:\s?([AaPp])\.?\s?[Mm]\.?(?:\W|$))?")
});
/// "2.30 pm", the British way of writing a time: read as "2:30 pm".
static EN_DOT_TIME: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(1[0-2]|0?[1-9])\.([0-5]\d)(\s?[AaPp]\.?\s?[Mm]\b)"));
static EN_HOUR_AMPM: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(1[0-2]|0?[1-9])\s?([AaPp])\.?\s?[Mm]\b\.?"));
static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(\d{4})-(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])\b"));
static EN_ORDINAL: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{1,3})(?:st|nd|rd|th)\b"));
static EN_MEASURE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(^|[^\w.,])([-−])?({NUM})\s?(km/h|kph|kmh|mph|kWh|kwh|kW|kw|km|cm|mm|mi|ft|kg|hrs|hr|mins|min|secs|sec|m|L|l|h|s)\b"
    ))
});
static EN_PERCENT: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(^|[^\w.,])([-−])?({NUM})\s?%")));
static EN_NUMBER_SIGN: LazyLock<Regex> = LazyLock::new(|| re(r"\b([Nn])o\.\s?(\d)"));
static EN_ABBREVIATION: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\S+\s+)?\b(St|Dr|Ave|Rd|Blvd|Mt|approx|vs|etc)\.(\s+\S)?"));
static NUMBER_TOKEN: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"([-−])?({NUM})")));

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn capture<'a>(c: &'a Captures, i: usize) -> &'a str {
    c.get(i).map_or("", |m| m.as_str())
}

fn minus(sign: &str, english: bool) -> &'static str {
    match (sign.is_empty(), english) {
        (true, _) => "",
        (false, true) => "minus ",
        (false, false) => "负",
    }
}

/// "14", "30", Some('p') → "two thirty p m".
fn en_time(hour: u32, minute: u32, marker: Option<char>) -> String {
    let (h12, suffix) = match marker {
        Some(m) => (
            if hour.is_multiple_of(12) {
                12
            } else {
                hour % 12
            },
            if m.eq_ignore_ascii_case(&'a') {
                "a m"
            } else {
                "p m"
            },
        ),
        None => match hour {
            0 | 24 if minute == 0 => return "twelve midnight".into(),
            12 if minute == 0 => return "twelve noon".into(),
            0 | 24 => (12, "a m"),
            1..=11 => (hour, "a m"),
            12 => (12, "p m"),
            _ => (hour - 12, "p m"),
        },
    };
    let hour_words = english_words(u64::from(h12)).unwrap_or_default();
    let minutes = match minute {
        0 => String::new(),
        1..=9 => format!(" oh {}", DIGIT_WORDS[minute as usize]),
        _ => format!(" {}", english_words(u64::from(minute)).unwrap_or_default()),
    };
    format!("{hour_words}{minutes} {suffix}")
}

fn english(text: &str) -> String {
    let t = EN_NUMBER_SIGN.replace_all(text, "${1}umber $2");
    let t = abbreviations(&t);
    let t = ISO_DATE.replace_all(&t, |c: &Captures| {
        let month: usize = capture(c, 2).parse().unwrap_or(1);
        let day: u64 = capture(c, 3).parse().unwrap_or(1);
        format!(
            "{} {}, {}",
            MONTHS[month.clamp(1, 12) - 1],
            english_ordinal(day).unwrap_or_default(),
            en_year(capture(c, 1))
        )
    });
    let t = EN_CURRENCY.replace_all(&t, |c: &Captures| {
        let (symbol, amount, scale) = (capture(c, 2), capture(c, 3), capture(c, 4));
        let (one, many, cent) = match symbol {
            "$" => ("dollar", "dollars", Some(("cent", "cents"))),
            "€" => ("euro", "euros", Some(("cent", "cents"))),
            "£" => ("pound", "pounds", Some(("penny", "pence"))),
            _ => ("yuan", "yuan", None),
        };
        let sign = minus(capture(c, 1), true);
        let scale = match scale {
            "k" => "thousand",
            "m" => "million",
            "bn" => "billion",
            s => s,
        };
        if !scale.is_empty() {
            return format!("{sign}{} {scale} {many}", en_number(amount));
        }
        let (int, frac) = split_number(amount);
        match (frac, cent) {
            (Some(f), Some((c1, cn))) if f.len() == 2 => {
                let whole = en_number(&int);
                let cents: u64 = f.parse().unwrap_or(0);
                let unit = if int == "1" { one } else { many };
                if cents == 0 {
                    format!("{sign}{whole} {unit}")
                } else if int == "0" {
                    let cw = english_words(cents).unwrap_or_default();
                    format!("{sign}{cw} {}", if cents == 1 { c1 } else { cn })
                } else {
                    let cw = english_words(cents).unwrap_or_default();
                    format!(
                        "{sign}{whole} {unit} and {cw} {}",
                        if cents == 1 { c1 } else { cn }
                    )
                }
            }
            _ => format!(
                "{sign}{} {}",
                en_number(amount),
                if is_one(amount) { one } else { many }
            ),
        }
    });
    let t = EN_YUAN.replace_all(&t, |c: &Captures| {
        format!("{} yuan", en_number(capture(c, 1)))
    });
    let t = EN_TEMPERATURE.replace_all(&t, |c: &Captures| {
        let value = capture(c, 3);
        let scale = match capture(c, 4) {
            "C" => " Celsius",
            "F" => " Fahrenheit",
            _ => "",
        };
        let degrees = if is_one(value) { "degree" } else { "degrees" };
        format!(
            "{}{}{} {degrees}{scale}",
            capture(c, 1),
            minus(capture(c, 2), true),
            en_number(value)
        )
    });
    let t = EN_DOT_TIME.replace_all(&t, "$1:$2$3");
    let haystack: &str = &t;
    let t = EN_TIME.replace_all(haystack, |c: &Captures| {
        let hour: u32 = capture(c, 1).parse().unwrap_or(0);
        let minute: u32 = capture(c, 2).parse().unwrap_or(0);
        let marker = c.get(3).and_then(|m| m.as_str().chars().next());
        // Keep what followed "pm" (a space, a comma); its full stop only when it also ends
        // the sentence (the end of the text, or a capital next).
        let whole = capture(c, 0);
        let end = c.get(0).map_or(0, |m| m.end());
        let next = haystack[end..].trim_start().chars().next();
        let tail = if marker.is_some() {
            whole
                .chars()
                .last()
                .filter(|ch| !ch.is_alphanumeric())
                .filter(|ch| *ch != '.' || next.is_none_or(char::is_uppercase))
                .map(String::from)
                .unwrap_or_default()
        } else {
            String::new()
        };
        format!("{}{tail}", en_time(hour, minute, marker))
    });
    let haystack: &str = &t;
    let t = EN_HOUR_AMPM.replace_all(haystack, |c: &Captures| {
        let hour: u64 = capture(c, 1).parse().unwrap_or(12);
        let ampm = if capture(c, 2).eq_ignore_ascii_case("a") {
            "a m"
        } else {
            "p m"
        };
        let end = c.get(0).map_or(0, |m| m.end());
        let next = haystack[end..].trim_start().chars().next();
        let stop = capture(c, 0).ends_with('.') && next.is_none_or(char::is_uppercase);
        format!(
            "{} {ampm}{}",
            english_words(hour).unwrap_or_default(),
            if stop { "." } else { "" }
        )
    });
    let t = EN_ORDINAL.replace_all(&t, |c: &Captures| {
        let n: u64 = capture(c, 1).parse().unwrap_or(0);
        english_ordinal(n).unwrap_or_else(|| capture(c, 0).to_string())
    });
    let t = EN_PERCENT.replace_all(&t, |c: &Captures| {
        format!(
            "{}{}{} percent",
            capture(c, 1),
            minus(capture(c, 2), true),
            en_number(capture(c, 3))
        )
    });
    let t = EN_MEASURE.replace_all(&t, |c: &Captures| {
        let value = capture(c, 3);
        let unit = en_unit(capture(c, 4), is_one(value)).unwrap_or("");
        format!(
            "{}{}{} {unit}",
            capture(c, 1),
            minus(capture(c, 2), true),
            en_number(value)
        )
    });
    numbers(&t, true)
}

/// A four-digit year as said: "2026" → "twenty twenty six", "2005" → "two thousand five".
fn en_year(year: &str) -> String {
    let Ok(y) = year.parse::<u64>() else {
        return en_digits(year);
    };
    let (hi, lo) = (y / 100, y % 100);
    if (2000..2010).contains(&y) || y % 1000 == 0 || !(1000..10000).contains(&y) {
        return en_integer(y).unwrap_or_default();
    }
    let hi_words = english_words(hi).unwrap_or_default();
    match lo {
        0 => format!("{hi_words} hundred"),
        1..=9 => format!("{hi_words} oh {}", DIGIT_WORDS[lo as usize]),
        _ => format!("{hi_words} {}", english_words(lo).unwrap_or_default()),
    }
}

/// "Main St." → "Main Street", "St. Mary's" → "Saint Mary's", "Dr. Lee" → "Doctor Lee".
fn abbreviations(text: &str) -> Cow<'_, str> {
    EN_ABBREVIATION.replace_all(text, |c: &Captures| {
        let before = capture(c, 1);
        let after = capture(c, 3);
        let capitalised = |s: &str| {
            s.trim()
                .trim_start_matches(['(', '"', '\''])
                .chars()
                .next()
                .is_some_and(char::is_uppercase)
        };
        // A capitalised word before, other than the first word of a sentence, names the
        // street.
        let prev_word = before.trim();
        let names_before = capitalised(prev_word)
            && !prev_word.ends_with(['.', '!', '?'])
            && !matches!(prev_word, "I" | "The" | "A");
        let word = match capture(c, 2) {
            "St" if names_before => "Street",
            "St" => "Saint",
            "Dr" if names_before && !capitalised(after) => "Drive",
            "Dr" => "Doctor",
            "Ave" => "Avenue",
            "Rd" => "Road",
            "Blvd" => "Boulevard",
            "Mt" => "Mount",
            "approx" => "approximately",
            "vs" => "versus",
            _ => "et cetera",
        };
        // The period of a street name at the end of a sentence still ends it.
        let ends = after.is_empty()
            || capitalised(after)
                && matches!(
                    word,
                    "Street" | "Drive" | "Avenue" | "Road" | "Boulevard" | "et cetera"
                );
        format!(
            "{before}{word}{}{after}",
            if ends && (after.is_empty() || !matches!(word, "Saint" | "Doctor" | "Mount")) {
                "."
            } else {
                ""
            }
        )
    })
}

/// The numbers left, in words, unless glued to letters (a name or code: see module docs).
/// In Mandarin only Latin letters glue (`3个` is a number and its measure word), and 两 is
/// said before a measure word.
fn numbers(text: &str, english: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for c in NUMBER_TOKEN.captures_iter(text) {
        let Some(whole) = c.get(0) else { continue };
        let number = capture(&c, 2);
        let sign = capture(&c, 1);
        let before = text[..whole.start()].chars().next_back();
        let rest = &text[whole.end()..];
        let mut after = rest.chars();
        let next = after.next();
        let letter = |ch: char| {
            if english {
                ch.is_alphanumeric() || ch == '_'
            } else {
                ch.is_ascii_alphanumeric()
            }
        };
        // "A4", "M25"; a sign after a letter is the hyphen of a name ("A-4").
        let glued_before = before.is_some_and(letter);
        // "7-Eleven", "3M", "4S店".
        let glued_after = next.is_some_and(|n| {
            (letter(n) && !n.is_ascii_digit())
                || ((n == '-' || (english && n == '.')) && after.next().is_some_and(letter))
        });
        out.push_str(&text[last..whole.start()]);
        if glued_before || glued_after {
            out.push_str(whole.as_str());
        } else if english {
            out.push_str(minus(sign, true));
            out.push_str(&en_number(number));
        } else {
            out.push_str(minus(sign, false));
            out.push_str(&zh_number(number, Some(rest)));
        }
        last = whole.end();
    }
    out.push_str(&text[last..]);
    out
}

// --- Mandarin --------------------------------------------------------------------------------

const ZH_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

fn zh_digits(digits: &str) -> String {
    digits
        .chars()
        .filter_map(|c| c.to_digit(10).map(|d| ZH_DIGITS[d as usize]))
        .collect()
}

/// An integer in Chinese numerals with 万 and 亿, up to 9999 亿.
fn zh_integer(n: u64) -> Option<String> {
    if n < 10_000 {
        return chinese_numerals(n);
    }
    let mut out = String::new();
    let groups = [
        (n / 100_000_000, "亿"),
        (n / 10_000 % 10_000, "万"),
        (n % 10_000, ""),
    ];
    if groups[0].0 >= 10_000 {
        return None;
    }
    let mut pending_zero = false;
    for (value, unit) in groups {
        if value == 0 {
            pending_zero = !out.is_empty();
            continue;
        }
        // 一万零五百: a group under 1000 after a higher one starts with 零.
        if !out.is_empty() && (pending_zero || value < 1000) {
            out.push('零');
        }
        let words = chinese_numerals(value)?;
        // 十万, but 一万一十: 一十 only after a higher group.
        let words = if !out.is_empty() && (10..20).contains(&value) {
            format!("一{words}")
        } else {
            words
        };
        out.push_str(&words);
        out.push_str(unit);
        pending_zero = false;
    }
    Some(out)
}

/// Measure words before which a lone 2 is 两.
const MEASURE_WORDS: &[&str] = &[
    "个",
    "公里",
    "千米",
    "米",
    "厘米",
    "公斤",
    "千克",
    "度",
    "元",
    "块",
    "位",
    "辆",
    "次",
    "天",
    "年",
    "小时",
    "分钟",
    "秒",
    "岁",
    "本",
    "张",
    "杯",
    "瓶",
    "条",
    "首",
    "家",
    "间",
    "台",
    "件",
    "只",
    "种",
    "周",
    "倍",
    "升",
    "千瓦",
    "档",
    "人",
    "摄氏度",
    "美元",
    "欧元",
    "英里",
    "成",
];

/// How a written number is said; `next` is the text after it (两 before a measure word).
fn zh_number(written: &str, next: Option<&str>) -> String {
    if read_as_digits(written) {
        return zh_digits(written);
    }
    let (int, frac) = split_number(written);
    let Some(n) = int.parse::<u64>().ok() else {
        return zh_digits(written);
    };
    let Some(mut words) = zh_integer(n) else {
        return zh_digits(written);
    };
    if let Some(frac) = frac {
        words.push('点');
        words.push_str(&zh_digits(frac));
        return words;
    }
    let measure = next.is_some_and(|t| MEASURE_WORDS.iter().any(|m| t.trim_start().starts_with(m)));
    if n == 2 && measure {
        return "两".into();
    }
    // 两百, 两千, 两万, 两亿 (not 二十).
    let mut chars = words.chars();
    if let (Some('二'), Some(u)) = (chars.next(), chars.next()) {
        if matches!(u, '百' | '千' | '万' | '亿') {
            words.replace_range(..'二'.len_utf8(), "两");
        }
    }
    words
}

fn zh_hour(hour: u32) -> String {
    if hour == 2 {
        "两".into()
    } else {
        chinese_numerals(u64::from(hour)).unwrap_or_default()
    }
}

fn zh_minutes(minute: u32) -> String {
    match minute {
        0 => String::new(),
        30 => "半".into(),
        1..=9 => format!("零{}分", ZH_DIGITS[minute as usize]),
        _ => format!(
            "{}分",
            chinese_numerals(u64::from(minute)).unwrap_or_default()
        ),
    }
}

fn zh_time(hour: u32, minute: u32) -> String {
    let (period, h12) = match hour {
        0..=5 => ("凌晨", if hour == 0 { 0 } else { hour }),
        6..=11 => ("上午", hour),
        12 => ("中午", 12),
        13..=17 => ("下午", hour - 12),
        18..=23 => ("晚上", hour - 12),
        _ => ("凌晨", 0),
    };
    format!("{period}{}点{}", zh_hour(h12), zh_minutes(minute))
}

static ZH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(\d{4})\s?(?:-|/|年)\s?(0?[1-9]|1[0-2])\s?(?:-|/|月)\s?(0?[1-9]|[12]\d|3[01])\s?([日号])?")
});
static ZH_YEAR: LazyLock<Regex> = LazyLock::new(|| re(r"(\d{2,4})\s?年"));
static ZH_MONTH_DAY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(0?[1-9]|1[0-2])\s?月\s?(?:(0?[1-9]|[12]\d|3[01])\s?([日号]))?"));
static ZH_DAY: LazyLock<Regex> = LazyLock::new(|| re(r"(\d{1,2})\s?([日号楼层])"));
static ZH_TIME: LazyLock<Regex> =
    LazyLock::new(|| re(r"([01]?\d|2[0-4])[:：]([0-5]\d)(?:[:：][0-5]\d)?"));
static ZH_CLOCK: LazyLock<Regex> =
    LazyLock::new(|| re(r"([01]?\d|2[0-4])\s?点\s?(?:(半)|([0-5]?\d)\s?分?)?"));
static ZH_TEMPERATURE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(零下|[-−])?\s?({NUM})\s?(?:°\s?([CF])?|℃|℉)")));
static ZH_PERCENT: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"([-−])?({NUM})\s?[%％]")));
static ZH_CURRENCY: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"([$€£¥￥])\s?({NUM})")));
static ZH_MEASURE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"([-−])?({NUM})\s?(km/h|kph|kmh|kWh|kwh|kW|kw|km|cm|mm|kg|min|m|L|h)(?:[^A-Za-z]|$)"
    ))
});
static ZH_ORDINAL: LazyLock<Regex> = LazyLock::new(|| re(r"第\s?(\d+)"));

fn zh_unit(unit: &str) -> &'static str {
    match unit {
        "km/h" | "kph" | "kmh" => "公里每小时",
        "km" => "公里",
        "m" => "米",
        "cm" => "厘米",
        "mm" => "毫米",
        "kg" => "公斤",
        "kWh" | "kwh" => "千瓦时",
        "kW" | "kw" => "千瓦",
        "min" => "分钟",
        "h" => "小时",
        _ => "升",
    }
}

fn mandarin(text: &str) -> String {
    let t = ZH_DATE.replace_all(text, |c: &Captures| {
        let month: u64 = capture(c, 2).parse().unwrap_or(1);
        let day: u64 = capture(c, 3).parse().unwrap_or(1);
        let suffix = if capture(c, 4) == "号" { "号" } else { "日" };
        format!(
            "{}年{}月{}{suffix}",
            zh_digits(capture(c, 1)),
            chinese_numerals(month).unwrap_or_default(),
            chinese_numerals(day).unwrap_or_default()
        )
    });
    let t = ZH_YEAR.replace_all(&t, |c: &Captures| format!("{}年", zh_digits(capture(c, 1))));
    let t = ZH_MONTH_DAY.replace_all(&t, |c: &Captures| {
        let month: u64 = capture(c, 1).parse().unwrap_or(1);
        let mut s = format!("{}月", chinese_numerals(month).unwrap_or_default());
        if let Some(day) = c.get(2) {
            let day: u64 = day.as_str().parse().unwrap_or(1);
            s.push_str(&chinese_numerals(day).unwrap_or_default());
            s.push_str(capture(c, 3));
        }
        s
    });
    let t = ZH_TIME.replace_all(&t, |c: &Captures| {
        let hour: u32 = capture(c, 1).parse().unwrap_or(0);
        let minute: u32 = capture(c, 2).parse().unwrap_or(0);
        zh_time(hour, minute)
    });
    let t = ZH_CLOCK.replace_all(&t, |c: &Captures| {
        let hour: u32 = capture(c, 1).parse().unwrap_or(0);
        let minutes = if c.get(2).is_some() {
            "半".to_string()
        } else {
            c.get(3)
                .and_then(|m| m.as_str().parse().ok())
                .map(zh_minutes)
                .unwrap_or_default()
        };
        format!("{}点{minutes}", zh_hour(hour))
    });
    let t = ZH_TEMPERATURE.replace_all(&t, |c: &Captures| {
        let below = if c.get(1).is_some() { "零下" } else { "" };
        let whole = capture(c, 0);
        let fahrenheit = capture(c, 3) == "F" || whole.ends_with('℉');
        let value = zh_number(capture(c, 2), Some("度"));
        if fahrenheit {
            format!("华氏{below}{value}度")
        } else {
            format!("{below}{value}度")
        }
    });
    let t = ZH_PERCENT.replace_all(&t, |c: &Captures| {
        format!(
            "{}百分之{}",
            minus(capture(c, 1), false),
            zh_number(capture(c, 2), None)
        )
    });
    let t = ZH_CURRENCY.replace_all(&t, |c: &Captures| {
        let unit = match capture(c, 1) {
            "$" => "美元",
            "€" => "欧元",
            "£" => "英镑",
            _ => "元",
        };
        // "3.50" of money is 三点五, "35.00" 三十五.
        let amount = capture(c, 2);
        let amount = if amount.contains('.') {
            amount.trim_end_matches('0').trim_end_matches('.')
        } else {
            amount
        };
        format!("{}{unit}", zh_number(amount, Some(unit)))
    });
    let t = ZH_MEASURE.replace_all(&t, |c: &Captures| {
        let unit = zh_unit(capture(c, 3));
        let whole = capture(c, 0);
        // The character after the unit was matched to check it ends there; keep it.
        let tail: String = whole
            .chars()
            .last()
            .filter(|ch| !ch.is_ascii_alphabetic())
            .map(String::from)
            .unwrap_or_default();
        format!(
            "{}{}{unit}{tail}",
            minus(capture(c, 1), false),
            zh_number(capture(c, 2), Some(unit))
        )
    });
    let t = ZH_ORDINAL.replace_all(&t, |c: &Captures| {
        let n: u64 = capture(c, 1).parse().unwrap_or(0);
        format!(
            "第{}",
            zh_integer(n).unwrap_or_else(|| zh_digits(capture(c, 1)))
        )
    });
    let t = ZH_DAY.replace_all(&t, |c: &Captures| {
        let n: u64 = capture(c, 1).parse().unwrap_or(0);
        format!(
            "{}{}",
            chinese_numerals(n).unwrap_or_default(),
            capture(c, 2)
        )
    });
    numbers(&t, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(reading: Reading, table: &[(&str, &str)]) {
        let mut wrong = Vec::new();
        for (input, expected) in table {
            let got = for_speech(input, reading);
            if got != *expected {
                wrong.push(format!(
                    "{input:?}\n   expected {expected:?}\n   got      {got:?}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn english_table() {
        check(
            Reading::English,
            &[
                (
                    "set the temperature to 22°C",
                    "set the temperature to twenty two degrees Celsius",
                ),
                (
                    "It is 72°F outside.",
                    "It is seventy two degrees Fahrenheit outside.",
                ),
                (
                    "It is -3°C tonight",
                    "It is minus three degrees Celsius tonight",
                ),
                ("1°C warmer", "one degree Celsius warmer"),
                ("turn it to 20°", "turn it to twenty degrees"),
                ("3.5 km", "three point five kilometers"),
                ("1 km to go", "one kilometer to go"),
                ("120 km/h", "one hundred twenty kilometers per hour"),
                ("drive 60 mph", "drive sixty miles per hour"),
                ("in 200 m turn left", "in two hundred meters turn left"),
                ("battery at 80%", "battery at eighty percent"),
                ("used 12.5 kWh", "used twelve point five kilowatt hours"),
                ("at 14:30", "at two thirty p m"),
                ("at 9:05", "at nine oh five a m"),
                ("at 12:00", "at twelve noon"),
                ("at 00:00", "at twelve midnight"),
                ("at 00:15", "at twelve fifteen a m"),
                ("at 10:30 pm.", "at ten thirty p m."),
                ("at 7 AM", "at seven a m"),
                ("at 2.30 pm", "at two thirty p m"),
                ("2.30 kg", "two point three zero kilograms"),
                ("at 10 p.m. tomorrow", "at ten p m tomorrow"),
                ("Leave at 7 p.m. Then eat.", "Leave at seven p m. Then eat."),
                ("at 10:30 p.m., then", "at ten thirty p m, then"),
                ("on 2026-12-06", "on December sixth, twenty twenty six"),
                ("since 2005-01-01", "since January first, two thousand five"),
                ("the 2nd exit", "the second exit"),
                ("the 21st floor", "the twenty first floor"),
                ("take the 3rd", "take the third"),
                ("costs $5", "costs five dollars"),
                ("costs $1", "costs one dollar"),
                ("costs $3.50", "costs three dollars and fifty cents"),
                ("costs $0.99", "costs ninety nine cents"),
                ("costs $2.00", "costs two dollars"),
                (
                    "earned $1.5 million",
                    "earned one point five million dollars",
                ),
                ("¥100 please", "one hundred yuan please"),
                ("pay 35元", "pay thirty five yuan"),
                ("€20", "twenty euros"),
                ("1,250 people", "one thousand two hundred fifty people"),
                ("0.5 liters", "zero point five liters"),
                ("3 restaurants", "three restaurants"),
                ("2,500,000 cars", "two million five hundred thousand cars"),
                ("No. 5 Main Street", "Number five Main Street"),
                ("no. 12", "number twelve"),
                ("No, thanks", "No, thanks"),
                ("123 Main St.", "one hundred twenty three Main Street."),
                ("Main St. is closed", "Main Street is closed"),
                ("St. Louis", "Saint Louis"),
                ("going to St. Mary's", "going to Saint Mary's"),
                ("Dr. Lee is in", "Doctor Lee is in"),
                ("call Dr. Smith", "call Doctor Smith"),
                ("12 Elm Dr. is near", "twelve Elm Drive is near"),
                ("approx. 10 minutes", "approximately ten minutes"),
                ("the nearest 7-Eleven", "the nearest 7-Eleven"),
                ("an A4 sheet", "an A4 sheet"),
                ("take the M25", "take the M25"),
                ("3M tape", "3M tape"),
                ("Route 66", "Route sixty six"),
                ("call 5551234", "call five five five one two three four"),
                ("code 007", "code zero zero seven"),
                ("-5 points", "minus five points"),
                ("", ""),
                ("hello 😀", "hello 😀"),
                ("Привет 5", "Привет five"),
            ],
        );
    }

    #[test]
    fn mandarin_table() {
        check(
            Reading::Mandarin,
            &[
                ("温度调到22度", "温度调到二十二度"),
                ("温度调到22°C", "温度调到二十二度"),
                ("现在22℃", "现在二十二度"),
                ("外面2度", "外面两度"),
                ("零下5°C", "零下五度"),
                ("-3°C", "零下三度"),
                ("72°F", "华氏七十二度"),
                ("还有3.5公里", "还有三点五公里"),
                ("还有3.5km", "还有三点五公里"),
                ("前方200米", "前方两百米"),
                ("限速120km/h", "限速一百二十公里每小时"),
                ("2公里", "两公里"),
                ("2个", "两个"),
                ("电量80%", "电量百分之八十"),
                ("电量2%", "电量百分之二"),
                ("用了12.5kWh", "用了十二点五千瓦时"),
                ("14:30出发", "下午两点半出发"),
                ("09:05", "上午九点零五分"),
                ("08:00", "上午八点"),
                ("12:00", "中午十二点"),
                ("20:15", "晚上八点十五分"),
                ("02:10", "凌晨两点十分"),
                ("下午2点半", "下午两点半"),
                ("3点15分", "三点十五分"),
                ("2026-12-06", "二零二六年十二月六日"),
                ("2026年12月6日", "二零二六年十二月六日"),
                ("12月2号", "十二月二号"),
                ("2号线", "二号线"),
                ("第2个", "第二个"),
                ("¥100", "一百元"),
                ("35元", "三十五元"),
                ("2元", "两元"),
                ("$5", "五美元"),
                ("$3.50", "三点五美元"),
                ("¥35.00", "三十五元"),
                ("22", "二十二"),
                ("10", "十"),
                ("105", "一百零五"),
                ("2000", "两千"),
                ("20000", "两万"),
                ("10000", "一万"),
                ("12345", "一万二千三百四十五"),
                ("100500", "十万零五百"),
                ("110000", "十一万"),
                ("10010", "一万零一十"),
                ("300,000,000", "三亿"),
                ("拨打13800138000", "拨打一三八零零一三八零零零"),
                ("附近的7-Eleven", "附近的7-Eleven"),
                ("4S店", "4S店"),
                ("", ""),
                ("你好😀", "你好😀"),
            ],
        );
    }

    #[test]
    fn readings_by_language_and_voice() {
        assert_eq!(Reading::for_espeak_voice("en-us"), Reading::English);
        assert_eq!(
            Reading::for_espeak_voice("cmn-latn-pinyin"),
            Reading::Mandarin
        );
        assert_eq!(Reading::for_espeak_voice("cmn"), Reading::Mandarin);
        assert_eq!(Reading::for_language("zh"), Reading::Mandarin);
        assert_eq!(Reading::for_language("de"), Reading::AsWritten);
        assert_eq!(for_speech("22°C", Reading::AsWritten), "22°C");
    }

    #[test]
    fn any_text_is_survived() {
        // Huge numbers, mixed scripts, lone symbols: text comes back, nothing panics.
        for text in [
            "99999999999999999999999 km",
            "1.2.3.4",
            "°°°",
            "$",
            "25:99",
            "٣٤ 12",
            "¥",
            "-",
            "--5",
            "5--",
            "9999999999999999亿",
            "第99999999999999999999",
            "2026-13-45",
        ] {
            let _ = for_speech(text, Reading::English);
            let _ = for_speech(text, Reading::Mandarin);
        }
        let long = "Drive 3.5 km, then turn left at 14:30. ".repeat(3000);
        assert!(for_speech(&long, Reading::English).len() > long.len());
    }
}
