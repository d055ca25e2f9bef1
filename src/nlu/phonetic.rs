//! How alike two words sound, for tolerant matching of what speech recognition heard.
//!
//! English words compare by their Double Metaphone keys (from `rphonetic`) with a weighted
//! edit distance in which consonants of one class (`P`/`F`/`B`/`V`, `T`/`D`/`θ`, `S`/`SH`/`Z`,
//! `K`/`G`, `M`/`N`, `L`/`R`) are cheap to confuse and a dropped `R` or `H` is cheap, blended
//! with the spelling's edit distance (Double Metaphone keeps no vowels, so "the"/"to" need it).
//! Mandarin characters compare by pinyin: the same syllable and tone is a 同音字, the same
//! syllable in another tone nearly one, and the usual confusions (`zh`/`z`, `n`/`l`, `-ng`/`-n`)
//! count as near. Everything here is a pure function of the text.

use rphonetic::DoubleMetaphone;

/// A word as the tolerant matcher compares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sound {
    /// Double Metaphone primary key (ASCII) for words; empty for Han characters.
    pub key: Vec<u8>,
    /// Double Metaphone alternate key, when it differs ("mocha": `MX` and `MK`).
    pub alt: Vec<u8>,
    /// The spelling (lowercase ASCII letters and digits only).
    pub spell: Vec<u8>,
    /// Pinyin readings of a Han character: `(syllable without tone, tone 1–5)`.
    pub pinyin: Vec<(&'static str, u8)>,
    /// The character itself, for Han tokens (`两` and `二` are one number).
    pub han: Option<char>,
    /// A small word ("the", "to", "请", "的"): cheap to drop or add.
    pub small: bool,
    /// Letter counts of `spell`, `key` and `alt`, for [`quick_bound`].
    bags: [Bag; 3],
}

/// Letter counts of a spelling or key, as far as [`edit`] compares it (its first
/// `EDIT_CAP` bytes), in 32 buckets (digits share six): the edit distance is at least the
/// bag distance (letters one side has that the other lacks), and merging letters into one
/// bucket only lowers it, so the bound stays a bound.
#[derive(Debug, Clone, Copy, Default)]
struct Bag {
    counts: [u8; 32],
    len: u8,
}

impl Bag {
    fn of(text: &[u8]) -> Bag {
        let mut bag = Bag::default();
        for &b in &text[..text.len().min(EDIT_CAP)] {
            let bucket = match b {
                b'a'..=b'z' => b - b'a',
                b'A'..=b'Z' => b - b'A',
                b'0'..=b'9' => 26 + (b - b'0') % 5,
                _ => 31,
            };
            bag.counts[bucket as usize] += 1;
        }
        bag.len = text.len().min(EDIT_CAP) as u8;
        bag
    }

    /// How many letters of the longer side the other cannot pair (a lower bound of the
    /// number of edits between the two texts).
    #[inline]
    fn distance(&self, other: &Bag) -> u32 {
        // Eight counts a word (each at most `EDIT_CAP` = 32, so no byte's high bit is set and
        // their sum fits a byte): the byte-wise minimum without branches, then the bytes'
        // sum by one multiplication.
        const HIGH: u64 = 0x8080_8080_8080_8080;
        const ONES: u64 = 0x0101_0101_0101_0101;
        let mut sum = 0u64;
        for (x, y) in self
            .counts
            .chunks_exact(8)
            .zip(other.counts.chunks_exact(8))
        {
            let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
            let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
            // High bit of each byte: set where x >= y.
            let ge = ((x | HIGH) - y) & HIGH;
            let mask = (ge >> 7) * 0xff;
            sum += (y & mask) | (x & !mask);
        }
        let common = (sum.wrapping_mul(ONES) >> 56) as u32;
        u32::from(self.len.max(other.len)) - common
    }
}

/// The Double Metaphone encoder (keys long enough for compounds such as "windshield").
fn encoder() -> DoubleMetaphone {
    DoubleMetaphone::new(Some(16))
}

