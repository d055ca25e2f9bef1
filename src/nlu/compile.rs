//! Compiles a language's templates into small matching programs over token ids, and indexes
//! them by their rarest required word, and records the words each can start with, so that
//! one sentence only runs the few programs that can possibly match it (about 11 of the ~120
//! templates its words point to, in the built-in catalog).
//!
//! Compiling consumes the grammar: list values, responses and block data move into the
//! compiled form instead of being copied, and every template's program and required words
//! live in two shared arrays, so a compiled language is a few dozen allocations rather than
//! several per template (allocation was most of the load time).

use super::emit::{Builder, Cache, Scope, Scratch};
use super::error::Result;
use super::forms::number_variants;
use super::grammar::{ContextRule, LanguageGrammar};
use super::hash::{FastHash, NameMap};
use super::lists::{ListDef, ListValue, RangeDef};
use super::normalize::{fold_char, for_each_token, is_cjk};
use super::numbers::NumberWords;
use super::template::ArenaText;
use super::SlotValue;
use compact_str::CompactString;
use std::collections::{BTreeMap, HashMap};

pub(crate) const UNKNOWN: u32 = u32::MAX;

/// In a template's first steps: it can match without taking a word, so no first word rules
/// it out.
const FIRST_ANY: u32 = u32::MAX - 1;
/// In a template's first steps: `FIRST_LIST | list` — it can start with a slot of that list,
/// looked up when matching (`set_list` replaces lists after compiling; a range or wildcard
/// list admits any word). Token ids and list indices stay far below this bit.
const FIRST_LIST: u32 = 1 << 31;

/// One step of a template program. Jump targets are relative to the program's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Inst {
    /// The next token must be this word.
    Tok(u32),
    /// Try `.0` first, then `.1`.
    Split(u32, u32),
    Jmp(u32),
    /// Fill slot `slot` (an index into [`CompiledLanguage::slot_names`]) from list `list`.
    Slot {
        list: u32,
        slot: u32,
    },
    Match,
}

/// One spoken form of a list value: `len` token ids at `start` of the list's `tokens`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Form {
    pub first: u32,
    pub start: u32,
    pub len: u32,
    pub value: u32,
}

/// A list as the matcher uses it. Forms are sorted by their first token (in value order
/// among equal first tokens), so the forms that can start at a word are one binary search.
#[derive(Debug, Clone)]
pub(crate) enum CompiledList {
    Values {
        values: Vec<ListValue>,
        tokens: Vec<u32>,
        forms: Vec<Form>,
    },
    Range(RangeDef),
    Wildcard,
}

