//! Loading hassil intent files (`language`, `intents`, `lists`, `expansion_rules`,
//! `skip_words`, `settings`, `responses`) into a [`Grammar`], per language.
//!
//! Templates are parsed here, so every syntax error is reported at load time with its file,
//! line and column. Lists and rules are resolved later, when a [`super::Recognizer`] compiles
//! the grammar, because another file may define them (HA's `_common.yaml`).

use super::error::{Location, NluError, Result};
use super::hash::NameMap;
use super::language::Language;
use super::lists::ListDef;
use super::template::{self, Arena, ArenaText, Span, Tree};
use super::yaml::{self, Kind, Node, Pos};
use super::SlotValue;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Intent grammars for one or more languages.
#[derive(Debug, Clone, Default)]
pub struct Grammar {
    pub(crate) languages: BTreeMap<Language, LanguageGrammar>,
}

#[derive(Debug, Clone)]
pub(crate) struct LanguageGrammar {
    pub language: Language,
    pub intents: Vec<IntentDef>,
    pub lists: NameMap<ListDef>,
    pub rules: NameMap<RuleDef>,
    pub skip_words: Vec<String>,
    pub ignore_whitespace: bool,
    /// intent → response key → template.
    pub responses: HashMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct IntentDef {
    pub name: String,
    pub blocks: Vec<DataBlock>,
}

#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// The template as written, in the tree's arena.
    text: Span,
    pub tree: Tree,
    /// Where the template was written (the file name is shared by all of a file's templates).
    pub file: Arc<str>,
    pub pos: Pos,
}

impl Template {
    pub fn text(&self) -> &str {
        self.tree.arena().text(self.text)
    }

    /// The template as written, shared with the grammar file's arena.
    pub fn source(&self) -> ArenaText {
        ArenaText::new(self.tree.arena().clone(), self.text)
    }