/// Words whose loss or addition changes little: articles, prepositions, pronouns, fillers.
const SMALL_EN: &[&str] = &[
    "a", "an", "the", "to", "at", "in", "on", "of", "for", "my", "me", "it", "is", "and", "or",
    "please", "this", "that", "your", "our", "so", "just", "now", "uh", "um", "er", "ah", "oh",
    "hey", "ok", "okay", "can", "could", "would", "you", "i", "let's", "be", "are", "with", "by",
    "from", "some", "then", "well", "like", "there", "here", "s", "do", "will", "get", "us",
];

/// Particles, measure words and politeness that Mandarin commands add or drop freely.
const SMALL_ZH: &str = "的了吧一下请把我帮呢啊吗给个将要想你能可以就再点儿呀哦嗯嘛";

impl Sound {
    /// The sound of a token of normalised text (a word, a number, or one Han character).
    pub fn of(token: &str) -> Sound {
        Sound::of_with(&encoder(), token)
    }

    pub(crate) fn of_with(dm: &DoubleMetaphone, token: &str) -> Sound {
        let mut chars = token.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if super::normalize::is_cjk(c) {
                return Sound::han(c);
            }
        }
        let spell: Vec<u8> = token
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric())
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let letters: String = token.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        let (key, alt) = if letters.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let r = dm.double_metaphone(&letters);
            let (key, alt) = (r.primary().into_bytes(), r.alternate().into_bytes());
            let alt = if alt == key { Vec::new() } else { alt };
            (key, alt)
        };
        Sound {
            key,
            alt,
            spell,
            pinyin: Vec::new(),
            han: None,
            small: SMALL_EN.contains(&token),
            bags: Default::default(),
        }
        .with_bags()
    }

    fn with_bags(mut self) -> Sound {
        self.bags = [Bag::of(&self.spell), Bag::of(&self.key), Bag::of(&self.alt)];
        self
    }

    fn han(c: char) -> Sound {
        use pinyin::ToPinyinMulti;
        let mut readings: Vec<(&'static str, u8)> = Vec::new();
        if let Some(multi) = c.to_pinyin_multi() {
            for p in multi {
                let numbered = p.with_tone_num_end();
                let tone = numbered
                    .bytes()
                    .last()
                    .filter(u8::is_ascii_digit)
                    .map_or(5, |b| b - b'0');
                if !readings.iter().any(|r| r.0 == p.plain() && r.1 == tone) {
                    readings.push((p.plain(), tone));
                }
                if readings.len() == 4 {
                    break;
                }
            }
        }
        Sound {
            key: Vec::new(),
            alt: Vec::new(),
            spell: Vec::new(),
            pinyin: readings,
            han: Some(c),
            small: SMALL_ZH.contains(c),
            bags: Default::default(),
        }
    }

    /// The sound of several words said as one (`"wind" + "shield"`), for split and merged
    /// compounds.
    pub fn joined(parts: &[&Sound]) -> Sound {
        let mut s = Sound::default();
        for p in parts {
            s.key.extend_from_slice(&p.key);
            s.spell.extend_from_slice(&p.spell);
        }
        s.with_bags()
    }

    pub fn is_han(&self) -> bool {
        self.han.is_some()
    }
}

/// How different two sounds are: 0 the same, 1 nothing alike.
pub(crate) fn distance(a: &Sound, b: &Sound) -> f32 {
    match (a.han, b.han) {
        (Some(x), Some(y)) => han_distance(x, &a.pinyin, y, &b.pinyin),
        (None, None) => word_distance(a, b),
        _ => 1.0,
    }
}

