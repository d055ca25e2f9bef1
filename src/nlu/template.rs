//! The hassil template syntax: `(a|b)` alternatives, `[optional]`, `(a;b)` permutations,
//! `{list}` / `{list:slot}` slots, `<rule>` expansion rules and `\` escapes.
//!
//! Parsing is separate from compiling so that syntax errors surface when a file is loaded,
//! with the column of the offending character, before any list or rule is resolved.
//!
//! A parsed template is a [`Tree`]: a root node in an arena that holds nodes in one array
//! (children before parents), child lists in another and all text in one string, shared by
//! a grammar file's templates. A catalog has thousands of text pieces and groups; as separate
//! heap objects they were most of the cost of parsing and of dropping a grammar. [`Expr`] is
//! the same tree as nested values, for tests and debugging.

use std::sync::Arc;

/// A parsed sentence template, as nested values ([`Tree::expr`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Literal text, raw (normalised when compiled).
    Text(String),
    Seq(Vec<Expr>),
    /// One of several alternatives; `[x]` is `Alt([x, Seq([])])`.
    Alt(Vec<Expr>),
    /// All items, in any order.
    Perm(Vec<Expr>),
    /// A slot filled from list `name`, reported as slot `slot`.
    List {
        name: String,
        slot: String,
    },
    /// An expansion rule, inlined when compiled.
    Rule(String),
}

/// A range of an [`Arena`]'s text (for text and names) or of its child lists (for groups).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

/// One node of a [`Tree`]; the variants mean what [`Expr`]'s do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Node {
    Text(Span),
    Seq(Span),
    Alt(Span),
    Perm(Span),
    List { name: Span, slot: Span },
    Rule(Span),
}

/// The nodes (children before their parent), child lists and text of one or more parsed
/// templates: a grammar file's templates share one, so parsing them allocates almost nothing.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    kids: Vec<u32>,
    text: String,
}

impl Arena {
    /// The text at `span` (a text node, a name, or text stored with [`Buffers::add_text`]).
    pub(crate) fn text(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }
}

/// Text stored in an arena (a template's source), kept alive with it.
#[derive(Debug, Clone)]
pub(crate) struct ArenaText {
    arena: Arc<Arena>,
    span: Span,
}

impl ArenaText {
    pub(crate) fn new(arena: Arc<Arena>, span: Span) -> ArenaText {
        ArenaText { arena, span }
    }

    pub(crate) fn as_str(&self) -> &str {
        self.arena.text(self.span)
    }
}

/// A parsed sentence template: its root node in an [`Arena`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    arena: Arc<Arena>,
    root: u32,
}

impl Tree {
    pub(crate) fn new(arena: Arc<Arena>, root: u32) -> Tree {
        Tree { arena, root }
    }

    pub(crate) fn root(&self) -> u32 {
        self.root
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// Points the tree at the arena its root was parsed into (a file's arena is shared only
    /// once the whole file is read).
    pub(crate) fn set_arena(&mut self, arena: &Arc<Arena>) {
        self.arena = arena.clone();
    }

    pub(crate) fn node(&self, id: u32) -> Node {
        self.arena.nodes[id as usize]
    }

    /// The children of a group node.
    pub(crate) fn kids(&self, span: Span) -> &[u32] {
        &self.arena.kids[span.start as usize..span.end as usize]
    }

    /// The text of a text node or name.
    pub(crate) fn text(&self, span: Span) -> &str {
        self.arena.text(span)
    }

    /// The whole template as nested values.
    pub fn expr(&self) -> Expr {
        self.expr_of(self.root())
    }

    pub(crate) fn expr_of(&self, id: u32) -> Expr {
        let all = |s: Span| self.kids(s).iter().map(|&k| self.expr_of(k)).collect();
        match self.node(id) {
            Node::Text(s) => Expr::Text(self.text(s).to_string()),
            Node::Seq(s) => Expr::Seq(all(s)),
            Node::Alt(s) => Expr::Alt(all(s)),
            Node::Perm(s) => Expr::Perm(all(s)),
            Node::List { name, slot } => Expr::List {
                name: self.text(name).to_string(),
                slot: self.text(slot).to_string(),
            },
            Node::Rule(s) => Expr::Rule(self.text(s).to_string()),
        }
    }
}

/// A syntax error at a character offset of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// Templates longer than this are refused: nobody says a 4000-character command.
const MAX_TEMPLATE_CHARS: usize = 4000;
const MAX_NESTING: usize = 32;

pub fn parse(template: &str) -> Result<Tree, SyntaxError> {
    let mut buffers = Buffers::default();
    let root = parse_into(template, &mut buffers)?;
    Ok(Tree::new(buffers.finish(), root))
}

/// An arena being filled (a grammar file's templates) and the parser's stacks.
#[derive(Default)]
pub(crate) struct Buffers {
    arena: Arena,
    /// Items of the sequences being read, innermost last.
    items: Vec<u32>,
    /// Finished alternatives of the groups being read, innermost last.
    alts: Vec<u32>,
}

impl Buffers {
    /// Buffers sized for the templates of a grammar file of `bytes` bytes (a catalog file's
    /// arena takes about a node per 8 bytes and half its text), so they rarely grow.
    pub(crate) fn for_source(bytes: usize) -> Buffers {
        Buffers {
            arena: Arena {
                nodes: Vec::with_capacity(bytes / 8),
                kids: Vec::with_capacity(bytes / 8),
                text: String::with_capacity(bytes / 2),
            },
            items: Vec::with_capacity(32),
            alts: Vec::with_capacity(16),
        }
    }

