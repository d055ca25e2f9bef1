//! Text glued to an optional or alternative inside one word (`light[s]`, `[re]start`,
//! `(door|gate)[s]`): tokens are whole words, so such groups become whole-word alternatives
//! before compiling.

use super::template::{Node, Tree};
use compact_str::{format_compact, CompactString};

/// An item of a sequence after gluing: a node of the template as it was, or new text.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Glued {
    Node(u32),
    Text(CompactString),
    /// Whole-word alternatives; an empty form (last, if any) is the empty alternative.
    Alt(Vec<CompactString>),
}

fn ends_word(t: &str) -> bool {
    t.chars().last().is_some_and(char::is_alphanumeric)
}

fn starts_word(t: &str) -> bool {
    t.chars().next().is_some_and(char::is_alphanumeric)
}

/// Whether any neighbours of `items` might be glued (cheap; `glue` decides for real).
pub(super) fn needs_glue(tree: &Tree, items: &[u32]) -> bool {
    items.windows(2).any(|w| {
        let (left, right) = (tree.node(w[0]), tree.node(w[1]));
        let left_ends = match left {
            Node::Text(t) => ends_word(tree.text(t)),
            Node::Alt(_) => true,
            _ => false,
        };
        let right_starts = match right {
            Node::Text(t) => starts_word(tree.text(t)),
            Node::Alt(_) => true,
            _ => false,
        };
        left_ends && right_starts && !matches!((left, right), (Node::Text(_), Node::Text(_)))
    })
}

/// Joins text written against an optional or alternative without a space, as in `light[s]`,
/// `[re]start` or `(door|gate)[s]`, into whole-word alternatives: tokens are whole words, so
/// `light` + `s` must become the one word `lights`.
pub(super) fn glue(tree: &Tree, items: &[u32]) -> Vec<Glued> {
    let mut queue: std::collections::VecDeque<Glued> =
        items.iter().map(|&id| Glued::Node(id)).collect();
    let mut out: Vec<Glued> = Vec::with_capacity(items.len());
    while let Some(item) = queue.pop_front() {
        if let Some(last) = out.last() {
            if let Some((head, merged, tail)) = glue_pair(tree, last, &item) {
                out.pop();
                if !head.is_empty() {
                    out.push(Glued::Text(head));
                }
                out.push(merged);
                if !tail.is_empty() {
                    queue.push_front(Glued::Text(tail));
                }
                continue;
            }
        }
        out.push(item);
    }
    out
}

/// Most word forms one glued group may produce.
const MAX_GLUED_FORMS: usize = 64;

/// The text of an item that is plain text.
fn as_text<'t>(tree: &'t Tree, item: &'t Glued) -> Option<&'t str> {
    match item {
        Glued::Node(id) => match tree.node(*id) {
            Node::Text(t) => Some(tree.text(t)),
            _ => None,
        },
        Glued::Text(t) => Some(t),
        Glued::Alt(_) => None,
    }
}

/// The forms of an item that is an alternative of plain texts without outer whitespace (an
/// empty form for the empty alternative), `Some(None)` for an alternative of anything else.
fn simple_forms(tree: &Tree, item: &Glued) -> Option<Option<Vec<CompactString>>> {
    let simple = |t: &str| !t.starts_with(char::is_whitespace) && !t.ends_with(char::is_whitespace);
    match item {
        Glued::Node(id) => match tree.node(*id) {
            Node::Alt(kids) => Some(
                tree.kids(kids)
                    .iter()
                    .map(|&k| match tree.node(k) {
                        Node::Text(t) if simple(tree.text(t)) => Some(tree.text(t).into()),
                        Node::Seq(s) if tree.kids(s).is_empty() => Some(CompactString::default()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        },
        Glued::Alt(forms) => Some(
            forms
                .iter()
                .map(|f| (f.is_empty() || simple(f)).then(|| f.clone()))
                .collect(),
        ),
        Glued::Text(_) => None,
    }
}

/// `(head, glued alternatives, tail)` when `left` ends and `right` starts inside one word.
fn glue_pair(
    tree: &Tree,
    left: &Glued,
    right: &Glued,
) -> Option<(CompactString, Glued, CompactString)> {
    let (left_text, right_text) = (as_text(tree, left), as_text(tree, right));
    if left_text.is_some() && right_text.is_some() {
        return None;
    }
    let (head, stems) = match (left_text, simple_forms(tree, left)) {
        (Some(t), _) if ends_word(t) => {
            let cut = t.rfind(char::is_whitespace).map_or(0, |p| p + 1);
            (
                CompactString::from(&t[..cut]),
                vec![CompactString::from(&t[cut..])],
            )
        }
        (None, Some(forms)) => {
            let forms = forms?;
            if !forms.iter().all(|f| f.is_empty() || ends_word(f))
                || forms.iter().all(CompactString::is_empty)
            {
                return None;
            }
            (CompactString::default(), forms)
        }
        _ => return None,
    };
    let (suffixes, tail) = match (right_text, simple_forms(tree, right)) {
        (Some(t), _) if starts_word(t) => {
            let cut = t.find(char::is_whitespace).unwrap_or(t.len());
            (
                vec![CompactString::from(&t[..cut])],
                CompactString::from(&t[cut..]),
            )
        }
        (None, Some(forms)) => {
            let forms = forms?;
            if !forms.iter().all(|f| f.is_empty() || starts_word(f))
                || forms.iter().all(CompactString::is_empty)
            {
                return None;
            }
            (forms, CompactString::default())
        }
        _ => return None,
    };
    if stems.len() * suffixes.len() > MAX_GLUED_FORMS {
        return None;
    }
    let mut forms: Vec<CompactString> = Vec::new();
    for stem in &stems {
        for suffix in &suffixes {
            let form = format_compact!("{stem}{suffix}");
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    // The empty alternative goes last.
    if let Some(i) = forms.iter().position(CompactString::is_empty) {
        let empty = forms.remove(i);
        forms.push(empty);
    }
    Some((head, Glued::Alt(forms), tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::template::{parse, Expr};

    /// The glued items of a template, as expressions (`Seq([])` for an empty form).
    fn glued(t: &str) -> Vec<Expr> {
        let tree = parse(t).unwrap();
        let items = match tree.node(tree.root()) {
            Node::Seq(s) => tree.kids(s).to_vec(),
            _ => vec![tree.root()],
        };
        glue(&tree, &items)
            .into_iter()
            .map(|g| match g {
                Glued::Node(id) => tree.expr_of(id),
                Glued::Text(t) => Expr::Text(t.to_string()),
                Glued::Alt(forms) => Expr::Alt(
                    forms
                        .iter()
                        .map(|f| match f.is_empty() {
                            true => Expr::Seq(vec![]),
                            false => Expr::Text(f.to_string()),
                        })
                        .collect(),
                ),
            })
            .collect()
    }

    #[test]
    fn glues_suffixes_and_prefixes_into_words() {
        let t = |s: &str| Expr::Text(s.into());
        assert_eq!(
            glued("turn on the light[s] now"),
            vec![
                t("turn on the "),
                Expr::Alt(vec![t("lights"), t("light")]),
                t(" now")
            ]
        );
        assert_eq!(
            glued("[re]start it"),
            vec![Expr::Alt(vec![t("restart"), t("start")]), t(" it")]
        );
        assert_eq!(
            glued("(door|gate)[s]"),
            vec![Expr::Alt(vec![
                t("doors"),
                t("door"),
                t("gates"),
                t("gate")
            ])]
        );
        // Separate words stay separate.
        assert_eq!(glued("[the] light").len(), 2);
    }
}
