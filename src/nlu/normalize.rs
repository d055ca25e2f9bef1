//! Text normalisation shared by templates, list values and what the user said: width and
//! script folding, case folding, punctuation removal and tokenisation.
//!
//! Whisper writes Mandarin in Traditional characters now and then, and full-width digits and
//! punctuation, so both are folded before matching. Han characters are one token each, which
//! makes Chinese matching independent of spacing (hassil's `ignore_whitespace`).

use std::sync::OnceLock;

/// One token of normalised text; `start..end` are byte offsets into [`Normalized::display`].
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// The input folded to half-width Simplified characters, case kept (used for wildcards).
    pub display: String,
    pub tokens: Vec<Token>,
}

/// Traditional → Simplified pairs for the characters of the cockpit / phone domain (and the
/// most frequent ones around them). Alternating: traditional, simplified. Every character of
/// the zh-CN catalog and its sentence table that has a Traditional form is covered (checked
/// against OpenCC's s2t/t2s when the catalog was written; re-check when adding phrasings).
const TRAD_SIMP: &str =
    "開开關关溫温調调設设車车門门戶户導导電电話话給给媽妈節节歡欢聽听樂乐廣广頻频\
風风氣气熱热涼凉動动聲声響响還还後后輛辆駕驾駛驶臺台點点幾几時时間间現现幫帮請请這这個个\
裡里裏里廳厅場场飯饭館馆預预報报們们說说訊讯發发簡简傳传撥拨掛挂來来視视單单暫暂繼继續续\
機机條条態态滿满為为與与麼么嗎吗啟启啓启閉闭將将從从兒儿爺爷終终無无線线網网處处讓让對对\
錯错號号碼码聯联係系絡络剛刚數数霧雾雲云陽阳颱台濕湿溼湿檔档擋挡級级鎖锁頂顶層层際际內内\
環环壓压燈灯亂乱聞闻問问題题錄录隨随東东買买賣卖務务區区遠远邊边離离達达麥麦勞劳記记憶忆\
體体積积廁厕藥药醫医銀银貨货萬万億亿兩两參参陸陆負负雙双側侧驗验舊旧鐘钟鍾钟週周讀读換换\
種种頭头寫写訴诉語语願愿謝谢轉转歷历適适乾干淨净餓饿飲饮麵面燒烧雞鸡魚鱼鮮鲜劇剧樓楼費费\
鄰邻尋寻見见聊聊媒媒體体廣广播播專专輯辑鬧闹鈴铃態态節节歌歌熱热暖暖霜霜窗窗換换檔档開开\
導导航航園园華华夢梦館馆廠厂塊块葉叶鳥鸟龍龙門门問问簡简變变節节熱热較较師师麗丽紅红綠绿\
藍蓝黃黄黑黑白白靜静吵吵鬆松緊紧設设備备則则義义學学習习愛爱親亲爸爸爺爷奶奶嗎吗呢呢麼么\
氣气溫温濕湿燥燥淋淋滅灭慢慢快快檢检測测試试縮缩擴扩顯显示示錶表誤误認认證证響响訂订餐餐\
廳厅點点購购物物館馆療疗診诊際际郵邮政政險险銷销員员總总價价錢钱貴贵賓宾館馆飯饭店店務务\
爲为會会傘伞倫伦況况減减劃划刪删別别廂厢喫吃圍围國国圖图復复夠够簾帘帶带張张攝摄搖摇斷断傑杰樣样橋桥樁桩沒没煙烟煩烦燙烫經经結结絕绝縫缝髒脏薦荐規规覺觉議议講讲識识詞词該该誰谁貿贸輪轮過过鍵键悶闷難难馬马\
纔才繫系闆板著着隻只於于準准餘余衝冲託托髮发曆历麪面齣出幹干捨舍穀谷製制彙汇颳刮範范嘆叹當当噹当黨党麼么嗎吗裏里誌志鬥斗讚赞蹟迹麵面\
書书實实長长鐵铁鏡镜閃闪閱阅陣阵隊队階阶陰阴雖虽頁页順顺須须領领類类顏颜飛飞驚惊齊齐亞亚優优冊册凍冻勝胜協协嚴严圓圆團团壞坏奮奋婦妇孫孙寶宝歲岁幣币彈弹戰战擊击據据擔担擇择權权歸归殺杀決决漢汉潔洁濃浓灣湾爭争爾尔牆墙獎奖獨独產产畫画盤盘眾众確确禮礼穩稳筆笔築筑糧粮紀纪約约紙纸細细組组統统練练罷罢聖圣腦脑臉脸興兴舉举藝艺蘭兰蟲虫術术衛卫補补複复覽览觀观計计討讨訓训許许詩诗論论護护貝贝財财資资賽赛贏赢趕赶跡迹躍跃軍军軟软載载輕轻輸输辦办農农連连進进遊游運运違违選选遺遗鄉乡釋释針针鋼钢閒闲陳陈雜杂韓韩項项額额養养騎骑鹽盐齒齿龜龟";