    pub fn location(&self) -> Location {
        Location {
            file: self.file.to_string(),
            line: self.pos.line,
            column: self.pos.column,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RuleDef {
    pub tree: Tree,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ContextRule {
    /// The context value must be one of these.
    OneOf(Vec<String>),
    /// Any value is accepted and copied into this slot (`area: {slot: true}`).
    CopyToSlot(String),
}

#[derive(Debug, Clone)]
pub(crate) struct DataBlock {
    pub templates: Vec<Template>,
    pub slots: BTreeMap<String, SlotValue>,
    pub requires_context: Vec<(String, ContextRule)>,
    pub excludes_context: Vec<(String, Vec<String>)>,
    pub rules: NameMap<RuleDef>,
    pub lists: NameMap<ListDef>,
    pub response: Option<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
}

pub(super) struct FileCtx {
    pub file: Arc<str>,
    /// The arena every template of the file is parsed into, and the parser's stacks.
    pub buffers: RefCell<template::Buffers>,
    /// What templates point at until the file's arena is complete ([`LanguageGrammar::attach`]).
    pub pending: Arc<Arena>,
}

impl FileCtx {
    pub(super) fn loc(&self, pos: Pos) -> Location {
        Location {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
        }
    }

    pub(super) fn schema<T>(&self, node: &Node, message: impl Into<String>) -> Result<T> {
        Err(NluError::Schema {
            location: self.loc(node.pos),
            message: message.into(),
        })
    }

    pub(super) fn map<'n, 's>(
        &self,
        node: &'n Node<'s>,
        what: &str,
    ) -> Result<&'n [(Node<'s>, Node<'s>)]> {
        match &node.kind {
            Kind::Map(entries) => Ok(entries),
            Kind::Null => Ok(&[]),
            _ => self.schema(node, format!("{what} must be a mapping")),
        }
    }

    pub(super) fn seq<'n, 's>(&self, node: &'n Node<'s>, what: &str) -> Result<&'n [Node<'s>]> {
        match &node.kind {
            Kind::Seq(items) => Ok(items),
            Kind::Null => Ok(&[]),
            _ => self.schema(node, format!("{what} must be a list")),
        }
    }

    pub(super) fn key(&self, node: &Node) -> Result<String> {
        node.scalar_text()
            .map_or_else(|| self.schema(node, "mapping keys must be text"), Ok)
    }

    pub(super) fn text(&self, node: &Node, what: &str) -> Result<String> {
        node.scalar_text()
            .map_or_else(|| self.schema(node, format!("{what} must be text")), Ok)
    }

    /// A template of the file, parsed into the file's arena.
    pub(super) fn template(&self, node: &Node, what: &str) -> Result<Template> {
        let owned;
        let text = match node.as_str() {
            Some(t) => t,
            None => {
                owned = self.text(node, what)?;
                &owned
            }
        };
        let mut buffers = self.buffers.borrow_mut();
        let span = buffers.add_text(text);
        match template::parse_into(text, &mut buffers) {
            Ok(root) => Ok(Template {
                text: span,
                tree: Tree::new(self.pending.clone(), root),
                file: self.file.clone(),
                pos: node.content_pos(),
            }),
            Err(e) => Err(self.syntax_error(node, text, e)),
        }
    }

    /// A template used at once (a list value), in an arena of its own.
    pub(super) fn standalone_template(&self, node: &Node, text: &str) -> Result<Tree> {
        template::parse(text).map_err(|e| self.syntax_error(node, text, e))
    }

    fn syntax_error(&self, node: &Node, text: &str, e: template::SyntaxError) -> NluError {
        // Single-line scalars map offsets to columns exactly.
        let mut at = node.content_pos();
        if !text.contains('\n') {
            at.column += e.offset;
        }
        NluError::Template {
            location: self.loc(at),
            template: text.to_string(),
            message: e.message,
        }
    }

    fn rules(&self, node: &Node) -> Result<NameMap<RuleDef>> {
        let mut rules = NameMap::default();
        for (k, v) in self.map(node, "expansion_rules")? {
            let t = self.template(v, "an expansion rule")?;
            rules.insert(self.key(k)?, RuleDef { tree: t.tree });
        }
        Ok(rules)
    }

    fn block(&self, node: &Node) -> Result<DataBlock> {
        let Some(sentences) = node.get("sentences") else {
            return self.schema(node, "each `data` item needs `sentences`");
        };
        let sentences = self.seq(sentences, "sentences")?;
        let mut templates = Vec::with_capacity(sentences.len());
        for s in sentences {
            templates.push(self.template(s, "a sentence")?);
        }
        let mut slots = BTreeMap::new();
        if let Some(s) = node.get("slots") {
            for (k, v) in self.map(s, "slots")? {
                slots.insert(self.key(k)?, slot_value(v));
            }
        }
        let mut requires_context = Vec::new();
        if let Some(c) = node.get("requires_context") {
            for (k, v) in self.map(c, "requires_context")? {
                let rule = match &v.kind {
                    Kind::Map(_) => match v.get("slot") {
                        Some(Node {
                            kind: Kind::Bool(true),
                            ..
                        }) => ContextRule::CopyToSlot(self.key(k)?),
                        Some(n) if n.as_str().is_some() => {
                            ContextRule::CopyToSlot(self.text(n, "slot")?)
                        }
                        _ => ContextRule::OneOf(Vec::new()),
                    },
                    _ => ContextRule::OneOf(texts(v)),
                };
                requires_context.push((self.key(k)?, rule));
            }
        }
        let mut excludes_context = Vec::new();
        if let Some(c) = node.get("excludes_context") {
            for (k, v) in self.map(c, "excludes_context")? {
                excludes_context.push((self.key(k)?, texts(v)));
            }
        }
        Ok(DataBlock {
            templates,
            slots,
            requires_context,
            excludes_context,
            rules: node
                .get("expansion_rules")
                .map(|r| self.rules(r))
                .transpose()?
                .unwrap_or_default(),
            lists: node
                .get("lists")
                .map(|l| self.lists(l))
                .transpose()?
                .unwrap_or_default(),
            response: node.get("response").and_then(Node::scalar_text),
            metadata: json_map(node.get("metadata")),
        })
    }
}

fn texts(node: &Node) -> Vec<String> {
    match &node.kind {
        Kind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
        _ => node.scalar_text().into_iter().collect(),
    }
}

pub(super) fn json_map(node: Option<&Node>) -> BTreeMap<String, serde_json::Value> {
    match node.map(|n| &n.kind) {
        // Straight into the map (a JSON object first would build every entry twice).
        Some(Kind::Map(entries)) => entries
            .iter()
            .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

pub(super) fn slot_value(node: &Node) -> SlotValue {
    match &node.kind {
        Kind::Int(i) => SlotValue::Integer(*i),
        Kind::Float(f) => SlotValue::number(*f),
        Kind::Bool(b) => SlotValue::Bool(*b),
        Kind::Str(s, _) => SlotValue::Text(s.to_string()),
        Kind::Seq(items) => SlotValue::List(items.iter().map(slot_value).collect()),
        Kind::Null => SlotValue::Text(String::new()),
        Kind::Map(_) => SlotValue::Text(node.to_json().to_string()),
    }
}

impl LanguageGrammar {
    fn new(language: Language) -> Self {
        LanguageGrammar {
            ignore_whitespace: language.primary() == "zh" || language.primary() == "ja",
            language,
            intents: Vec::new(),
            lists: NameMap::default(),
            rules: NameMap::default(),
            skip_words: Vec::new(),
            responses: HashMap::new(),
        }
    }

    fn merge(&mut self, other: LanguageGrammar) {
        for intent in other.intents {
            match self.intents.iter_mut().find(|i| i.name == intent.name) {
                Some(existing) => existing.blocks.extend(intent.blocks),
                None => self.intents.push(intent),
            }
        }
        self.lists.extend(other.lists);
        self.rules.extend(other.rules);
        for w in other.skip_words {
            if !self.skip_words.contains(&w) {
                self.skip_words.push(w);
            }
        }
        self.ignore_whitespace |= other.ignore_whitespace;
        for (intent, responses) in other.responses {
            self.responses.entry(intent).or_default().extend(responses);
        }
    }
}

impl Grammar {
    /// An empty grammar (recognises nothing).
    pub fn new() -> Grammar {
        Grammar::default()
    }

    /// Loads hassil YAML files, or every `*.yaml` / `*.yml` below the given folders, in path
    /// order. Later files add sentences to the same intents and override lists and rules.
    pub fn load(paths: &[PathBuf]) -> Result<Grammar> {
        let mut files = Vec::new();
        for path in paths {
            collect_files(path, &mut files)?;
        }
        let mut grammar = Grammar::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| NluError::Io {
                path: file.clone(),
                source,
            })?;
            grammar.add_source(&file.display().to_string(), &text)?;
        }
        Ok(grammar)
    }

    /// Adds one YAML document; `name` is used in error messages.
    pub fn add_source(&mut self, name: &str, text: &str) -> Result<()> {
        let root = yaml::parse(text).map_err(|e| NluError::Yaml {
            location: Location {
                file: name.to_string(),
                line: e.pos.line,
                column: e.pos.column,
            },
            message: e.message,
        })?;
        let ctx = FileCtx {
            file: name.into(),
            buffers: RefCell::new(template::Buffers::for_source(text.len())),
            pending: Arc::default(),
        };
        if root.is_null() {
            return Ok(());
        }
        let entries = ctx.map(&root, "the top level of an intent file")?;
        let Some(lang_node) = root.get("language") else {
            return ctx.schema(&root, "missing `language:` (for example `language: en`)");
        };
        let tag = ctx.text(lang_node, "language")?;
        let language = Language::parse(&tag).map_err(|_| NluError::Schema {
            location: ctx.loc(lang_node.pos),
            message: format!("invalid language tag {tag:?}"),
        })?;
        let mut g = LanguageGrammar::new(language.clone());
        g.ignore_whitespace = false;
        for (k, v) in entries {
            match ctx.key(k)?.as_str() {
                "intents" => {
                    for (name, intent) in ctx.map(v, "intents")? {
                        let Some(data) = intent.get("data") else {
                            return ctx.schema(
                                intent,
                                "an intent needs `data:` with a list of `sentences`",
                            );
                        };
                        let data = ctx.seq(data, "data")?;
                        let mut blocks = Vec::with_capacity(data.len());
                        for block in data {
                            blocks.push(ctx.block(block)?);
                        }
                        g.merge_intent(IntentDef {
                            name: ctx.key(name)?,
                            blocks,
                        });
                    }
                }
                "lists" => g.lists = ctx.lists(v)?,
                "expansion_rules" => g.rules = ctx.rules(v)?,
                "skip_words" => g.skip_words = texts(v),
                "settings" => {
                    g.ignore_whitespace = v
                        .get("ignore_whitespace")
                        .is_some_and(|b| matches!(b.kind, Kind::Bool(true)));
                }
                "responses" => {
                    if let Some(intents) = v.get("intents") {
                        for (name, keys) in ctx.map(intents, "responses.intents")? {
                            let mut map = BTreeMap::new();
                            for (key, text) in ctx.map(keys, "an intent's responses")? {
                                map.insert(ctx.key(key)?, ctx.text(text, "a response")?);
                            }
                            g.responses.insert(ctx.key(name)?, map);
                        }
                    }
                }
                _ => {}
            }
        }
        g.attach(&ctx.buffers.borrow_mut().finish());
        match self.languages.get_mut(&language) {
            Some(existing) => existing.merge(g),
            None => {
                g.ignore_whitespace |= LanguageGrammar::new(language.clone()).ignore_whitespace;
                self.languages.insert(language, g);
            }
        }
        Ok(())
    }

    /// Adds every intent, list, rule and response of `other` (`other` wins on conflicts).
    pub fn merge(&mut self, other: Grammar) {
        for (lang, g) in other.languages {
            match self.languages.get_mut(&lang) {
                Some(existing) => existing.merge(g),
                None => {
                    self.languages.insert(lang, g);
                }
            }
        }
    }

    /// Languages this grammar has sentences for.
    pub fn languages(&self) -> Vec<Language> {
        self.languages.keys().cloned().collect()
    }

    /// Intent names, sorted and without duplicates, over all languages.
    pub fn intent_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .languages
            .values()
            .flat_map(|g| g.intents.iter().map(|i| i.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl LanguageGrammar {
    /// Points this file's templates and rules at the file's finished arena.
    fn attach(&mut self, arena: &Arc<Arena>) {
        for block in self.intents.iter_mut().flat_map(|i| i.blocks.iter_mut()) {
            for t in &mut block.templates {
                t.tree.set_arena(arena);
            }
            for r in block.rules.values_mut() {
                r.tree.set_arena(arena);
            }
        }
        for r in self.rules.values_mut() {
            r.tree.set_arena(arena);
        }
    }

    fn merge_intent(&mut self, intent: IntentDef) {
        match self.intents.iter_mut().find(|i| i.name == intent.name) {
            Some(existing) => existing.blocks.extend(intent.blocks),
            None => self.intents.push(intent),
        }
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| NluError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| NluError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(entry);
        }
    }
    Ok(())
}