    /// Stores `text` (a template's source) in the arena.
    pub(crate) fn add_text(&mut self, text: &str) -> Span {
        let start = self.arena.text.len() as u32;
        self.arena.text.push_str(text);
        Span {
            start,
            end: self.arena.text.len() as u32,
        }
    }

    /// The arena filled so far; the buffers start a new one.
    pub(crate) fn finish(&mut self) -> Arc<Arena> {
        Arc::new(std::mem::take(&mut self.arena))
    }
}

/// Parses `template` into the buffers' arena and returns its root node. After an error the
/// arena may hold part of the template (unreferenced).
pub(crate) fn parse_into(template: &str, buffers: &mut Buffers) -> Result<u32, SyntaxError> {
    if template.len() > MAX_TEMPLATE_CHARS && template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(SyntaxError {
            offset: 0,
            message: format!("template longer than {MAX_TEMPLATE_CHARS} characters"),
        });
    }
    let mut p = TemplateParser {
        src: template,
        i: 0,
        depth: 0,
        text_start: 0,
        b: buffers,
    };
    let result = p.group(None, 0);
    p.b.items.clear();
    p.b.alts.clear();
    result
}

/// Whether a string uses template syntax (list values may be plain text or templates).
pub fn is_template(text: &str) -> bool {
    text.contains(['(', '[', '{', '<', '|', '\\'])
}

/// Walks the template's bytes (every syntax character is ASCII, so runs of text are copied
/// whole). Text goes straight into the tree's text; `text_start` is where the text of the
/// group being read begins (not yet a node).
struct TemplateParser<'a, 'b> {
    src: &'a str,
    /// Byte offset of the next character.
    i: usize,
    depth: usize,
    text_start: usize,
    b: &'b mut Buffers,
}

#[derive(PartialEq, Clone, Copy)]
enum Sep {
    None,
    Alt,
    Perm,
}

/// Bytes with a meaning in templates, as a table: the text scan tests every byte.
const SYNTAX: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let special = b"()[]{}<>|;\\";
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

fn is_syntax(b: u8) -> bool {
    SYNTAX[b as usize]
}