impl CompiledList {
    /// Token ids of the forms of a value list that start with `first`, with their value.
    pub fn forms_starting(&self, first: u32) -> impl Iterator<Item = (&[u32], usize)> {
        let (tokens, forms): (&[u32], &[Form]) = match self {
            CompiledList::Values { tokens, forms, .. } => (tokens, forms),
            _ => (&[], &[]),
        };
        let lo = forms.partition_point(|f| f.first < first);
        forms[lo..]
            .iter()
            .take_while(move |f| f.first == first)
            .map(move |f| {
                let start = f.start as usize;
                (&tokens[start..start + f.len as usize], f.value as usize)
            })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledTemplate {
    /// The program is `code[code_start..code_end]` of the language.
    pub code_start: u32,
    pub code_end: u32,
    /// Sorted token ids every match must contain: `required[req_start..req_end]`.
    pub req_start: u32,
    pub req_end: u32,
    /// What the first token of a match can be: `first[first_start..first_end]`.
    pub first_start: u32,
    pub first_end: u32,
    pub block: usize,
    /// The template as written.
    pub text: ArenaText,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledBlock {
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
    pub requires_context: Vec<(String, ContextRule)>,
    pub excludes_context: Vec<(String, Vec<String>)>,
    pub response: Option<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledLanguage {
    pub split_letters: bool,
    pub number_words: NumberWords,
    /// Word → token id. Words are short, so a `CompactString` key needs no allocation.
    pub words: HashMap<CompactString, u32, FastHash>,
    pub lists: Vec<CompiledList>,
    /// Global list name → index in `lists` (block-local lists are not named here).
    pub list_names: NameMap<usize>,
    /// Slot names the programs' `Slot` steps refer to.
    pub slot_names: Vec<String>,
    pub templates: Vec<CompiledTemplate>,
    /// Every template's program, one after the other.
    pub code: Vec<Inst>,
    /// Every template's required token ids, one after the other.
    pub required: Vec<u32>,
    /// Every template's possible first steps (token ids, `FIRST_LIST | list`, `FIRST_ANY`).
    pub first: Vec<u32>,
    pub blocks: Vec<CompiledBlock>,
    /// Templates by indexed word: those of word `w` are
    /// `index_items[index_start[w]..index_start[w + 1]]` (words interned later have none).
    pub index_start: Vec<u32>,
    pub index_items: Vec<u32>,
    pub unindexed: Vec<usize>,
    pub skip_words: Vec<Vec<u32>>,
    pub responses: HashMap<String, BTreeMap<String, String>>,
    /// CJK character → token id, direct-mapped (`(char, id)` slots; empty until needed).
    char_cache: Vec<(char, u32)>,
    /// The sounds of the words, for tolerant matching: built on first use, reset by
    /// `Recognizer::set_list` (which may add words).
    pub vocabulary: std::sync::OnceLock<std::sync::Arc<super::tolerant::Vocabulary>>,
}

impl CompiledLanguage {
    pub fn compile(g: LanguageGrammar) -> Result<CompiledLanguage> {
        let LanguageGrammar {
            language,
            intents,
            mut lists,
            rules,
            skip_words,
            ignore_whitespace,
            responses,
        } = g;
        let mut c = CompiledLanguage {
            split_letters: ignore_whitespace,
            number_words: NumberWords::for_language(language.primary()),
            // A catalog has several hundred words; growing the table from empty rehashes.
            words: HashMap::with_capacity_and_hasher(512, FastHash::default()),
            lists: Vec::new(),
            list_names: NameMap::default(),
            slot_names: Vec::new(),
            templates: Vec::new(),
            code: Vec::new(),
            required: Vec::new(),
            first: Vec::new(),
            blocks: Vec::new(),
            index_start: Vec::new(),
            index_items: Vec::new(),
            unindexed: Vec::new(),
            skip_words: Vec::new(),
            responses,
            char_cache: Vec::new(),
            vocabulary: std::sync::OnceLock::new(),
        };
        let mut names: Vec<String> = lists.keys().cloned().collect();
        names.sort();
        for name in names {
            if let Some(def) = lists.remove(&name) {
                let list = c.compile_list(def);
                c.lists.push(list);
                c.list_names.insert(name, c.lists.len() - 1);
            }
        }
        for w in &skip_words {
            let mut ids = Vec::new();
            c.intern_into(w, &mut ids);
            if !ids.is_empty() {
                c.skip_words.push(ids);
            }
        }
        // Longest skip phrases first, so "帮我" is removed before "我" could be.
        c.skip_words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        let mut cache = Cache::default();
        let mut scratch = Scratch::default();
        for intent in intents {
            for block in intent.blocks {
                let block_index = c.blocks.len();
                // Block-local lists shadow global ones.
                let mut local_lists = NameMap::default();
                let mut local: Vec<(String, ListDef)> = block.lists.into_iter().collect();
                local.sort_by(|a, b| a.0.cmp(&b.0));
                for (name, def) in local {
                    let list = c.compile_list(def);
                    c.lists.push(list);
                    local_lists.insert(name, c.lists.len() - 1);
                }
                let scope = Scope {
                    rules: &rules,
                    local_rules: &block.rules,
                    local_lists: &local_lists,
                    shareable: block.rules.is_empty() && local_lists.is_empty(),
                };
                for template in block.templates {
                    Builder::new(&mut c, &scope, &template, &mut cache, &mut scratch).template()?;
                    c.add_template(&mut scratch, block_index, template.source());
                }
                c.blocks.push(CompiledBlock {
                    intent: intent.name.clone(),
                    slots: block.slots,
                    requires_context: block.requires_context,
                    excludes_context: block.excludes_context,
                    response: block.response,
                    metadata: block.metadata,
                });
            }
        }
        c.build_index();
        Ok(c)
    }

    /// Appends the program and required words left in `scratch` as template `text`.
    fn add_template(&mut self, scratch: &mut Scratch, block: usize, text: ArenaText) {
        let required = &mut scratch.required;
        required.sort_unstable();
        required.dedup();
        let (code_start, req_start) = (self.code.len() as u32, self.required.len() as u32);
        self.code.extend_from_slice(&scratch.program);
        self.required.extend_from_slice(required);
        let first = &mut scratch.first;
        first.clear();
        first_steps(
            &scratch.program,
            first,
            &mut scratch.walk,
            &mut scratch.seen,
        );
        first.sort_unstable();
        first.dedup();
        if first.contains(&FIRST_ANY) {
            first.clear();
            first.push(FIRST_ANY);
        }
        let first_start = self.first.len();
        self.first.extend_from_slice(first);
        self.templates.push(CompiledTemplate {
            code_start,
            code_end: self.code.len() as u32,
            req_start,
            req_end: self.required.len() as u32,
            first_start: first_start as u32,
            first_end: self.first.len() as u32,
            block,
            text,
        });
    }

    /// Whether a match of template `t` can begin with token `first`: a few comparisons that
    /// spare running the program of most templates a sentence's words point to.
    pub fn may_start(&self, t: &CompiledTemplate, first: u32) -> bool {
        self.first[t.first_start as usize..t.first_end as usize]
            .iter()
            .any(|&step| {
                if step == first || step == FIRST_ANY {
                    true
                } else if step & FIRST_LIST != 0 {
                    match self.lists.get((step & !FIRST_LIST) as usize) {
                        Some(list @ CompiledList::Values { .. }) => {
                            list.forms_starting(first).next().is_some()
                        }
                        Some(_) => true,
                        None => false,
                    }
                } else {
                    false
                }
            })
    }

    /// The program of template `t`.
    pub fn program(&self, t: &CompiledTemplate) -> &[Inst] {
        &self.code[t.code_start as usize..t.code_end as usize]
    }

    /// The sorted token ids every match of template `t` contains.
    pub fn required_of(&self, t: &CompiledTemplate) -> &[u32] {
        &self.required[t.req_start as usize..t.req_end as usize]
    }

    /// Templates indexed under word `id`.
    pub fn indexed(&self, id: u32) -> &[u32] {
        let i = id as usize;
        match (self.index_start.get(i), self.index_start.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.index_items[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Appends the token ids of a template fragment or list value, interning new words.
    pub fn intern_into(&mut self, text: &str, out: &mut Vec<u32>) {
        let split = self.split_letters;
        // Han text (what a Mandarin grammar is made of): one token a character, each found in
        // a small direct-mapped cache before folding and hashing.
        if split {
            // Decoded once into a buffer: checking and then interning would decode twice.
            let mut chars = ['\0'; 64];
            let mut n = 0;
            let mut all_cjk = true;
            for c in text.chars().filter(|&c| c != ' ') {
                if n == chars.len() || !is_cjk(c) {
                    all_cjk = false;
                    break;
                }
                chars[n] = c;
                n += 1;
            }
            if all_cjk {
                for &c in &chars[..n] {
                    out.push(self.intern_char(c));
                }
                return;
            }
        }
        for_each_token(text, split, |t| out.push(self.intern(t)));
    }

    /// The token id of CJK character `c` (folded, as `for_each_token` would give it).
    fn intern_char(&mut self, c: char) -> u32 {
        const SLOTS: usize = 1024;
        if self.char_cache.is_empty() {
            self.char_cache = vec![('\0', UNKNOWN); SLOTS];
        }
        let slot = (c as usize ^ (c as usize >> 10)) % SLOTS;
        if self.char_cache[slot].0 == c {
            return self.char_cache[slot].1;
        }
        let mut buf = [0u8; 4];
        let id = self.intern(fold_char(c).encode_utf8(&mut buf));
        self.char_cache[slot] = (c, id);
        id
    }

    pub fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.words.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.insert(CompactString::from(word), id);
        id
    }

    /// The index of slot name `name`, adding it if new.
    pub fn slot_id(&mut self, name: &str) -> u32 {
        match self.slot_names.iter().position(|s| s == name) {
            Some(i) => i as u32,
            None => {
                self.slot_names.push(name.to_string());
                self.slot_names.len() as u32 - 1
            }
        }
    }

    pub fn compile_list(&mut self, list: ListDef) -> CompiledList {
        match list {
            ListDef::Range(r) => CompiledList::Range(r),
            ListDef::Wildcard => CompiledList::Wildcard,
            ListDef::Values(values) => {
                let mut tokens = Vec::new();
                let mut forms = Vec::new();
                for (vi, value) in values.iter().enumerate() {
                    for spoken in &value.spoken {
                        // "twenty ounce" also as "20 ounce", "二十二度" also as "22度".
                        let variants = number_variants(spoken, self.number_words);
                        for form in std::iter::once(spoken.as_str())
                            .chain(variants.iter().map(String::as_str))
                        {
                            let start = tokens.len();
                            self.intern_into(form, &mut tokens);
                            if let Some(&first) = tokens.get(start) {
                                forms.push(Form {
                                    first,
                                    start: start as u32,
                                    len: (tokens.len() - start) as u32,
                                    value: vi as u32,
                                });
                            }
                        }
                    }
                }
                // Stable, so values keep their order among forms with the same first word.
                forms.sort_by_key(|f| f.first);
                CompiledList::Values {
                    values,
                    tokens,
                    forms,
                }
            }
        }
    }

    fn build_index(&mut self) {
        let mut freq = vec![0u32; self.words.len()];
        for &id in &self.required {
            freq[id as usize] += 1;
        }
        let mut keys: Vec<(u32, u32)> = Vec::with_capacity(self.templates.len());
        for (ti, t) in self.templates.iter().enumerate() {
            match self
                .required_of(t)
                .iter()
                .min_by_key(|&&id| (freq[id as usize], id))
            {
                Some(&id) => keys.push((id, ti as u32)),
                None => self.unindexed.push(ti),
            }
        }
        // Counting sort by word: template order within a word is kept.
        let mut start = vec![0u32; self.words.len() + 1];
        for &(id, _) in &keys {
            start[id as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; keys.len()];
        for (id, ti) in keys {
            let at = &mut fill[id as usize];
            items[*at as usize] = ti;
            *at += 1;
        }
        self.index_start = start;
        self.index_items = items;
    }
}

/// Appends the steps a program can take first (following splits and jumps): the words it
/// can start with, `FIRST_LIST | list` for a list slot, `FIRST_ANY` when it can match
/// nothing at all. A program that is cut short (budget, bad jump) only loses candidates
/// it could never have matched.
fn first_steps(program: &[Inst], out: &mut Vec<u32>, walk: &mut Vec<u32>, seen: &mut Vec<u32>) {
    // Only splits and jumps lead on, and a template starts with a handful of them, so the
    // ones visited are a short list rather than a flag per instruction of the program.
    seen.clear();
    walk.clear();
    walk.push(0);
    while let Some(pc) = walk.pop() {
        match program.get(pc as usize) {
            Some(&Inst::Tok(id)) => out.push(id),
            Some(&Inst::Slot { list, .. }) => out.push(FIRST_LIST | list),
            Some(Inst::Match) => out.push(FIRST_ANY),
            Some(&Inst::Split(a, b)) if !seen.contains(&pc) => {
                seen.push(pc);
                walk.extend([b, a]);
            }
            Some(&Inst::Jmp(a)) if !seen.contains(&pc) => {
                seen.push(pc);
                walk.push(a);
            }
            _ => {}
        }
    }
}
