//! Compiles a language's templates into small matching programs over token ids, and indexes
//! them by their rarest required word so that one sentence only runs the few programs that
//! can possibly match it.

use super::error::{Location, NluError, Result};
use super::glue::{glue, needs_glue};
use super::grammar::{ContextRule, DataBlock, LanguageGrammar, RuleDef};
use super::lists::{ListDef, ListValue, RangeDef};
use super::normalize::token_texts;
use super::numbers::NumberWords;
use super::template::Expr;
use super::SlotValue;
use std::collections::{BTreeMap, HashMap};

pub(crate) const UNKNOWN: u32 = u32::MAX;

/// One step of a template program.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inst {
    /// The next token must be this word.
    Tok(u32),
    /// Try `.0` first, then `.1`.
    Split(usize, usize),
    Jmp(usize),
    /// Fill slot `slot` (an index into the template's slot names) from list `list`.
    Slot {
        list: usize,
        slot: usize,
    },
    Match,
}

/// A list as the matcher uses it. Values are indexed by their first token.
#[derive(Debug, Clone)]
pub(crate) enum CompiledList {
    Values {
        values: Vec<ListValue>,
        forms: Vec<(Vec<u32>, usize)>,
        by_first: HashMap<u32, Vec<usize>>,
    },
    Range(RangeDef),
    Wildcard,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledTemplate {
    pub program: Vec<Inst>,
    pub slot_names: Vec<String>,
    /// Sorted token ids every match must contain.
    pub required: Vec<u32>,
    pub block: usize,
    pub text: String,
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
    pub words: HashMap<String, u32, FastHash>,
    pub lists: Vec<CompiledList>,
    /// Global list name → index in `lists` (block-local lists are not named here).
    pub list_names: HashMap<String, usize>,
    pub templates: Vec<CompiledTemplate>,
    pub blocks: Vec<CompiledBlock>,
    pub index: HashMap<u32, Vec<usize>>,
    pub unindexed: Vec<usize>,
    pub skip_words: Vec<Vec<u32>>,
    pub responses: HashMap<String, BTreeMap<String, String>>,
}

/// Permutations of more items than this are refused (n! programs).
const MAX_PERMUTATION: usize = 5;
/// Expansion rules nested deeper than this are refused (and bound the compiler's recursion).
const MAX_RULE_DEPTH: usize = 64;
/// Instructions one template may compile to; permutations and rules multiply quickly.
const MAX_PROGRAM: usize = 200_000;

impl CompiledLanguage {
    pub fn compile(g: &LanguageGrammar) -> Result<CompiledLanguage> {
        let mut c = CompiledLanguage {
            split_letters: g.ignore_whitespace,
            number_words: NumberWords::for_language(g.language.primary()),
            words: HashMap::default(),
            lists: Vec::new(),
            list_names: HashMap::new(),
            templates: Vec::new(),
            blocks: Vec::new(),
            index: HashMap::new(),
            unindexed: Vec::new(),
            skip_words: Vec::new(),
            responses: g.responses.clone(),
        };
        let mut names: Vec<&String> = g.lists.keys().collect();
        names.sort();
        for name in names {
            let list = c.compile_list(&g.lists[name]);
            c.lists.push(list);
            c.list_names.insert(name.clone(), c.lists.len() - 1);
        }
        for w in &g.skip_words {
            let ids: Vec<u32> = token_texts(w, c.split_letters)
                .iter()
                .map(|t| c.intern(t))
                .collect();
            if !ids.is_empty() {
                c.skip_words.push(ids);
            }
        }
        // Longest skip phrases first, so "帮我" is removed before "我" could be.
        c.skip_words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        let mut cache = Cache::default();
        for intent in &g.intents {
            for block in &intent.blocks {
                c.compile_block(g, &intent.name, block, &mut cache)?;
            }
        }
        c.build_index();
        Ok(c)
    }

    /// Token ids of a template fragment or list value, interning new words.
    fn intern_text(&mut self, text: &str) -> Vec<u32> {
        token_texts(text, self.split_letters)
            .iter()
            .map(|t| self.intern(t))
            .collect()
    }