impl<'a> TemplateParser<'a, '_> {
    /// An error at byte offset `at`, reported as a character offset.
    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset: self.src[..at].chars().count(),
            message: message.into(),
        })
    }

    fn push(&mut self, node: Node) -> u32 {
        self.b.arena.nodes.push(node);
        self.b.arena.nodes.len() as u32 - 1
    }

    fn flush_text(&mut self) {
        let end = self.b.arena.text.len();
        if end > self.text_start {
            let span = Span {
                start: self.text_start as u32,
                end: end as u32,
            };
            let id = self.push(Node::Text(span));
            self.b.items.push(id);
        }
        self.text_start = end;
    }

    /// `ids` (drained from one of the stacks) as the child list of a new group node.
    fn group_node(
        &mut self,
        make: fn(Span) -> Node,
        ids: std::ops::Range<usize>,
        alts: bool,
    ) -> u32 {
        let start = self.b.arena.kids.len() as u32;
        let stack = if alts {
            &mut self.b.alts
        } else {
            &mut self.b.items
        };
        self.b.arena.kids.extend(stack.drain(ids));
        let span = Span {
            start,
            end: self.b.arena.kids.len() as u32,
        };
        self.push(make(span))
    }

    /// The items pushed since `base`, as one node.
    fn take_seq(&mut self, base: usize) -> u32 {
        if self.b.items.len() == base + 1 {
            if let Some(id) = self.b.items.pop() {
                return id;
            }
        }
        let end = self.b.items.len();
        self.group_node(Node::Seq, base..end, false)
    }

    /// Parses until `close` (or the end when `None`); `open_at` is the opening bracket's offset.
    fn group(&mut self, close: Option<u8>, open_at: usize) -> Result<u32, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(open_at, "brackets nested too deeply");
        }
        let bytes = self.src.as_bytes();
        let (items_base, alts_base) = (self.b.items.len(), self.b.alts.len());
        self.text_start = self.b.arena.text.len();
        let mut sep = Sep::None;
        loop {
            // A run of plain text.
            let start = self.i;
            while self.i < bytes.len() && !is_syntax(bytes[self.i]) {
                self.i += 1;
            }
            if self.i > start {
                self.b.arena.text.push_str(&self.src[start..self.i]);
            }
            let Some(&c) = bytes.get(self.i) else {
                if let Some(close) = close {
                    let open = if close == b')' { '(' } else { '[' };
                    let close = close as char;
                    return self.err(open_at, format!("'{open}' is never closed with '{close}'"));
                }
                break;
            };
            let at = self.i;
            self.i += 1;
            if Some(c) == close {
                break;
            }
            match c {
                b')' | b']' | b'}' | b'>' => {
                    let c = c as char;
                    return self.err(
                        at,
                        format!("unexpected '{c}' without a matching opening bracket"),
                    );
                }
                b'(' => {
                    self.flush_text();
                    let inner = self.group(Some(b')'), at)?;
                    self.b.items.push(inner);
                    self.text_start = self.b.arena.text.len();
                }
                b'[' => {
                    self.flush_text();
                    let inner = self.group(Some(b']'), at)?;
                    let empty = self.push(Node::Seq(Span { start: 0, end: 0 }));
                    let start = self.b.arena.kids.len() as u32;
                    self.b.arena.kids.extend([inner, empty]);
                    let alt = self.push(Node::Alt(Span {
                        start,
                        end: start + 2,
                    }));
                    self.b.items.push(alt);
                    self.text_start = self.b.arena.text.len();
                }
                b'{' => {
                    self.flush_text();
                    let body = self.name_until(b'}', at)?;
                    let (name, slot) = match body.split_once(':') {
                        Some((n, s)) => (n.trim(), s.trim()),
                        None => (body.trim(), body.trim()),
                    };
                    if name.is_empty() || slot.is_empty() {
                        return self.err(at, "empty list name in '{}'");
                    }
                    let name = self.b.add_text(name);
                    let slot = self.b.add_text(slot);
                    let id = self.push(Node::List { name, slot });
                    self.b.items.push(id);
                    self.text_start = self.b.arena.text.len();
                }
                b'<' => {
                    self.flush_text();
                    let name = self.name_until(b'>', at)?.trim();
                    if name.is_empty() {
                        return self.err(at, "empty rule name in '<>'");
                    }
                    let name = self.b.add_text(name);
                    let id = self.push(Node::Rule(name));
                    self.b.items.push(id);
                    self.text_start = self.b.arena.text.len();
                }
                b'|' | b';' => {
                    let this = if c == b'|' { Sep::Alt } else { Sep::Perm };
                    if sep != Sep::None && sep != this {
                        return self.err(
                            at,
                            "cannot mix '|' alternatives and ';' permutations in one group",
                        );
                    }
                    sep = this;
                    self.flush_text();
                    let alt = self.take_seq(items_base);
                    self.b.alts.push(alt);
                }
                // b'\\'
                _ => match self.src[self.i..].chars().next() {
                    Some(next) => {
                        self.b.arena.text.push(next);
                        self.i += next.len_utf8();
                    }
                    None => return self.err(at, "'\\' at the end of the template escapes nothing"),
                },
            }
        }
        self.flush_text();
        let last = self.take_seq(items_base);
        self.depth -= 1;
        Ok(match sep {
            Sep::None => last,
            Sep::Alt | Sep::Perm => {
                self.b.alts.push(last);
                let make = if sep == Sep::Alt {
                    Node::Alt
                } else {
                    Node::Perm
                };
                let end = self.b.alts.len();
                self.group_node(make, alts_base..end, true)
            }
        })
    }

    /// The name up to `close` (a slice of the template).
    fn name_until(&mut self, close: u8, open_at: usize) -> Result<&'a str, SyntaxError> {
        let src: &'a str = self.src;
        let bytes = src.as_bytes();
        let start = self.i;
        loop {
            match bytes.get(self.i) {
                None => {
                    let (open, close) = if close == b'}' {
                        ('{', '}')
                    } else {
                        ('<', '>')
                    };
                    return self.err(open_at, format!("'{open}' is never closed with '{close}'"));
                }
                Some(&c) if c == close => {
                    self.i += 1;
                    return Ok(&src[start..self.i - 1]);
                }
                Some(&c)
                    if matches!(
                        c,
                        b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b'|'
                    ) =>
                {
                    let c = c as char;
                    return self.err(self.i, format!("unexpected '{c}' inside a name"));
                }
                Some(_) => self.i += 1,
            }
        }
    }
}