/// The Traditional → Simplified table: pairs sorted by the Traditional character, and a bit
/// per low-16-bit code point that may have an entry, so that a character without one (nearly
/// every character of a Simplified template or sentence) costs one bit test.
struct TradTable {
    pairs: Vec<(char, char)>,
    maybe: Vec<u64>,
}

fn trad_table() -> &'static TradTable {
    static TABLE: OnceLock<TradTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let chars: Vec<char> = TRAD_SIMP.chars().filter(|c| !c.is_whitespace()).collect();
        let mut pairs: Vec<(char, char)> = chars
            .chunks_exact(2)
            .filter(|p| p[0] != p[1])
            .map(|p| (p[0], p[1]))
            .collect();
        // Repeated entries agree (a test checks), so keeping either is the same.
        pairs.sort_by_key(|p| p.0);
        pairs.dedup_by_key(|p| p.0);
        let mut maybe = vec![0u64; 1 << 10];
        for &(t, _) in &pairs {
            let low = t as usize & 0xFFFF;
            maybe[low >> 6] |= 1 << (low & 63);
        }
        TradTable { pairs, maybe }
    })
}

/// Folds one character: full-width → half-width, Traditional → Simplified, curly quotes.
pub fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\u{2019}' | '\u{2018}' | '\u{02BC}' => '\'',
        '\u{2212}' | '\u{2013}' | '\u{2014}' => '-',
        '\u{00A0}' => ' ',
        _ if (c as u32) >= 0x4E00 => {
            let table = trad_table();
            let low = c as usize & 0xFFFF;
            if table.maybe[low >> 6] & (1 << (low & 63)) == 0 {
                return c;
            }
            match table.pairs.binary_search_by_key(&c, |p| p.0) {
                Ok(i) => table.pairs[i].1,
                Err(_) => c,
            }
        }
        _ => c,
    }
}