fn word_distance(a: &Sound, b: &Sound) -> f32 {
    if a.spell == b.spell {
        return 0.0;
    }
    let spelling = levenshtein(&a.spell, &b.spell) as f32;
    let spelling = spelling / a.spell.len().max(b.spell.len()).max(1) as f32;
    if a.key.is_empty() || b.key.is_empty() {
        return spelling;
    }
    let key_dist = |x: &[u8], y: &[u8]| {
        let len = x.len().max(y.len()).max(1) as f32;
        (key_edit(x, y) / len).min(1.0)
    };
    let mut key = key_dist(&a.key, &b.key);
    let [_, a_key, a_alt] = &a.bags;
    let [_, b_key, b_alt] = &b.bags;
    for ((x, xb), (y, yb)) in [
        ((&a.alt, a_alt), (&b.key, b_key)),
        ((&a.key, a_key), (&b.alt, b_alt)),
        ((&a.alt, a_alt), (&b.alt, b_alt)),
    ] {
        // An alternate key that cannot come closer is not compared.
        if !x.is_empty() && !y.is_empty() && key_bound(xb, x.len(), yb, y.len()) * 0.999 < key {
            key = key.min(key_dist(x, y));
        }
    }
    let key_len = a.key.len().max(b.key.len()) as f32;
    // One-consonant keys ("the" = 0, "to" = T) say little: lean on the spelling then.
    let w = if key_len <= 1.0 { 0.4 } else { 0.7 };
    (w * key + (1.0 - w) * spelling).min(1.0)
}

/// A lower bound of [`distance`] that costs a few nanoseconds: for words, from letter counts
/// (a key edit costs at least 0.4 an edit and 0.1 more for each letter the lengths differ
/// by, a spelling edit 1); for Han characters, the distance itself (pinyin readings are few).
/// The tolerant matcher bounds whole templates with it before aligning them.
pub(crate) fn quick_bound(a: &Sound, b: &Sound) -> f32 {
    match (a.han, b.han) {
        (Some(x), Some(y)) => han_distance(x, &a.pinyin, y, &b.pinyin),
        (None, None) => word_bound(a, b),
        _ => 1.0,
    }
}

fn word_bound(a: &Sound, b: &Sound) -> f32 {
    let [a_spell, a_key, a_alt] = &a.bags;
    let [b_spell, b_key, b_alt] = &b.bags;
    let longer = a.spell.len().max(b.spell.len()).max(1) as f32;
    let spelling = a_spell.distance(b_spell) as f32 / longer;
    if a.key.is_empty() || b.key.is_empty() {
        return spelling * 0.999;
    }
    let mut key = key_bound(a_key, a.key.len(), b_key, b.key.len());
    if !a.alt.is_empty() {
        key = key.min(key_bound(a_alt, a.alt.len(), b_key, b.key.len()));
    }
    if !b.alt.is_empty() {
        key = key.min(key_bound(a_key, a.key.len(), b_alt, b.alt.len()));
        if !a.alt.is_empty() {
            key = key.min(key_bound(a_alt, a.alt.len(), b_alt, b.alt.len()));
        }
    }
    let key_len = a.key.len().max(b.key.len()) as f32;
    let w = if key_len <= 1.0 { 0.4 } else { 0.7 };
    (w * key + (1.0 - w) * spelling).min(1.0) * 0.999
}

/// A lower bound of a key distance (`key_edit / longer key`, at most 1) from letter counts:
/// every edit costs at least 0.4, and 0.1 more for each letter the lengths differ by.
fn key_bound(x: &Bag, x_len: usize, y: &Bag, y_len: usize) -> f32 {
    let len = x_len.max(y_len).max(1) as f32;
    let edits = x.distance(y) as f32;
    let gap = x.len.abs_diff(y.len) as f32;
    ((0.4 * edits + 0.1 * gap) / len).min(1.0)
}

/// Consonant classes of Double Metaphone keys that speech recognition confuses.
const fn class(c: u8) -> u8 {
    match c {
        b'P' | b'F' | b'B' | b'V' => 1,
        b'T' | b'D' | b'0' => 2,
        b'S' | b'X' | b'Z' | b'J' => 3,
        b'K' | b'G' => 4,
        b'M' | b'N' => 5,
        b'L' | b'R' => 6,
        _ => 0,
    }
}