    pub fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.words.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.insert(word.to_string(), id);
        id
    }

    pub fn compile_list(&mut self, list: &ListDef) -> CompiledList {
        match list {
            ListDef::Range(r) => CompiledList::Range(r.clone()),
            ListDef::Wildcard => CompiledList::Wildcard,
            ListDef::Values(values) => {
                let mut forms = Vec::new();
                let mut by_first: HashMap<u32, Vec<usize>> = HashMap::new();
                for (vi, value) in values.iter().enumerate() {
                    for spoken in &value.spoken {
                        let ids: Vec<u32> = token_texts(spoken, self.split_letters)
                            .iter()
                            .map(|t| self.intern(t))
                            .collect();
                        if let Some(&first) = ids.first() {
                            by_first.entry(first).or_default().push(forms.len());
                            forms.push((ids, vi));
                        }
                    }
                }
                CompiledList::Values {
                    values: values.clone(),
                    forms,
                    by_first,
                }
            }
        }
    }

    fn compile_block(
        &mut self,
        g: &LanguageGrammar,
        intent: &str,
        block: &DataBlock,
        cache: &mut Cache,
    ) -> Result<()> {
        let block_index = self.blocks.len();
        self.blocks.push(CompiledBlock {
            intent: intent.to_string(),
            slots: block.slots.clone(),
            requires_context: block.requires_context.clone(),
            excludes_context: block.excludes_context.clone(),
            response: block.response.clone(),
            metadata: block.metadata.clone(),
        });
        // Block-local lists shadow global ones.
        let mut local_lists = HashMap::new();
        let mut local: Vec<(&String, &ListDef)> = block.lists.iter().collect();
        local.sort_by(|a, b| a.0.cmp(b.0));
        for (name, def) in local {
            let list = self.compile_list(def);
            self.lists.push(list);
            local_lists.insert(name.clone(), self.lists.len() - 1);
        }
        // Rule fragments compiled for other blocks are only valid where no block-local rule or
        // list can shadow what they refer to.
        let shareable = block.rules.is_empty() && block.lists.is_empty();
        for template in &block.templates {
            let mut b = Builder {
                c: self,
                g,
                local_rules: &block.rules,
                local_lists: &local_lists,
                location: &template.location,
                text: &template.text,
                program: Vec::with_capacity(256),
                slot_names: Vec::new(),
                rule_stack: Vec::new(),
                cache: &mut *cache,
                shareable,
            };
            let mut required = Vec::new();
            b.emit(&template.expr, &mut required)?;
            required.sort_unstable();
            required.dedup();
            b.program.push(Inst::Match);
            let (program, slot_names) = (b.program, b.slot_names);
            self.templates.push(CompiledTemplate {
                program,
                slot_names,
                required,
                block: block_index,
                text: template.text.clone(),
            });
        }
        Ok(())
    }

    fn build_index(&mut self) {
        let mut freq: HashMap<u32, usize> = HashMap::new();
        for t in &self.templates {
            for &id in &t.required {
                *freq.entry(id).or_default() += 1;
            }
        }
        for (ti, t) in self.templates.iter().enumerate() {
            match t
                .required
                .iter()
                .min_by_key(|&&id| (freq.get(&id).copied().unwrap_or(0), id))
            {
                Some(&id) => self.index.entry(id).or_default().push(ti),
                None => self.unindexed.push(ti),
            }
        }
    }
}

/// A grammar-wide FxHash-style hasher: compiling hashes thousands of short words, and
/// SipHash's flooding resistance buys nothing for the grammar's own words.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FastHash = std::hash::BuildHasherDefault<FastHasher>;

/// What compiling one language reuses across templates: the token ids of each distinct text,
/// and each expansion rule compiled once (rules such as `<turn_on>` appear in hundreds of
/// templates; re-expanding them per use was most of the load time).
#[derive(Default)]
struct Cache {
    texts: HashMap<String, Vec<u32>, FastHash>,
    rules: HashMap<String, Fragment, FastHash>,
}