/// All the texts a rule-free, list-free template can produce, or `None` past `limit`.
/// Used for list values written as templates (`in: "(one|1)"`).
pub fn expand_texts(tree: &Tree, limit: usize) -> Option<Vec<String>> {
    expand(tree, tree.root(), limit)
}

fn expand(tree: &Tree, id: u32, limit: usize) -> Option<Vec<String>> {
    match tree.node(id) {
        Node::Text(s) => Some(vec![tree.text(s).to_string()]),
        Node::Seq(s) => {
            let mut out = vec![String::new()];
            for &item in tree.kids(s) {
                let parts = expand(tree, item, limit)?;
                let mut next = Vec::with_capacity(out.len() * parts.len());
                for prefix in &out {
                    for p in &parts {
                        next.push(format!("{prefix}{p}"));
                    }
                }
                if next.len() > limit {
                    return None;
                }
                out = next;
            }
            Some(out)
        }
        Node::Alt(s) => {
            let mut out = Vec::new();
            for &item in tree.kids(s) {
                out.extend(expand(tree, item, limit)?);
                if out.len() > limit {
                    return None;
                }
            }
            Some(out)
        }
        Node::Perm(s) if tree.kids(s).len() == 1 => expand(tree, tree.kids(s)[0], limit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Expr {
        Expr::Text(s.into())
    }

    fn expr(s: &str) -> Expr {
        parse(s).unwrap().expr()
    }

    #[test]
    fn parses_alternatives_optionals_lists_rules() {
        assert_eq!(
            expr("turn (on|off) [the] {window:which} <please>"),
            Expr::Seq(vec![
                t("turn "),
                Expr::Alt(vec![t("on"), t("off")]),
                t(" "),
                Expr::Alt(vec![t("the"), Expr::Seq(vec![])]),
                t(" "),
                Expr::List {
                    name: "window".into(),
                    slot: "which".into()
                },
                t(" "),
                Expr::Rule("please".into()),
            ])
        );
        assert_eq!(expr("a|b"), Expr::Alt(vec![t("a"), t("b")]));
        assert_eq!(expr("(a;b)"), Expr::Perm(vec![t("a"), t("b")]));
        assert_eq!(expr(r"50\%"), t("50%"));
        assert_eq!(
            expr(r"a\(b (c) d\|e"),
            Expr::Seq(vec![t("a(b "), t("c"), t(" d|e")])
        );
        assert_eq!(expr(""), Expr::Seq(vec![]));
        assert_eq!(expr("[x]"), Expr::Alt(vec![t("x"), Expr::Seq(vec![])]));
        assert_eq!(
            expr("((a))|[b]"),
            Expr::Alt(vec![t("a"), Expr::Alt(vec![t("b"), Expr::Seq(vec![])])])
        );
    }

    #[test]
    fn reports_the_offending_column() {
        let cases = [
            ("turn (on|off", 5, "never closed"),
            ("turn on]", 7, "unexpected ']'"),
            ("set {temp", 4, "never closed"),
            ("set {} now", 4, "empty list name"),
            ("x <>", 2, "empty rule name"),
            ("(a|b;c)", 4, "cannot mix"),
            ("{a(b}", 2, "inside a name"),
            ("温度 (高|低", 3, "never closed"),
        ];
        for (text, offset, msg) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.offset, offset, "{text}: {e:?}");
            assert!(e.message.contains(msg), "{text}: {e:?}");
        }
    }

    #[test]
    fn expands_list_value_templates() {
        let e = parse("(one|1) [more]").unwrap();
        let mut v = expand_texts(&e, 10).unwrap();
        v.sort();
        assert_eq!(v, vec!["1 ", "1 more", "one ", "one more"]);
    }
}