/// Han, kana and hangul: written without spaces, so each is a token of its own.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Lower-case words, and single characters for text written without spaces (CJK): the
/// units in which the ASR prompt and the answer gate count words.
pub fn units(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() || c == '\'' {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Normalises and tokenises. With `split_letters` (hassil's `ignore_whitespace`) every letter
/// is a token of its own, so spacing never matters; digits stay grouped as numbers.
pub fn normalize(text: &str, split_letters: bool) -> Normalized {
    let display: String = text.chars().map(fold_char).collect();
    let chars: Vec<(usize, char)> = display.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let is_word = |c: char| c.is_alphanumeric() && !is_cjk(c);
    while i < chars.len() {
        let (start, c) = chars[i];
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let end_of = |j: usize| chars.get(j).map(|&(b, _)| b).unwrap_or(display.len());
        if is_cjk(c) || c == '%' || c == '°' {
            tokens.push(Token {
                text: c.to_lowercase().collect(),
                start,
                end: end_of(i + 1),
            });
            i += 1;
        } else if c == '℃' {
            tokens.push(Token {
                text: "°c".into(),
                start,
                end: end_of(i + 1),
            });
            i += 1;
        } else if is_word(c) || ((c == '-' || c == '+') && next.is_some_and(|n| n.is_ascii_digit()))
        {
            let numeric = !c.is_alphabetic();
            let mut j = i + 1;
            if !(split_letters && c.is_alphabetic()) {
                while j < chars.len() {
                    let d = chars[j].1;
                    let after = chars.get(j + 1).map(|&(_, n)| n);
                    let prev = chars[j - 1].1;
                    let keep = if numeric {
                        d.is_ascii_digit()
                            || (matches!(d, '.' | ',')
                                && prev.is_ascii_digit()
                                && after.is_some_and(|a| a.is_ascii_digit()))
                    } else if split_letters {
                        false
                    } else {
                        // Apostrophes stay inside words ("don't"), except the possessive /
                        // contracted "'s", which becomes a token of its own so that templates
                        // can write `<name>['s]`.
                        let possessive = after == Some('s')
                            && !chars.get(j + 2).is_some_and(|&(_, c)| c.is_alphanumeric());
                        is_word(d)
                            || (d == '\''
                                && prev.is_alphabetic()
                                && after.is_some_and(|a| a.is_alphabetic())
                                && !possessive)
                    };
                    if !keep {
                        break;
                    }
                    j += 1;
                }
            }
            let raw = &display[start..end_of(j)];
            let text: String = if numeric {
                raw.replace(',', "")
            } else {
                raw.to_lowercase()
            };
            tokens.push(Token {
                text,
                start,
                end: end_of(j),
            });
            i = j;
        } else {
            i += 1;
        }
    }
    Normalized { display, tokens }
}

/// Normalised token texts of a template fragment or list value.
pub fn token_texts(text: &str, split_letters: bool) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, split_letters, |t| out.push(t.to_string()));
    out
}

/// Calls `f` with each normalised token of a template fragment or list value, in order.
///
/// Fast paths for what templates are almost always made of (lowercase English words, or Han
/// characters) give exactly `normalize`'s tokens without allocating; loading a catalog
/// tokenises thousands of fragments.
pub fn for_each_token(text: &str, split_letters: bool, mut f: impl FnMut(&str)) {
    if !split_letters && lowercase_words(text, &mut f) {
        return;
    }
    // Folding keeps a character CJK or not CJK (a test checks every character), so the
    // check needs no folding.
    if split_letters && text.chars().all(|c| c == ' ' || is_cjk(c)) {
        let mut buf = [0u8; 4];
        for c in text.chars().filter(|&c| c != ' ') {
            f(fold_char(c).encode_utf8(&mut buf));
        }
        return;
    }
    for t in normalize(text, split_letters).tokens {
        f(&t.text);
    }
}

/// The tokens of text made of lowercase ASCII letters, spaces, `/`, `-` (not before a digit)
/// and apostrophes, in one pass with exactly `normalize`'s rules: calls `f` with each and
/// returns `true`; returns `false` without calling it when `text` has any other byte (or more
/// words than a template fragment has).
fn lowercase_words(text: &str, f: &mut impl FnMut(&str)) -> bool {
    const MAX: usize = 16;
    let b = text.as_bytes();
    let mut words = [(0usize, 0usize); MAX];
    let (mut n, mut start) = (0, None);
    for (i, &c) in b.iter().enumerate() {
        let in_word = match c {
            b'a'..=b'z' => true,
            // Inside a word between letters ("i'm"), except the possessive / contracted
            // "'s" at the end of a word, which `normalize` makes a token of its own.
            b'\'' => {
                let next = b.get(i + 1).copied();
                let possessive =
                    next == Some(b's') && !b.get(i + 2).is_some_and(|c| c.is_ascii_alphanumeric());
                start.is_some() && next.is_some_and(|c| c.is_ascii_lowercase()) && !possessive
            }
            b' ' | b'/' => false,
            b'-' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => false,
            _ => return false,
        };
        if in_word {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            if n == MAX {
                return false;
            }
            words[n] = (s, i);
            n += 1;
        }
    }
    if let Some(s) = start {
        if n == MAX {
            return false;
        }
        words[n] = (s, text.len());
        n += 1;
    }
    for &(a, b) in &words[..n] {
        f(&text[a..b]);
    }
    true
}

/// Punctuation hassil removes before matching (its `PUNCTUATION_STR`), after our own width
/// folding: `。，？！；：` arrive here half-width.
fn is_punct(c: char) -> bool {
    matches!(
        c,
        '.' | '。'
            | ','
            | '，'
            | '?'
            | '¿'
            | '？'
            | '؟'
            | '!'
            | '¡'
            | '！'
            | ';'
            | '；'
            | ':'
            | '：'
            | '’'
            | '…'
            | '—'
            | '–'
            | '―'
    )
}

/// Python's `\w`.
fn is_w(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// One `re.sub(pattern, "", text)` pass over `chars`: removes the leftmost-longest runs of
/// `set` characters (at most `max` long) whose previous characters satisfy `before` and
/// whose next character satisfies `after` (`None` = start / end of text).
fn sub_runs(
    chars: &[char],
    set: impl Fn(char) -> bool,
    max: usize,
    before: impl Fn(&[char], usize) -> bool,
    after: impl Fn(Option<char>) -> bool,
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if set(chars[i]) && before(chars, i) {
            let mut run = 0;
            while i + run < chars.len() && run < max && set(chars[i + run]) {
                run += 1;
            }
            if let Some(k) = (1..=run).rev().find(|&k| after(chars.get(i + k).copied())) {
                i += k;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Whether `chars` ends in an initialism such as `A.C.` (Python `\b(?:\w\.){2,}$`).
fn ends_in_initialism(chars: &[char]) -> bool {
    let mut pairs = 0;
    let mut end = chars.len();
    while end >= 2 && chars[end - 1] == '.' && is_w(chars[end - 2]) {
        pairs += 1;
        end -= 2;
    }
    pairs >= 3 || (pairs == 2 && (end == 0 || !is_w(chars[end - 1])))
}

/// Removes punctuation the way hassil's `remove_punctuation` does (from the start and end of
/// the text and of words, keeping initialisms such as "A.C." and apostrophes inside words),
/// so that wildcard values are what Home Assistant users get: "Dr. Lee" → "Dr Lee".
pub fn remove_punctuation(text: &str) -> String {
    let any = |c: char| is_punct(c);
    let not_period = |c: char| is_punct(c) && c != '.';
    let prev_w = |s: &[char], i: usize| i > 0 && is_w(s[i - 1]);
    let prev_nw = |s: &[char], i: usize| i > 0 && !is_w(s[i - 1]);
    let next_w = |c: Option<char>| c.is_some_and(is_w);
    let next_nw = |c: Option<char>| c.is_some_and(|c| !is_w(c));
    let mut chars: Vec<char> = text.chars().collect();
    chars = sub_runs(&chars, any, usize::MAX, |_, i| i == 0, |_| true);
    if !ends_in_initialism(&chars) {
        chars = sub_runs(&chars, any, usize::MAX, |_, _| true, |c| c.is_none());
    }
    chars = sub_runs(&chars, any, usize::MAX, prev_nw, next_w);
    chars = sub_runs(&chars, not_period, usize::MAX, prev_w, next_nw);
    chars = sub_runs(
        &chars,
        |c| c == '.',
        1,
        |s, i| !(i >= 3 && is_w(s[i - 3]) && s[i - 2] == '.' && is_w(s[i - 1])),
        next_nw,
    );
    chars = sub_runs(&chars, any, usize::MAX, prev_nw, next_nw);
    chars.into_iter().collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn toks(s: &str, split: bool) -> Vec<String> {
        token_texts(s, split)
    }

    #[test]
    fn english_words_numbers_and_punctuation() {
        assert_eq!(
            toks("Set it to 22.5°C, please!", false),
            ["set", "it", "to", "22.5", "°", "c", "please"]
        );
        assert_eq!(
            toks("I'm cold -5 twenty-two 50%", false),
            ["i'm", "cold", "-5", "twenty", "two", "50", "%"]
        );
        assert_eq!(
            toks("what's the kitchen's light", false),
            ["what", "s", "the", "kitchen", "s", "light"]
        );
        assert_eq!(toks("'s", false), ["s"]);
        assert_eq!(toks("1,000 people", false), ["1000", "people"]);
    }

    #[test]
    fn chinese_traditional_and_full_width_fold() {
        assert_eq!(
            toks("把溫度調到２２度。", true),
            ["把", "温", "度", "调", "到", "22", "度"]
        );
        assert_eq!(toks("開啟 空調", true), toks("开启空调", true));
        assert_eq!(
            toks("設置十分鐘計時器", true),
            toks("设置十分钟计时器", true)
        );
        assert_eq!(toks("打开AC", true), ["打", "开", "a", "c"]);
        assert_eq!(toks("二十二℃", true), ["二", "十", "二", "°c"]);
    }

    #[test]
    fn table_pairs_are_well_formed() {
        let chars: Vec<char> = TRAD_SIMP.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(chars.len() % 2, 0);
        let mut seen = HashMap::new();
        for p in chars.chunks_exact(2) {
            if let Some(prev) = seen.insert(p[0], p[1]) {
                assert_eq!(prev, p[1], "conflicting entries for {}", p[0]);
            }
        }
    }

    #[test]
    fn punctuation_is_removed_like_hassil() {
        assert_eq!(remove_punctuation("Dr. Lee"), "Dr Lee");
        assert_eq!(remove_punctuation("I'm running late!"), "I'm running late");
        assert_eq!(remove_punctuation("the A.C."), "the A.C.");
        assert_eq!(remove_punctuation("hello, world... ok?"), "hello world ok");
        assert_eq!(remove_punctuation("3.5 km"), "3.5 km");
        assert_eq!(remove_punctuation("...wait"), "wait");
    }

    #[test]
    fn folding_keeps_characters_cjk_or_not() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(is_cjk(c), is_cjk(fold_char(c)), "{c:?}");
        }
    }

    #[test]
    fn ascii_fast_path_agrees_with_normalize_on_every_short_string() {
        let alphabet = ['a', 's', 'm', ' ', '\'', '/', '-', '1', 'B', '.'];
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        texts.dedup();
        for t in &texts {
            let slow: Vec<String> = normalize(t, false)
                .tokens
                .into_iter()
                .map(|t| t.text)
                .collect();
            assert_eq!(token_texts(t, false), slow, "{t:?}");
        }
    }

    #[test]
    fn token_fast_paths_agree_with_normalize() {
        let slow = |t: &str, split: bool| -> Vec<String> {
            normalize(t, split)
                .tokens
                .into_iter()
                .map(|t| t.text)
                .collect()
        };
        for (t, split) in [
            ("turn on the  lights ", false),
            ("", false),
            (" ", false),
            ("a b c d e f g h i j k l m n o p q r s", false),
            ("it's a/c", false),
            ("driver's side i'm what's 's co-driver x'", false),
            ("打开 空调", true),
            ("開啟空調", true),
            ("龘", true),
        ] {
            assert_eq!(token_texts(t, split), slow(t, split), "{t:?}");
        }
    }

    #[test]
    fn display_keeps_case_for_wildcards() {
        let n = normalize("Navigate to Main Street", false);
        let last = &n.tokens[3];
        assert_eq!(&n.display[last.start..last.end], "Street");
    }
}