/// A compiled expansion rule: code with jump targets relative to its start, the slot names its
/// `Slot` steps index, and the words every match of it contains.
struct Fragment {
    program: Vec<Inst>,
    slot_names: Vec<String>,
    required: Vec<u32>,
}

struct Builder<'a> {
    c: &'a mut CompiledLanguage,
    g: &'a LanguageGrammar,
    local_rules: &'a HashMap<String, RuleDef>,
    local_lists: &'a HashMap<String, usize>,
    location: &'a Location,
    text: &'a str,
    program: Vec<Inst>,
    slot_names: Vec<String>,
    rule_stack: Vec<String>,
    cache: &'a mut Cache,
    /// Whether rule fragments may be taken from and put into `cache.rules`.
    shareable: bool,
}

/// Intersection of two sorted, deduplicated lists.
fn intersection(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter().copied().filter(|x| b.binary_search(x).is_ok()).collect()
}

impl Builder<'_> {
    /// Emits code for `expr` and adds to `req` the token ids any match of it must contain
    /// (unsorted, possibly repeated).
    fn emit(&mut self, expr: &Expr, req: &mut Vec<u32>) -> Result<()> {
        if self.program.len() > MAX_PROGRAM {
            return Err(self.too_big(format!(
                "the template expands to more than {MAX_PROGRAM} steps"
            )));
        }
        match expr {
            Expr::Text(text) => {
                if !self.cache.texts.contains_key(text.as_str()) {
                    let ids = self.c.intern_text(text);
                    self.cache.texts.insert(text.clone(), ids);
                }
                if let Some(ids) = self.cache.texts.get(text.as_str()) {
                    self.program.extend(ids.iter().map(|&id| Inst::Tok(id)));
                    req.extend_from_slice(ids);
                }
                Ok(())
            }
            Expr::Seq(items) => {
                let glued;
                let items = if !self.c.split_letters && needs_glue(items) {
                    glued = glue(items);
                    &glued[..]
                } else {
                    &items[..]
                };
                for item in items {
                    self.emit(item, req)?;
                }
                Ok(())
            }
            Expr::Alt(items) => self.emit_alt(items, req),
            Expr::Perm(items) => {
                if items.len() > MAX_PERMUTATION {
                    return Err(self.too_big(format!(
                        "a permutation (a;b;…) may have at most {MAX_PERMUTATION} items"
                    )));
                }
                let orders: Vec<Expr> = permutations(items.len())
                    .into_iter()
                    .map(|order| Expr::Seq(order.into_iter().map(|i| items[i].clone()).collect()))
                    .collect();
                self.emit_alt(&orders, req)
            }
            Expr::List { name, slot } => {
                let list = match self
                    .local_lists
                    .get(name)
                    .or_else(|| self.c.list_names.get(name))
                {
                    Some(&l) => l,
                    None => {
                        // Unknown lists are dynamic: empty until `Recognizer::set_list` fills them.
                        let list = self.c.compile_list(&ListDef::Values(Vec::new()));
                        self.c.lists.push(list);
                        let l = self.c.lists.len() - 1;
                        self.c.list_names.insert(name.clone(), l);
                        l
                    }
                };
                let slot = match self.slot_names.iter().position(|s| s == slot) {
                    Some(i) => i,
                    None => {
                        self.slot_names.push(slot.clone());
                        self.slot_names.len() - 1
                    }
                };
                self.program.push(Inst::Slot { list, slot });
                Ok(())
            }
            Expr::Rule(name) => {
                if self.rule_stack.len() >= MAX_RULE_DEPTH {
                    return Err(self.too_big(format!(
                        "expansion rules nested deeper than {MAX_RULE_DEPTH}"
                    )));
                }
                if self.rule_stack.contains(name) {
                    return Err(NluError::RecursiveRule {
                        location: self.location.clone(),
                        rule: name.clone(),
                    });
                }
                let local_rules = self.local_rules;
                let g = self.g;
                let Some(rule) = local_rules.get(name).or_else(|| g.rules.get(name)) else {
                    return Err(NluError::UnknownRule {
                        location: self.location.clone(),
                        rule: name.clone(),
                    });
                };
                if !self.shareable {
                    self.rule_stack.push(name.clone());
                    let r = self.emit(&rule.expr, req);
                    self.rule_stack.pop();
                    return r;
                }
                if !self.cache.rules.contains_key(name) {
                    let fragment = self.fragment(name, &rule.expr)?;
                    self.cache.rules.insert(name.clone(), fragment);
                }
                self.splice(name, req)
            }
        }
    }

    /// Compiles rule `name` on its own, as a fragment to splice wherever it is used.
    fn fragment(&mut self, name: &str, expr: &Expr) -> Result<Fragment> {
        let mut rule_stack = self.rule_stack.clone();
        rule_stack.push(name.to_string());
        let mut b = Builder {
            c: &mut *self.c,
            g: self.g,
            local_rules: self.local_rules,
            local_lists: self.local_lists,
            location: self.location,
            text: self.text,
            program: Vec::new(),
            slot_names: Vec::new(),
            rule_stack,
            cache: &mut *self.cache,
            shareable: true,
        };
        let mut required = Vec::new();
        b.emit(expr, &mut required)?;
        required.sort_unstable();
        required.dedup();
        Ok(Fragment {
            program: b.program,
            slot_names: b.slot_names,
            required,
        })
    }

    /// Appends the cached fragment of rule `name`, relocating its jumps and slot numbers.
    fn splice(&mut self, name: &str, req: &mut Vec<u32>) -> Result<()> {
        let Some(f) = self.cache.rules.get(name) else {
            return Ok(());
        };
        if self.program.len() + f.program.len() > MAX_PROGRAM {
            return Err(self.too_big(format!(
                "the template expands to more than {MAX_PROGRAM} steps"
            )));
        }
        let slots: Vec<usize> = f
            .slot_names
            .iter()
            .map(|s| match self.slot_names.iter().position(|n| n == s) {
                Some(i) => i,
                None => {
                    self.slot_names.push(s.clone());
                    self.slot_names.len() - 1
                }
            })
            .collect();
        let base = self.program.len();
        self.program.extend(f.program.iter().map(|inst| match *inst {
            Inst::Split(a, b) => Inst::Split(a + base, b + base),
            Inst::Jmp(a) => Inst::Jmp(a + base),
            Inst::Slot { list, slot } => Inst::Slot {
                list,
                slot: slots.get(slot).copied().unwrap_or(slot),
            },
            ref other => other.clone(),
        }));
        req.extend_from_slice(&f.required);
        Ok(())
    }

    fn too_big(&self, message: String) -> NluError {
        NluError::Template {
            location: self.location.clone(),
            template: self.text.to_string(),
            message,
        }
    }

    fn emit_alt(&mut self, items: &[Expr], out: &mut Vec<u32>) -> Result<()> {
        let mut jumps = Vec::new();
        let mut req: Option<Vec<u32>> = None;
        let mut r = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let split_at = self.program.len();
            if !last {
                self.program.push(Inst::Split(split_at + 1, 0));
            }
            r.clear();
            self.emit(item, &mut r)?;
            req = Some(match req {
                None => {
                    r.sort_unstable();
                    r.dedup();
                    std::mem::take(&mut r)
                }
                Some(prev) if prev.is_empty() => prev,
                Some(prev) => {
                    r.sort_unstable();
                    intersection(&prev, &r)
                }
            });
            if !last {
                jumps.push(self.program.len());
                self.program.push(Inst::Jmp(0));
                let next = self.program.len();
                self.program[split_at] = Inst::Split(split_at + 1, next);
            }
        }
        let end = self.program.len();
        for j in jumps {
            self.program[j] = Inst::Jmp(end);
        }
        out.extend(req.unwrap_or_default());
        Ok(())
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out.sort();
    out
}