#[cfg(test)]
fn consonant_sub(x: u8, y: u8) -> f32 {
    if x == y {
        0.0
    } else if class(x) != 0 && class(x) == class(y) {
        0.4
    } else {
        1.0
    }
}

const fn consonant_indel(x: u8) -> f32 {
    match x {
        b'R' | b'H' | b'A' => 0.5,
        _ => 1.0,
    }
}

/// The most bytes [`edit`] compares.
const EDIT_CAP: usize = 32;

/// Weighted Levenshtein distance over short byte strings (no allocation below 32 bytes).
fn edit(a: &[u8], b: &[u8], sub: impl Fn(u8, u8) -> f32, indel: impl Fn(u8) -> f32) -> f32 {
    const CAP: usize = EDIT_CAP;
    let (a, b) = (&a[..a.len().min(CAP)], &b[..b.len().min(CAP)]);
    // One row, rolled in place (the cell up-left kept in `diag`).
    let mut row = [0f32; CAP + 1];
    for j in 1..=b.len() {
        row[j] = row[j - 1] + indel(b[j - 1]);
    }
    for &x in a {
        let mut diag = row[0];
        row[0] += indel(x);
        for j in 1..=b.len() {
            let up = row[j];
            row[j] = (diag + sub(x, b[j - 1]))
                .min(up + indel(x))
                .min(row[j - 1] + indel(b[j - 1]));
            diag = up;
        }
    }
    row[b.len()]
}

/// [`class`] and [`consonant_indel`] of every byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = class(c as u8);
        c += 1;
    }
    t
};
static INDEL: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = consonant_indel(c as u8);
        c += 1;
    }
    t
};

/// `edit(a, b, consonant_sub, consonant_indel)` from tables, with the same additions in the
/// same order (so the same `f32`): the key distance is most of a word distance's work.
fn key_edit(a: &[u8], b: &[u8]) -> f32 {
    const CAP: usize = EDIT_CAP;
    let (a, b) = (&a[..a.len().min(CAP)], &b[..b.len().min(CAP)]);
    let mut b_indel = [0f32; CAP];
    let mut b_class = [0u8; CAP];
    for (j, &y) in b.iter().enumerate() {
        b_indel[j] = INDEL[y as usize];
        b_class[j] = CLASS[y as usize];
    }
    let mut row = [0f32; CAP + 1];
    for j in 1..=b.len() {
        row[j] = row[j - 1] + b_indel[j - 1];
    }
    for &x in a {
        let (x_indel, x_class) = (INDEL[x as usize], CLASS[x as usize]);
        let mut diag = row[0];
        row[0] += x_indel;
        for j in 1..=b.len() {
            let sub = if x == b[j - 1] {
                0.0
            } else if x_class != 0 && x_class == b_class[j - 1] {
                0.4
            } else {
                1.0
            };
            let up = row[j];
            row[j] = (diag + sub)
                .min(up + x_indel)
                .min(row[j - 1] + b_indel[j - 1]);
            diag = up;
        }
    }
    row[b.len()]
}

/// Unit-cost edit distance of the first `EDIT_CAP` bytes of `a` and `b` (what [`edit`] gives
/// with unit costs), bit-parallel (Myers 1999, in Hyyrö's formulation): one pass over `b`
/// with `a`'s columns as the bits of a word.
fn levenshtein(a: &[u8], b: &[u8]) -> u32 {
    let (a, b) = (&a[..a.len().min(EDIT_CAP)], &b[..b.len().min(EDIT_CAP)]);
    let m = a.len();
    if m == 0 {
        return b.len() as u32;
    }
    // Where each byte occurs in `a` (spellings are lowercase letters and digits; any other
    // byte only ever equals itself, found by the slow path below).
    let mut peq = [0u64; 37];
    let slot = |c: u8| match c {
        b'a'..=b'z' => (c - b'a') as usize,
        b'0'..=b'9' => (c - b'0') as usize + 26,
        _ => 36,
    };
    for (i, &c) in a.iter().enumerate() {
        if slot(c) == 36 {
            return edit(a, b, |x, y| if x == y { 0.0 } else { 1.0 }, |_| 1.0) as u32;
        }
        peq[slot(c)] |= 1 << i;
    }
    let last = 1u64 << (m - 1);
    let (mut pv, mut mv, mut score) = (!0u64, 0u64, m as u32);
    for &c in b {
        let eq = peq[slot(c)];
        let xv = eq | mv;
        let xh = ((eq & pv).wrapping_add(pv) ^ pv) | eq;
        let mut ph = mv | !(xh | pv);
        let mut mh = pv & xh;
        if ph & last != 0 {
            score += 1;
        }
        if mh & last != 0 {
            score -= 1;
        }
        ph = (ph << 1) | 1;
        mh <<= 1;
        pv = mh | !(xv | ph);
        mv = ph & xv;
    }
    score
}

