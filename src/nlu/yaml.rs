//! A YAML tree that remembers where every node came from.
//!
//! Grammar authors need "file:line:column" in every error, including errors found long after
//! YAML parsing (a template syntax error inside a sentence string). serde-style YAML values
//! forget positions, so this builds its own small tree from yaml-rust2's event stream, which
//! carries a marker per event. Strings borrow from the source text where they can (the fast
//! path's plain and quoted scalars without escapes), so reading a file allocates little more
//! than the tree itself.

use std::borrow::Cow;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 lines are 1-based and columns 0-based.
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Kind<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string, and whether it was quoted (a quoted scalar's text starts one column later).
    Str(Cow<'a, str>, bool),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Node<'a>, Node<'a>)>),
}

#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub kind: Kind<'a>,
    pub pos: Pos,
}

/// A YAML syntax error with its position.
#[derive(Debug)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Deepest nesting accepted; grammar files are shallow, and this bounds memory (and the fast
/// reader's recursion) on hostile input. Both readers obey it: the fast one gives up past it,
/// and the full one then names the line.
pub(super) const MAX_DEPTH: usize = 64;
/// Most nodes (plus string bytes) that aliases (`*name`) may add to a file, in all: a few
/// nested anchors would otherwise expand exponentially ("billion laughs").
pub(super) const MAX_ALIAS_EXPANSION: usize = 100_000;

/// Parses the first document of `text`. An empty file is `Null`.
pub fn parse(text: &str) -> Result<Node<'_>, YamlError> {
    // A byte-order mark opens the stream, it is not content (both readers get the text
    // without it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match super::yaml_fast::parse(text) {
        Some(node) => Ok(node),
        None => parse_events(text),
    }
}

/// A scalar as the fast path reads it: plain (typed like yaml-rust2's) or quoted.
pub(super) fn scalar_node(value: Cow<'_, str>, quoted: bool, pos: Pos) -> Node<'_> {
    let kind = if quoted {
        Kind::Str(value, true)
    } else {
        match plain_kind(&value) {
            Some(kind) => kind,
            None => Kind::Str(value, false),
        }
    };
    Node { kind, pos }
}

/// Parses with yaml-rust2 (full YAML): everything the fast path gives up on.
pub(super) fn parse_events(text: &str) -> Result<Node<'static>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    // Each anchored node with what one alias to it costs (see `expansion_cost`).
    let mut anchors: Vec<Option<(Node<'static>, usize)>> = Vec::new();
    let mut expanded = 0usize;
    // Containers being built: (node, pending map key, anchor id).
    let mut stack: Vec<(Node<'static>, Option<Node<'static>>, usize)> = Vec::new();
    let mut root: Option<Node<'static>> = None;
    loop {
        let (event, marker) = parser.next_token().map_err(|e| YamlError {
            pos: Pos::from(*e.marker()),
            message: e.info().to_string(),
        })?;
        let pos = Pos::from(marker);
        let finished: Option<(Node<'static>, usize)> = match event {
            Event::StreamEnd | Event::DocumentEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart => None,
            Event::Alias(id) => {
                let (node, cost) =
                    anchors
                        .get(id)
                        .and_then(Option::as_ref)
                        .ok_or_else(|| YamlError {
                            pos,
                            message: "alias to an unknown anchor".into(),
                        })?;
                expanded = expanded.saturating_add(*cost);
                if expanded > MAX_ALIAS_EXPANSION {
                    return Err(YamlError {
                        pos,
                        message: format!(
                            "aliases expand to more than {MAX_ALIAS_EXPANSION} nodes and bytes; \
                             write the values out instead of nesting anchors"
                        ),
                    });
                }
                Some((node.clone(), 0))
            }
            Event::Scalar(value, style, anchor, _tag) => Some((scalar(value, style, pos), anchor)),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        pos,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    Kind::Seq(Vec::new())
                } else {
                    Kind::Map(Vec::new())
                };
                stack.push((Node { kind, pos }, None, anchor));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop().map(|(node, _, anchor)| (node, anchor))
            }
        };
        if let Some((node, anchor)) = finished {
            if anchor > 0 {
                if anchors.len() <= anchor {
                    anchors.resize(anchor + 1, None);
                }
                let cost = expansion_cost(&node, MAX_ALIAS_EXPANSION + 1);
                anchors[anchor] = Some((node.clone(), cost));
            }
            match stack.last_mut() {
                None => {
                    root = Some(node);
                    break;
                }
                Some((parent, key, _)) => match &mut parent.kind {
                    Kind::Seq(items) => items.push(node),
                    Kind::Map(entries) => match key.take() {
                        None => *key = Some(node),
                        Some(k) => entries.push((k, node)),
                    },
                    _ => {}
                },
            }
        }
    }
    Ok(root.unwrap_or(Node {
        kind: Kind::Null,
        pos: Pos { line: 1, column: 1 },
    }))
}

