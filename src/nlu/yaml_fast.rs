//! A fast path for the YAML that grammar files are written in: block mappings and sequences
//! of plain or quoted one-line scalars, comments, and empty `[]` / `{}`.
//!
//! yaml-rust2's event parser was the largest part of loading a catalog (about 150
//! instructions per byte); this reads the common subset in one pass and gives up (`None`) on
//! anything else (anchors, tags, block scalars, multi-line or flow values, tabs, documents),
//! which then goes to yaml-rust2. It builds the same tree with the same positions; a test
//! checks that on every file of the built-in catalog.

use super::yaml::{scalar_node, Kind, Node, Pos, MAX_DEPTH};
use std::borrow::Cow;

/// Whether every character is one the fast path can take as YAML does: line feed, carriage
/// return before a line feed, and printable characters (no tab); no C0 or C1 controls (NEL included: YAML 1.1
/// calls it a line break), no DEL, no U+FFFE / U+FFFF. Found by fuzzing: a NUL inside a
/// quoted scalar passed here and was refused by yaml-rust2.
fn printable(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // A carriage return alone is a line break to YAML, and not to the line splitter.
            b'\r' if b.get(i + 1) != Some(&b'\n') => return false,
            b'\n' | b'\r' | 0x20..=0x7e => {}
            // Tabs too: YAML takes them as separation in places the fast path does not
            // (found by fuzzing: `key: <tab>"value"`).
            0x00..=0x1f | 0x7f => return false,
            0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => return false,
            0xef if b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)) => {
                return false
            }
            // A byte-order mark: `yaml::parse` strips a leading one; anywhere else
            // yaml-rust2 reads it as content (found by fuzzing).
            0xef if b.get(i + 1) == Some(&0xbb) && b.get(i + 2) == Some(&0xbf) => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

struct Line<'a> {
    /// 1-based line number.
    number: usize,
    /// Column (0-based, in characters) where `content` starts.
    indent: usize,
    /// Without indentation and comment, trailing spaces trimmed.
    content: &'a str,
    /// Byte offsets in the text of the quotes of the line's first double-quoted scalar, when
    /// it has no escapes (what most template lines are), so it is not scanned again.
    quoted: Option<(usize, usize)>,
}

/// The tree of `text`, or `None` when it uses YAML beyond the fast path's subset.
pub fn parse(text: &str) -> Option<Node<'_>> {
    let b = text.as_bytes();
    if !printable(b) {
        return None; // yaml-rust2 names the character and its line
    }
    let mut lines = Vec::new();
    let (mut at, mut number) = (0, 0);
    // `str::lines` and the trims by hand: byte loops beat memchr on ~50-byte lines.
    while at < b.len() {
        number += 1;
        let start = at;
        while at < b.len() && b[at] != b'\n' {
            at += 1;
        }
        let mut end = at;
        at += 1;
        if end > start && b[end - 1] == b'\r' {
            end -= 1;
        }
        let mut body_start = start;
        while body_start < end && b[body_start] == b' ' {
            body_start += 1;
        }
        let body = &text[body_start..end];
        if body.starts_with('\t')
            || body.starts_with('%')
            || body.starts_with("---")
            || body.starts_with("...")
        {
            return None;
        }
        let (content, quoted) = strip_comment(body, body_start)?;
        let kept = content.as_bytes();
        let mut n = kept.len();
        while n > 0 && matches!(kept[n - 1], b' ' | b'\t') {
            n -= 1;
        }
        if n == 0 {
            continue;
        }
        lines.push(Line {
            number,
            indent: body_start - start,
            content: &content[..n],
            quoted,
        });
    }
    let Some(first) = lines.first() else {
        return Some(Node {
            kind: Kind::Null,
            pos: Pos { line: 1, column: 1 },
        });
    };
    if first.indent != 0 {
        return None;
    }
    let mut p = P {
        text,
        lines,
        i: 0,
        depth: 0,
    };
    let node = p.block(0)?;
    (p.i == p.lines.len()).then_some(node)
}

/// The line without its comment, and where its first double-quoted scalar without escapes
/// starts and ends (as offsets from `at`, the offset of `s` in the text); `None` if a quote
/// is left open (multi-line scalar).
fn strip_comment(s: &str, at: usize) -> Option<(&str, Option<(usize, usize)>)> {
    let b = s.as_bytes();
    let mut quoted = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return Some((&s[..i], quoted));
        }
        // A quote opens a scalar only where a scalar starts; jump to its end.
        if (c == b'"' || c == b'\'') && (i == 0 || matches!(b[i - 1], b' ' | b'[' | b'{' | b',')) {
            let (end, plain) = quote_end(s, i)?;
            if c == b'"' && plain && quoted.is_none() {
                quoted = Some((at + i, at + end));
            }
            i = end;
        }
        i += 1;
    }
    Some((s, quoted))
}