/// `两` and `二` are the same number said two ways.
fn same_number(x: char, y: char) -> bool {
    matches!((x, y), ('两', '二') | ('二', '两'))
}

fn han_distance(x: char, xr: &[(&str, u8)], y: char, yr: &[(&str, u8)]) -> f32 {
    if x == y || same_number(x, y) {
        return 0.0;
    }
    let mut best: f32 = 1.0;
    for &(xs, xt) in xr {
        for &(ys, yt) in yr {
            let d = if xs == ys {
                if xt == yt {
                    0.1
                } else {
                    0.25
                }
            } else {
                let (xi, xf) = split_syllable(xs);
                let (yi, yf) = split_syllable(ys);
                let (fi, ff) = (
                    fuzzy_initial(xi) == fuzzy_initial(yi),
                    fuzzy_final(xf) == fuzzy_final(yf),
                );
                match (fi, ff) {
                    (true, true) => 0.45,
                    (true, false) | (false, true) => 0.8,
                    _ => 1.0,
                }
            };
            best = best.min(d);
        }
    }
    best
}

/// A pinyin syllable's initial and final ("zhuang" → "zh", "uang").
fn split_syllable(s: &str) -> (&str, &str) {
    for two in ["zh", "ch", "sh"] {
        if let Some(rest) = s.strip_prefix(two) {
            return (two, rest);
        }
    }
    match s.chars().next() {
        Some(c) if "bpmfdtnlgkhjqxrzcsyw".contains(c) => s.split_at(1),
        _ => ("", s),
    }
}

/// Initials southern and careless speech (and whisper) merge.
fn fuzzy_initial(i: &str) -> &str {
    match i {
        "zh" => "z",
        "ch" => "c",
        "sh" => "s",
        "l" => "n",
        "f" => "h",
        "r" => "l",
        other => other,
    }
}