/// What a copy of `node` costs: its nodes plus its strings' bytes, counted up to `limit`.
fn expansion_cost(node: &Node, limit: usize) -> usize {
    let mut cost = 1;
    match &node.kind {
        Kind::Str(s, _) => cost += s.len(),
        Kind::Seq(items) => {
            for item in items {
                cost += expansion_cost(item, limit);
                if cost >= limit {
                    break;
                }
            }
        }
        Kind::Map(entries) => {
            for (k, v) in entries {
                cost += expansion_cost(k, limit) + expansion_cost(v, limit);
                if cost >= limit {
                    break;
                }
            }
        }
        _ => {}
    }
    cost.min(limit)
}

fn scalar(value: String, style: TScalarStyle, pos: Pos) -> Node<'static> {
    let kind = match style {
        TScalarStyle::Plain => match plain_kind(&value) {
            Some(kind) => kind,
            None => Kind::Str(Cow::Owned(value), false),
        },
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
            Kind::Str(Cow::Owned(value), true)
        }
        TScalarStyle::Literal | TScalarStyle::Folded => Kind::Str(Cow::Owned(value), false),
    };
    Node { kind, pos }
}

/// What a plain scalar is when it is not a string: null, a boolean or a number.
fn plain_kind(v: &str) -> Option<Kind<'static>> {
    Some(match v {
        "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
        "true" | "True" | "TRUE" => Kind::Bool(true),
        "false" | "False" | "FALSE" => Kind::Bool(false),
        // Only strings that start like a number can be one (most scalars are words).
        v if !v.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.')) => {
            return None
        }
        v => {
            if let Ok(i) = v.parse::<i64>() {
                Kind::Int(i)
            } else {
                Kind::Float(parse_float(v)?)
            }
        }
    })
}

/// YAML 1.2 core-schema floats (`1.5`, `-2e3`), not Rust's wider syntax (`inf`, `nan`).
fn parse_float(v: &str) -> Option<f64> {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let ok = body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.chars().any(|c| c.is_ascii_digit());
    if ok {
        v.parse().ok()
    } else {
        None
    }
}

