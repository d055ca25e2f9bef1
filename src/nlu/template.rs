//! The hassil template syntax: `(a|b)` alternatives, `[optional]`, `(a;b)` permutations,
//! `{list}` / `{list:slot}` slots, `<rule>` expansion rules and `\` escapes.
//!
//! Parsing is separate from compiling so that syntax errors surface when a file is loaded,
//! with the column of the offending character, before any list or rule is resolved.

/// A parsed sentence template.
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
    let chars: Vec<char> = template.chars().collect();
    if chars.len() > MAX_TEMPLATE_CHARS {
        return Err(SyntaxError {
            offset: 0,
            message: format!("template longer than {MAX_TEMPLATE_CHARS} characters"),
        });
    }
    let mut p = TemplateParser {
        chars,
        i: 0,
        depth: 0,
    };
    p.group(None, 0)
}

/// Whether a string uses template syntax (list values may be plain text or templates).
pub fn is_template(text: &str) -> bool {
    text.contains(['(', '[', '{', '<', '|', '\\'])
}

struct TemplateParser {
    chars: Vec<char>,
    i: usize,
    depth: usize,
}

#[derive(PartialEq, Clone, Copy)]
enum Sep {
    None,
    Alt,
    Perm,
}

impl TemplateParser {
    fn err<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset,
            message: message.into(),
        })
    }

    /// Parses until `close` (or the end when `None`); `open_at` is the opening bracket's offset.
    fn group(&mut self, close: Option<char>, open_at: usize) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(open_at, "brackets nested too deeply");
        }
        let mut alts: Vec<Vec<Expr>> = Vec::new();
        let mut current: Vec<Expr> = Vec::new();
        let mut text = String::new();
        let mut sep = Sep::None;
        let flush = |text: &mut String, current: &mut Vec<Expr>| {
            if !text.is_empty() {
                current.push(Expr::Text(std::mem::take(text)));
            }
        };
        loop {
            let Some(&c) = self.chars.get(self.i) else {
                if let Some(close) = close {
                    let open = match close {
                        ')' => '(',
                        ']' => '[',
                        _ => '?',
                    };
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
                ')' | ']' | '}' | '>' => {
                    return self.err(
                        at,
                        format!("unexpected '{c}' without a matching opening bracket"),
                    )
                }
                '(' => {
                    flush(&mut text, &mut current);
                    current.push(self.group(Some(')'), at)?);
                }
                '[' => {
                    flush(&mut text, &mut current);
                    let inner = self.group(Some(']'), at)?;
                    current.push(Expr::Alt(vec![inner, Expr::Seq(Vec::new())]));
                }
                '{' => {
                    flush(&mut text, &mut current);
                    let body = self.name_until('}', at)?;
                    let (name, slot) = match body.split_once(':') {
                        Some((n, s)) => (n.trim().to_string(), s.trim().to_string()),
                        None => (body.trim().to_string(), body.trim().to_string()),
                    };
                    if name.is_empty() || slot.is_empty() {
                        return self.err(at, "empty list name in '{}'");
                    }
                    current.push(Expr::List { name, slot });
                }
                '<' => {
                    flush(&mut text, &mut current);
                    let name = self.name_until('>', at)?.trim().to_string();
                    if name.is_empty() {
                        return self.err(at, "empty rule name in '<>'");
                    }
                    current.push(Expr::Rule(name));
                }
                '|' | ';' => {
                    let this = if c == '|' { Sep::Alt } else { Sep::Perm };
                    if sep != Sep::None && sep != this {
                        return self.err(
                            at,
                            "cannot mix '|' alternatives and ';' permutations in one group",
                        );
                    }
                    sep = this;
                    flush(&mut text, &mut current);
                    alts.push(std::mem::take(&mut current));
                }
                '\\' => match self.chars.get(self.i) {
                    Some(&next) => {
                        text.push(next);
                        self.i += 1;
                    }
                    None => return self.err(at, "'\\' at the end of the template escapes nothing"),
                },
                _ => text.push(c),
            }
        }
        flush(&mut text, &mut current);
        alts.push(current);
        self.depth -= 1;
        let mut items: Vec<Expr> = alts.into_iter().map(seq).collect();
        Ok(match sep {
            Sep::None => items.pop().unwrap_or(Expr::Seq(Vec::new())),
            Sep::Alt => Expr::Alt(items),
            Sep::Perm => Expr::Perm(items),
        })
    }

    fn name_until(&mut self, close: char, open_at: usize) -> Result<String, SyntaxError> {
        let mut name = String::new();
        loop {
            match self.chars.get(self.i) {
                None => {
                    return self.err(
                        open_at,
                        format!(
                            "'{}' is never closed with '{close}'",
                            if close == '}' { '{' } else { '<' }
                        ),
                    )
                }
                Some(&c) if c == close => {
                    self.i += 1;
                    return Ok(name);
                }
                Some(&c) if matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '|') => {
                    return self.err(self.i, format!("unexpected '{c}' inside a name"));
                }
                Some(&c) => {
                    name.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

fn seq(mut items: Vec<Expr>) -> Expr {
    if items.len() == 1 {
        items.pop().unwrap_or(Expr::Seq(Vec::new()))
    } else {
        Expr::Seq(items)
    }
}

/// All the texts a rule-free, list-free template can produce, or `None` past `limit`.
/// Used for list values written as templates (`in: "(one|1)"`).
pub fn expand_texts(expr: &Expr, limit: usize) -> Option<Vec<String>> {
    match expr {
        Expr::Text(t) => Some(vec![t.clone()]),
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