fn fuzzy_final(f: &str) -> &str {
    match f {
        "ang" => "an",
        "eng" => "en",
        "ing" => "in",
        "iang" => "ian",
        "uang" => "uan",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(a: &str, b: &str) -> f32 {
        distance(&Sound::of(a), &Sound::of(b))
    }

    #[test]
    fn near_homophones_are_near_and_strangers_far() {
        assert_eq!(d("roof", "roof"), 0.0);
        for (heard, meant) in [
            ("force", "pause"),
            ("capicino", "cappuccino"),
            ("mocker", "mocha"),
            ("shut", "shot"),
            ("maricano", "americano"),
            ("rose", "roast"),
            ("closeness", "close"),
        ] {
            assert!(
                d(heard, meant) < 0.5,
                "{heard} ~ {meant}: {}",
                d(heard, meant)
            );
        }
        for (a, b) in [
            ("weather", "sunroof"),
            ("election", "music"),
            ("news", "volume"),
        ] {
            assert!(d(a, b) > 0.6, "{a} !~ {b}: {}", d(a, b));
        }
    }

    #[test]
    fn quick_bound_never_exceeds_the_distance() {
        let words = [
            "roof",
            "sunroof",
            "force",
            "pause",
            "the",
            "to",
            "a",
            "capicino",
            "cappuccino",
            "mocker",
            "mocha",
            "windshield",
            "wind",
            "shield",
            "twenty",
            "2",
            "221b",
            "x",
            "thequickbrownfoxjumpsoverthelazydogagain",
            "passenger",
            "pass",
            "in",
            "just",
            "条",
            "调",
            "两",
            "二",
            "空",
        ];
        let sounds: Vec<Sound> = words.iter().map(|w| Sound::of(w)).collect();
        let mut all = sounds.clone();
        for pair in sounds.windows(2) {
            all.push(Sound::joined(&[&pair[0], &pair[1]]));
        }
        for a in &all {
            for b in &all {
                let (d, q) = (distance(a, b), quick_bound(a, b));
                assert!(q <= d, "{:?} {:?}: bound {q} > {d}", a.spell, b.spell);
            }
        }
    }

    #[test]
    fn bit_parallel_levenshtein_is_the_edit_distance() {
        let words: Vec<Vec<u8>> = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "kitten",
            "sitting",
            "roof",
            "sunroof",
            "windshield",
            "wind",
            "shield",
            "aaaa",
            "aaab",
            "baaa",
            "221b",
            "2",
            "twenty",
            "x1y2z3",
            "thequickbrownfoxjumpsoverthelazydogagainandagain",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ]
        .iter()
        .map(|w| w.as_bytes().to_vec())
        .collect();
        for a in &words {
            for b in &words {
                let slow = edit(a, b, |x, y| if x == y { 0.0 } else { 1.0 }, |_| 1.0);
                assert_eq!(levenshtein(a, b) as f32, slow, "{a:?} {b:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn levenshtein_and_bound_agree_with_the_distance(
            a in "[a-e0-2]{0,40}",
            b in "[a-e0-2]{0,40}",
            c in "[bcdfgklmnprstvxz]{1,12}",
        ) {
            let slow = edit(a.as_bytes(), b.as_bytes(), |x, y| if x == y { 0.0 } else { 1.0 }, |_| 1.0);
            proptest::prop_assert_eq!(levenshtein(a.as_bytes(), b.as_bytes()) as f32, slow);
            let (ka, kc) = (a.to_uppercase(), c.to_uppercase());
            for (x, y) in [(ka.as_bytes(), kc.as_bytes()), (kc.as_bytes(), ka.as_bytes())] {
                let slow = edit(x, y, consonant_sub, consonant_indel);
                proptest::prop_assert_eq!(key_edit(x, y).to_bits(), slow.to_bits());
            }
            for (p, q) in [(a.as_bytes(), b.as_bytes()), (a.as_bytes(), c.as_bytes())] {
                let (bp, bq) = (Bag::of(p), Bag::of(q));
                let common: u32 = bp.counts.iter().zip(&bq.counts).map(|(&x, &y)| u32::from(x.min(y))).sum();
                proptest::prop_assert_eq!(bp.distance(&bq), u32::from(bp.len.max(bq.len)) - common);
            }
            let (x, y, z) = (Sound::of(&a), Sound::of(&b), Sound::of(&c));
            for (p, q) in [(&x, &y), (&x, &z), (&z, &y)] {
                proptest::prop_assert!(quick_bound(p, q) <= distance(p, q));
            }
        }
    }

    #[test]
    fn compounds_join() {
        let (wind, shield) = (Sound::of("wind"), Sound::of("shield"));
        let joined = Sound::joined(&[&wind, &shield]);
        assert_eq!(distance(&joined, &Sound::of("windshield")), 0.0);
    }

    #[test]
    fn mandarin_homophones() {
        assert!(d("条", "调") <= 0.1, "条/调 share tiáo");
        assert_eq!(d("两", "二"), 0.0);
        assert!(d("空", "孔") <= 0.25);
        assert!(d("开", "关") >= 0.8);
        assert!(Sound::of("的").small && !Sound::of("空").small);
    }
}
