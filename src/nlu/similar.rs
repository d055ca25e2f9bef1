//! Which known sentences look most like a new one: TF-IDF over words, word pairs and
//! character n-grams (single characters and pairs for Chinese), cosine similarity, an
//! inverted index. No model, no I/O, microseconds per query — it picks the examples a small
//! LLM is shown, which matters more to it than any instruction.

use super::normalize::fold_char;
use std::collections::HashMap;

/// An index over labelled sentences (`T` is what a hit returns with its score).
#[derive(Debug, Clone)]
pub struct SimilarityIndex<T> {
    items: Vec<T>,
    idf: HashMap<u64, f32>,
    /// Weight of a feature seen in no document.
    unseen_idf: f32,
    /// feature → (document, normalised weight).
    postings: HashMap<u64, Vec<(u32, f32)>>,
}

fn hash(parts: &[&str], kind: u8) -> u64 {
    // FNV-1a: stable across runs and platforms, so the index is deterministic.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(kind);
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Features of a sentence with their counts. Words are runs of letters/digits (Latin) and
/// every Han character stands alone, so mixed-script sentences work in either language.
fn features(text: &str) -> HashMap<u64, f32> {
    let folded: String = text
        .chars()
        .map(|c| fold_char(c).to_ascii_lowercase())
        .collect();
    let mut words: Vec<String> = Vec::new();
    let mut han: Vec<char> = Vec::new();
    let mut cur = String::new();
    for c in folded.chars() {
        if is_han(c) {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            han.push(c);
        } else if c.is_alphanumeric() || c == '\'' {
            cur.push(c);
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut f: HashMap<u64, f32> = HashMap::new();
    let mut add = |h: u64| *f.entry(h).or_default() += 1.0;
    for w in &words {
        add(hash(&[w], 0));
    }
    for p in words.windows(2) {
        add(hash(&[&p[0], &p[1]], 1));
    }
    // Character 4-grams of the Latin text catch inflections ("heating" ~ "heated").
    let latin: Vec<char> = format!(" {} ", words.join(" ")).chars().collect();
    if words.iter().map(|w| w.chars().count()).sum::<usize>() > 0 {
        for g in latin.windows(4) {
            let s: String = g.iter().collect();
            add(hash(&[&s], 2));
        }
    }
    let mut buf = [0u8; 8];
    for (i, c) in han.iter().enumerate() {
        add(hash(&[c.encode_utf8(&mut buf)], 3));
        if let Some(next) = han.get(i + 1) {
            let pair: String = [*c, *next].iter().collect();
            add(hash(&[&pair], 4));
        }
    }
    f
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

impl<T> SimilarityIndex<T> {
    /// Index `docs` (sentence, label).
    pub fn new(docs: impl IntoIterator<Item = (String, T)>) -> Self {
        let (texts, items): (Vec<String>, Vec<T>) = docs.into_iter().unzip();
        let feats: Vec<HashMap<u64, f32>> = texts.iter().map(|t| features(t)).collect();
        let mut df: HashMap<u64, u32> = HashMap::new();
        for f in &feats {
            for k in f.keys() {
                *df.entry(*k).or_default() += 1;
            }
        }
        let n = feats.len() as f32;
        let idf: HashMap<u64, f32> = df
            .into_iter()
            .map(|(k, d)| (k, ((n + 1.0) / (d as f32 + 1.0)).ln() + 1.0))
            .collect();
        let unseen_idf = (n + 1.0).ln() + 1.0;
        let mut postings: HashMap<u64, Vec<(u32, f32)>> = HashMap::new();
        for (doc, f) in feats.iter().enumerate() {
            let v = weigh(f, &idf, unseen_idf);
            for (k, w) in v {
                postings.entry(k).or_default().push((doc as u32, w));
            }
        }
        Self {
            items,
            idf,
            unseen_idf,
            postings,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `k` most similar documents, best first, with their cosine similarity (0..1);
    /// documents sharing nothing with `text` are never returned. Ties keep index order.
    pub fn nearest(&self, text: &str, k: usize) -> Vec<(&T, f32)> {
        let q = weigh(&features(text), &self.idf, self.unseen_idf);
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for (feature, w) in q {
            if let Some(p) = self.postings.get(&feature) {
                for (doc, dw) in p {
                    *scores.entry(*doc).or_default() += w * dw;
                }
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores.into_iter().filter(|(_, s)| *s > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .filter_map(|(doc, s)| self.items.get(doc as usize).map(|t| (t, s.min(1.0))))
            .collect()
    }
}

/// TF-IDF weights, L2-normalised.
fn weigh(f: &HashMap<u64, f32>, idf: &HashMap<u64, f32>, unseen: f32) -> Vec<(u64, f32)> {
    let mut v: Vec<(u64, f32)> = f
        .iter()
        .map(|(k, c)| (*k, c * idf.get(k).copied().unwrap_or(unseen)))
        .collect();
    let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut v {
            *w /= norm;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::SimilarityIndex;

    #[test]
    fn nearest_sentences_share_words_or_characters() {
        let idx = SimilarityIndex::new(
            [
                ("turn on the seat heating", "seat"),
                ("open the driver window", "window"),
                ("play some jazz music", "media"),
                ("打开座椅加热", "seat"),
                ("关闭车窗", "window"),
            ]
            .map(|(t, l)| (t.to_string(), l)),
        );
        assert_eq!(idx.nearest("my seat is cold, heat it up", 1)[0].0, &"seat");
        assert_eq!(idx.nearest("Roll down the WINDOW", 1)[0].0, &"window");
        assert_eq!(idx.nearest("座椅有点凉，加热一下", 1)[0].0, &"seat");
        assert_eq!(idx.nearest("把车窗关上", 1)[0].0, &"window");
        let hits = idx.nearest("play jazz", 5);
        assert!(hits[0].1 > 0.3 && hits[0].1 <= 1.0, "{hits:?}");
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(idx.nearest("", 3).is_empty());
        assert!(idx.nearest("🚗🚗🚗", 3).is_empty());
    }
}
