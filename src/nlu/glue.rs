//! Text glued to an optional or alternative inside one word (`light[s]`, `[re]start`,
//! `(door|gate)[s]`): tokens are whole words, so such groups become whole-word alternatives
//! before compiling.

use super::template::Expr;
use compact_str::{format_compact, CompactString};

/// Whether any neighbours of `items` might be glued (cheap; `glue` decides for real).
pub(super) fn needs_glue(items: &[Expr]) -> bool {
    items.windows(2).any(|w| {
        let ends_word = match &w[0] {
            Expr::Text(t) => t.chars().last().is_some_and(char::is_alphanumeric),
            Expr::Alt(_) => true,
            _ => false,
        };
        let starts_word = match &w[1] {
            Expr::Text(t) => t.chars().next().is_some_and(char::is_alphanumeric),
            Expr::Alt(_) => true,
            _ => false,
        };
        ends_word && starts_word && !matches!((&w[0], &w[1]), (Expr::Text(_), Expr::Text(_)))
    })
}

/// Joins text written against an optional or alternative without a space, as in `light[s]`,
/// `[re]start` or `(door|gate)[s]`, into whole-word alternatives: tokens are whole words, so
/// `light` + `s` must become the one word `lights`.
pub(super) fn glue(items: &[Expr]) -> Vec<Expr> {
    let mut queue: std::collections::VecDeque<Expr> = items.iter().cloned().collect();
    let mut out: Vec<Expr> = Vec::with_capacity(items.len());
    while let Some(item) = queue.pop_front() {
        if let Some(last) = out.last() {
            if let Some((head, merged, tail)) = glue_pair(last, &item) {
                out.pop();
                if !head.is_empty() {
                    out.push(Expr::Text(head));
                }
                out.push(merged);
                if !tail.is_empty() {
                    queue.push_front(Expr::Text(tail));
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

/// The texts an item can be when it is plain text or an alternative of plain texts.
fn simple_forms(e: &Expr) -> Option<Vec<CompactString>> {
    match e {
        Expr::Text(t) => Some(vec![t.clone()]),
        Expr::Alt(alts) => alts
            .iter()
            .map(|a| match a {
                Expr::Text(t)
                    if !t.starts_with(char::is_whitespace) && !t.ends_with(char::is_whitespace) =>
                {
                    Some(t.clone())
                }
                Expr::Seq(s) if s.is_empty() => Some(CompactString::default()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// `(head, glued alternatives, tail)` when `left` ends and `right` starts inside one word.
fn glue_pair(left: &Expr, right: &Expr) -> Option<(CompactString, Expr, CompactString)> {
    if matches!((left, right), (Expr::Text(_), Expr::Text(_))) {
        return None;
    }
    let word_end = |t: &str| t.chars().last().is_some_and(char::is_alphanumeric);
    let word_start = |t: &str| t.chars().next().is_some_and(char::is_alphanumeric);
    let (head, stems) = match left {
        Expr::Text(t) if word_end(t) => {
            let cut = t.rfind(char::is_whitespace).map_or(0, |p| p + 1);
            (t[..cut].into(), vec![t[cut..].into()])
        }
        Expr::Alt(_) => {
            let forms = simple_forms(left)?;
            if !forms.iter().all(|f| f.is_empty() || word_end(f))
                || forms.iter().all(CompactString::is_empty)
            {
                return None;
            }
            (CompactString::default(), forms)
        }
        _ => return None,
    };
    let (suffixes, tail) = match right {
        Expr::Text(t) if word_start(t) => {
            let cut = t.find(char::is_whitespace).unwrap_or(t.len());
            (vec![t[..cut].into()], t[cut..].into())
        }
        Expr::Alt(_) => {
            let forms = simple_forms(right)?;
            if !forms.iter().all(|f| f.is_empty() || word_start(f))
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
    let mut forms: Vec<Expr> = Vec::new();
    for stem in &stems {
        for suffix in &suffixes {
            let form = Expr::Text(format_compact!("{stem}{suffix}"));
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    let merged = if forms
        .iter()
        .any(|f| matches!(f, Expr::Text(t) if t.is_empty()))
    {
        let mut non_empty: Vec<Expr> = forms
            .into_iter()
            .filter(|f| !matches!(f, Expr::Text(t) if t.is_empty()))
            .collect();
        non_empty.push(Expr::Seq(Vec::new()));
        Expr::Alt(non_empty)
    } else {
        Expr::Alt(forms)
    };
    Some((head, merged, tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::template::parse;

    fn glued(t: &str) -> Vec<Expr> {
        match parse(t).unwrap() {
            Expr::Seq(items) => glue(&items),
            other => vec![other],
        }
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