/// The offset of the quote closing the one at `open`, if it is on this line, and whether
/// nothing in between was escaped.
fn quote_end(s: &str, open: usize) -> Option<(usize, bool)> {
    let q = s.as_bytes()[open];
    let mut i = open + 1;
    let mut plain = true;
    loop {
        // `str::find` with one ASCII character is a fast memchr.
        let end = i + s[i..].find(q as char)?;
        if q == b'"' {
            match s[i..end].find('\\') {
                // An escape: skip the escaped character and look again.
                Some(e) => {
                    let at = i + e + 1;
                    i = at + s[at..].chars().next()?.len_utf8();
                    plain = false;
                }
                None => return Some((end, plain)),
            }
        } else if s.as_bytes().get(end + 1) == Some(&b'\'') {
            i = end + 2;
        } else {
            return Some((end, plain));
        }
    }
}

struct P<'a> {
    /// The whole text (line offsets are into it).
    text: &'a str,
    lines: Vec<Line<'a>>,
    i: usize,
    /// Blocks open: past `MAX_DEPTH` the fast path gives up (yaml-rust2 then names the line),
    /// so `- - - … x` on one line cannot overflow the stack.
    depth: usize,
}

fn col(line: &Line, s: &str) -> usize {
    // `s` is a suffix of `line.content`.
    let before = &line.content[..line.content.len() - s.len()];
    line.indent + before.chars().count()
}

fn pos(line: &Line, column: usize) -> Pos {
    Pos {
        line: line.number,
        column: column + 1,
    }
}

