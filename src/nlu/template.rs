//! The hassil template syntax: `(a|b)` alternatives, `[optional]`, `(a;b)` permutations,
//! `{list}` / `{list:slot}` slots, `<rule>` expansion rules and `\` escapes.
//!
//! Parsing is separate from compiling so that syntax errors surface when a file is loaded,
//! with the column of the offending character, before any list or rule is resolved.

use compact_str::CompactString;

/// A parsed sentence template.
///
/// Names and text pieces are [`CompactString`]s: nearly all are short (" ", "the", "turn on")
/// and stay inline, which saves an allocation per piece (loading a catalog parses thousands).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Literal text, raw (normalised when compiled).
    Text(CompactString),
    Seq(Vec<Expr>),
    /// One of several alternatives; `[x]` is `Alt([x, Seq([])])`.
    Alt(Vec<Expr>),
    /// All items, in any order.
    Perm(Vec<Expr>),
    /// A slot filled from list `name`, reported as slot `slot`.
    List {
        name: CompactString,
        slot: CompactString,
    },
    /// An expansion rule, inlined when compiled.
    Rule(CompactString),
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

pub fn parse(template: &str) -> Result<Expr, SyntaxError> {
    parse_with(template, &mut Buffers::default())
}

/// Buffers a parser needs, kept from one template to the next by a caller that parses many.
#[derive(Default)]
pub(crate) struct Buffers {
    text: String,
    items: Vec<Expr>,
    alts: Vec<Expr>,
}

/// [`parse`] with the caller's buffers (left empty, with their capacity, afterwards).
pub(crate) fn parse_with(template: &str, buffers: &mut Buffers) -> Result<Expr, SyntaxError> {
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
        b: buffers,
    };
    let result = p.group(None, 0);
    // After an error the stacks may hold a half-read group.
    p.b.text.clear();
    p.b.items.clear();
    p.b.alts.clear();
    result
}

/// Whether a string uses template syntax (list values may be plain text or templates).
pub fn is_template(text: &str) -> bool {
    text.contains(['(', '[', '{', '<', '|', '\\'])
}

/// Walks the template's bytes (every syntax character is ASCII, so runs of text are sliced
/// out whole). In [`Buffers`], `text` is the text of the group being read, not yet an
/// `Expr::Text` (empty whenever a group opens); `items` the items of the sequences being read
/// and `alts` the finished alternatives of the groups being read, innermost last: stacks
/// shared by nested groups, so each expression is allocated once at its final size.
struct TemplateParser<'a, 'b> {
    src: &'a str,
    /// Byte offset of the next character.
    i: usize,
    depth: usize,
    b: &'b mut Buffers,
}

#[derive(PartialEq, Clone, Copy)]
enum Sep {
    None,
    Alt,
    Perm,
}

fn is_syntax(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b'|' | b';' | b'\\'
    )
}

impl<'a> TemplateParser<'a, '_> {
    /// An error at byte offset `at`, reported as a character offset.
    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset: self.src[..at].chars().count(),
            message: message.into(),
        })
    }

    fn flush_text(&mut self) {
        if !self.b.text.is_empty() {
            self.b
                .items
                .push(Expr::Text(CompactString::from(self.b.text.as_str())));
            self.b.text.clear();
        }
    }

    /// The items pushed since `base`, as one expression.
    fn take_seq(&mut self, base: usize) -> Expr {
        if self.b.items.len() == base + 1 {
            self.b.items.pop().unwrap_or(Expr::Seq(Vec::new()))
        } else {
            Expr::Seq(self.b.items.drain(base..).collect())
        }
    }

    /// Parses until `close` (or the end when `None`); `open_at` is the opening bracket's offset.
    fn group(&mut self, close: Option<u8>, open_at: usize) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(open_at, "brackets nested too deeply");
        }
        let bytes = self.src.as_bytes();
        let (items_base, alts_base) = (self.b.items.len(), self.b.alts.len());
        let mut sep = Sep::None;
        loop {
            // A run of plain text.
            let start = self.i;
            while self.i < bytes.len() && !is_syntax(bytes[self.i]) {
                self.i += 1;
            }
            if self.i > start {
                self.b.text.push_str(&self.src[start..self.i]);
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
                }
                b'[' => {
                    self.flush_text();
                    let inner = self.group(Some(b']'), at)?;
                    self.b
                        .items
                        .push(Expr::Alt(vec![inner, Expr::Seq(Vec::new())]));
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
                    self.b.items.push(Expr::List {
                        name: name.into(),
                        slot: slot.into(),
                    });
                }
                b'<' => {
                    self.flush_text();
                    let name = self.name_until(b'>', at)?.trim();
                    if name.is_empty() {
                        return self.err(at, "empty rule name in '<>'");
                    }
                    self.b.items.push(Expr::Rule(name.into()));
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
                        self.b.text.push(next);
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
                let items: Vec<Expr> = self.b.alts.drain(alts_base..).collect();
                if sep == Sep::Alt {
                    Expr::Alt(items)
                } else {
                    Expr::Perm(items)
                }
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
pub fn expand_texts(expr: &Expr, limit: usize) -> Option<Vec<String>> {
    match expr {
        Expr::Text(t) => Some(vec![t.to_string()]),
        Expr::Seq(items) => {
            let mut out = vec![String::new()];
            for item in items {
                let parts = expand_texts(item, limit)?;
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
        Expr::Alt(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(expand_texts(item, limit)?);
                if out.len() > limit {
                    return None;
                }
            }
            Some(out)
        }
        Expr::Perm(items) if items.len() == 1 => expand_texts(&items[0], limit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Expr {
        Expr::Text(s.into())
    }

    #[test]
    fn parses_alternatives_optionals_lists_rules() {
        let e = parse("turn (on|off) [the] {window:which} <please>").unwrap();
        assert_eq!(
            e,
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
        assert_eq!(parse("a|b").unwrap(), Expr::Alt(vec![t("a"), t("b")]));
        assert_eq!(parse("(a;b)").unwrap(), Expr::Perm(vec![t("a"), t("b")]));
        assert_eq!(parse(r"50\%").unwrap(), t("50%"));
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