impl<'a> Node<'a> {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s, _) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text: strings, and numbers or booleans written without quotes.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s, _) => Some(s.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match &self.kind {
            Kind::Int(i) => Some(*i as f64),
            Kind::Float(f) => Some(*f),
            Kind::Str(s, _) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// Position of the first character of a string's content (after an opening quote).
    pub fn content_pos(&self) -> Pos {
        match &self.kind {
            Kind::Str(_, true) => Pos {
                line: self.pos.line,
                column: self.pos.column + 1,
            },
            _ => self.pos,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Kind::Str(s, _) => Value::String(s.to_string()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    fn both(text: &str) -> (Option<String>, String) {
        let fast = super::super::yaml_fast::parse(text).map(|n| format!("{n:?}"));
        let slow = format!("{:?}", parse_events(text).map_err(|e| e.message));
        (
            fast,
            slow.trim_start_matches("Ok(")
                .trim_end_matches(')')
                .to_string(),
        )
    }

    #[test]
    fn fast_path_reads_every_catalog_file_exactly_like_yaml_rust2() {
        for (name, text) in crate::nlu::catalog::BUILTIN_FILES {
            let fast = super::super::yaml_fast::parse(text)
                .unwrap_or_else(|| panic!("{name}: the fast path gave up"));
            let slow = parse_events(text).unwrap_or_else(|e| panic!("{name}: {}", e.message));
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{name}");
        }
    }

    #[test]
    fn keys_past_yamls_implicit_key_limit_go_to_the_full_reader() {
        // yaml-rust2 refuses some of these (a nested one found by fuzzing) and reads others.
        let text = format!("a:\n  b:\n    {}: x\n", "k ".repeat(600));
        assert!(super::super::yaml_fast::parse(&text).is_none());
    }

    #[test]
    fn a_leading_byte_order_mark_is_not_content() {
        let with = parse("\u{feff}language: en\n").expect("parses");
        assert_eq!(with.get("language").and_then(|n| n.as_str()), Some("en"));
    }

    #[test]
    fn a_mapping_starts_at_its_first_colon_after_spaces() {
        let (fast, slow) = both("lists:\n  room:\n    values= :\n      - a\n");
        assert_eq!(fast.as_deref(), Some(slow.as_str()));
    }

    #[test]
    fn control_characters_go_to_the_full_reader() {
        for text in [
            "a: \"x\u{0}y\"\n",
            "a: b\u{7}\n",
            "a: \u{85}b\u{9f}\n",
            "a: \u{ffff}\n",
            "a: \"b\rc\"\n",
            "a: \t\"b\"\n",
            "\u{feff}a: b\n",
            "a: b\u{feff}\n",
        ] {
            assert!(super::super::yaml_fast::parse(text).is_none(), "{text:?}");
        }
        assert!(super::super::yaml_fast::parse("a: \"é 二 ¡\"\n").is_some());
    }

    #[test]
    fn fast_path_agrees_or_gives_up() {
        for text in [
            "a: 1\nb: [x]\n",
            "a: &x 1\nb: *x\n",
            "a: |\n  text\n",
            "a: plain\n  continued\n",
            "- a\n- b: c\n  d: 'it''s'\n- \"q \\\" x\" # c\n",
            "k:\n- 1\n- 2.5\n- true\n- ~\n",
            "# only a comment\n",
            "",
            "a: b: c\n",
            "x:\n  y:\n    - z\n",
            "a: \"unterminated\n  more\"\n",
            "a:\n",
            "a: \"x \\\" # y\" # c\n",
            "a: 'it''s # not' # c\n- b\n",
            "a: \"\\\u{e9} # x\"\n",
            "k: [\"a#b\"]\n",
            "- \"q\" # \"unterminated\n",
        ] {
            let (fast, slow) = both(text);
            if let Some(fast) = fast {
                assert!(
                    slow.starts_with(&fast),
                    "{text:?}\nfast {fast}\nslow {slow}"
                );
            }
        }
    }

    #[test]
    fn sequences_nested_on_one_line_stop_at_the_depth_limit() {
        // 30,000 `- ` on one line overflowed the fast reader's stack (an abort).
        for n in [MAX_DEPTH + 1, 30_000] {
            let text = format!("{}x\n", "- ".repeat(n));
            assert!(super::super::yaml_fast::parse(&text).is_none());
            let e = parse(&text).unwrap_err();
            assert!(e.message.contains("nesting deeper than"), "{}", e.message);
            assert_eq!(e.pos.line, 1);
        }
        let ok = format!("{}x\n", "- ".repeat(MAX_DEPTH - 1));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // "Billion laughs": each level nine aliases of the one before.
        let mut text = String::from("a0: &a0 [\"lol\"]\n");
        for i in 1..8 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{}", e.message);
        // An ordinary alias is still fine.
        assert!(parse("a: &x [1, 2]\nb: *x\n").is_ok());
    }
}