fn is_seq_item(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

impl<'a> P<'a> {
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        let line = self.lines.get(self.i)?;
        if line.indent != indent || self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let node = if is_seq_item(line.content) {
            self.seq(indent)
        } else {
            self.map(indent)
        };
        self.depth -= 1;
        node
    }

    fn seq(&mut self, indent: usize) -> Option<Node<'a>> {
        let start = pos(&self.lines[self.i], indent);
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.i) {
            if line.indent != indent || !is_seq_item(line.content) {
                break;
            }
            let rest = line.content[1..].trim_start_matches(' ');
            if rest.is_empty() {
                self.i += 1;
                match self.lines.get(self.i) {
                    Some(next) if next.indent > indent => {
                        let n = next.indent;
                        items.push(self.block(n)?);
                    }
                    _ => return None,
                }
                continue;
            }
            let c = col(line, rest);
            // A quoted scalar alone after the dash (the usual template) is read once: being
            // all of `rest`, it cannot be a `"key": value` entry.
            let quoted = if rest.starts_with(['"', '\'']) {
                self.inline(self.i, rest)
            } else {
                None
            };
            if quoted.is_none() && (is_seq_item(rest) || key_split(rest).is_some()) {
                // An item that is itself a mapping or sequence, starting on the dash's line:
                // continue as if `rest` began its own line at its column.
                let (number, content, quoted) = (line.number, rest, line.quoted);
                self.lines[self.i] = Line {
                    number,
                    indent: c,
                    content,
                    quoted,
                };
                items.push(self.block(c)?);
                continue;
            }
            let node = match quoted {
                Some(node) => node,
                None => self.inline(self.i, rest)?,
            };
            self.i += 1;
            self.no_continuation(indent)?;
            items.push(node);
        }
        Some(Node {
            kind: Kind::Seq(items),
            pos: start,
        })
    }

    fn map(&mut self, indent: usize) -> Option<Node<'a>> {
        // yaml-rust2 starts a block mapping where it finds the first key's `:`.
        let first = &self.lines[self.i];
        let (key, _) = key_split(first.content)?;
        // The key is trimmed; the `:` may stand after spaces (found by fuzzing: `values= :`).
        let spaces = first.content[key.len()..]
            .bytes()
            .take_while(|&b| b == b' ')
            .count();
        let start = pos(
            first,
            indent + first.content[..key.len()].chars().count() + spaces,
        );
        let mut entries = Vec::new();
        while let Some(line) = self.lines.get(self.i) {
            if line.indent != indent || is_seq_item(line.content) {
                if line.indent > indent {
                    return None;
                }
                break;
            }
            let (key, value) = key_split(line.content)?;
            let key_node = self.inline_at(self.i, key, indent)?;
            if matches!(key_node.kind, Kind::Seq(_) | Kind::Map(_)) {
                return None;
            }
            if value.is_empty() {
                self.i += 1;
                let node = match self.lines.get(self.i) {
                    Some(next) if next.indent > indent => {
                        let n = next.indent;
                        self.block(n)?
                    }
                    // Indentless sequences (`key:` then `- x` at the key's column) and
                    // empty values are left to yaml-rust2.
                    _ => return None,
                };
                entries.push((key_node, node));
                continue;
            }
            let node = self.inline(self.i, value)?;
            self.i += 1;
            self.no_continuation(indent)?;
            entries.push((key_node, node));
        }
        Some(Node {
            kind: Kind::Map(entries),
            pos: start,
        })
    }

    /// A deeper line right after a one-line value would continue it (multi-line plain scalar).
    fn no_continuation(&self, indent: usize) -> Option<()> {
        match self.lines.get(self.i) {
            Some(next) if next.indent > indent => None,
            _ => Some(()),
        }
    }

    /// A scalar (or empty flow collection) that is all of `s`, a suffix of line `li`.
    fn inline(&self, li: usize, s: &'a str) -> Option<Node<'a>> {
        let line = &self.lines[li];
        self.inline_at(li, s, col(line, s))
    }

    /// Like `inline`, for `s` starting at column `column`.
    fn inline_at(&self, li: usize, s: &'a str, column: usize) -> Option<Node<'a>> {
        let line = &self.lines[li];
        let at = pos(line, column);
        let first = s.chars().next()?;
        match first {
            '"' => {
                // `s` is a slice of the text: where it starts there.
                let start = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
                let (value, rest) = match line.quoted {
                    Some((open, close)) if open == start => {
                        (Cow::Borrowed(&s[1..close - start]), &s[close - start + 1..])
                    }
                    _ => double_quoted(&s[1..])?,
                };
                rest.trim().is_empty().then(|| node_str(value, at))
            }
            '\'' => {
                let (value, rest) = single_quoted(&s[1..])?;
                rest.trim().is_empty().then(|| node_str(value, at))
            }
            '[' | '{' => {
                let inner = s[1..].strip_suffix(if first == '[' { ']' } else { '}' })?;
                if !inner.trim().is_empty() {
                    return None;
                }
                Some(Node {
                    kind: if first == '[' {
                        Kind::Seq(Vec::new())
                    } else {
                        Kind::Map(Vec::new())
                    },
                    pos: at,
                })
            }
            '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`' | '?' | ',' | ']' | '}' | '#' => None,
            '-' | ':' if s.len() == 1 || s[1..].starts_with(' ') => None,
            _ => {
                let b = s.as_bytes();
                let ends_key = b.ends_with(b":");
                if ends_key || b.windows(2).any(|w| w == b": " || w == b" #") {
                    return None;
                }
                Some(scalar_node(Cow::Borrowed(s), false, at))
            }
        }
    }
}

fn node_str(value: Cow<'_, str>, pos: Pos) -> Node<'_> {
    scalar_node(value, true, pos)
}

/// Splits `key: value` (value may be empty); `None` if the line is not a mapping entry.
const MAX_IMPLICIT_KEY: usize = 1000;

fn key_split(s: &str) -> Option<(&str, &str)> {
    let key_end = match s.chars().next()? {
        '"' => {
            let (_, rest) = double_quoted(&s[1..])?;
            s.len() - rest.len()
        }
        '\'' => {
            let (_, rest) = single_quoted(&s[1..])?;
            s.len() - rest.len()
        }
        _ => {
            let b = s.as_bytes();
            let mut i = 0;
            loop {
                if i >= b.len() {
                    return None;
                }
                if b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' ') {
                    break i;
                }
                i += 1;
            }
        }
    };
    // YAML allows an implicit key of at most 1024 characters; longer ones are yaml-rust2's to
    // refuse (found by fuzzing). Bytes bound characters from above.
    if key_end > MAX_IMPLICIT_KEY {
        return None;
    }
    let after = &s[key_end..];
    let value = after.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with(' ')) {
        return None;
    }
    let key = s[..key_end].trim_end();
    if key.is_empty() {
        return None;
    }
    Some((key, value.trim_start_matches(' ')))
}

/// Content of a double-quoted scalar (after the opening quote) and the text after its end.
fn double_quoted(s: &str) -> Option<(Cow<'_, str>, &str)> {
    // Fast: no escape before the closing quote (almost every grammar string).
    if let Some(end) = s.find('"') {
        if !s[..end].contains('\\') {
            return Some((Cow::Borrowed(&s[..end]), &s[end + 1..]));
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    ' ' => ' ',
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
    None
}

fn single_quoted(s: &str) -> Option<(Cow<'_, str>, &str)> {
    // Fast: a closing quote that is not a doubled ('') one.
    if let Some(end) = s.find('\'') {
        if s.as_bytes().get(end + 1) != Some(&b'\'') {
            return Some((Cow::Borrowed(&s[..end]), &s[end + 1..]));
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return Some((Cow::Owned(out), &s[i + 1..]));
        }
        out.push(c);
    }
    None
}
