//! Slot lists of a grammar file: `values` (plain or `in`/`out`, `in` may be a template),
//! `range` (`type`, `from`, `to`, `step`, `multiplier`, `fractions`, `digits`, `words`) and
//! `wildcard`.

use super::error::{NluError, Result};
use super::grammar::{json_map, slot_value, FileCtx};
use super::hash::NameMap;
use super::template;
use super::yaml::{Kind, Node};
use super::SlotValue;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) enum ListDef {
    Values(Vec<ListValue>),
    Range(RangeDef),
    Wildcard,
}

#[derive(Debug, Clone)]
pub(crate) struct ListValue {
    /// Every spoken form (a value written as a template expands to several).
    pub spoken: Vec<String>,
    pub out: SlotValue,
    pub context: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RangeKind {
    Number,
    Percentage,
    Temperature,
}

#[derive(Debug, Clone)]
pub(crate) struct RangeDef {
    pub from: f64,
    pub to: f64,
    pub step: f64,
    pub multiplier: Option<f64>,
    pub kind: RangeKind,
    /// Smallest fraction accepted (0.5 for `halves`, 0.1 for `tenths`), if any.
    pub fraction: Option<f64>,
    pub digits: bool,
    pub words: bool,
}

/// Expansions of one list value template kept at most (`(a|b) (c|d)` is 4).
const MAX_VALUE_FORMS: usize = 256;

impl FileCtx {
    pub(super) fn lists(&self, node: &Node) -> Result<NameMap<ListDef>> {
        let mut lists = NameMap::default();
        for (k, v) in self.map(node, "lists")? {
            lists.insert(self.key(k)?, self.list(v)?);
        }
        Ok(lists)
    }

    fn list(&self, node: &Node) -> Result<ListDef> {
        if let Some(values) = node.get("values") {
            let mut out = Vec::new();
            for v in self.seq(values, "values")? {
                out.push(self.list_value(v)?);
            }
            return Ok(ListDef::Values(out));
        }
        if let Some(range) = node.get("range") {
            return self.range(range);
        }
        if node
            .get("wildcard")
            .is_some_and(|w| matches!(w.kind, Kind::Bool(true)))
        {
            return Ok(ListDef::Wildcard);
        }
        self.schema(node, "a list needs `values`, `range` or `wildcard: true`")
    }

    fn list_value(&self, node: &Node) -> Result<ListValue> {
        let (spoken_node, out, context, metadata) = match &node.kind {
            Kind::Map(_) => {
                let Some(spoken) = node.get("in") else {
                    return self
                        .schema(node, "a list value mapping needs `in` (and usually `out`)");
                };
                let out = match node.get("out") {
                    Some(o) => slot_value(o),
                    None => SlotValue::Text(self.text(spoken, "`in`")?),
                };
                let mut context = BTreeMap::new();
                if let Some(c) = node.get("context") {
                    for (k, v) in self.map(c, "context")? {
                        context.insert(self.key(k)?, v.scalar_text().unwrap_or_default());
                    }
                }
                (spoken, out, context, json_map(node.get("metadata")))
            }
            _ => (
                node,
                SlotValue::Text(self.text(node, "a list value")?),
                BTreeMap::new(),
                BTreeMap::new(),
            ),
        };
        let text = self.text(spoken_node, "`in`")?;
        let spoken = if template::is_template(&text) {
            let tree = self.standalone_template(spoken_node, &text)?;
            match template::expand_texts(&tree, MAX_VALUE_FORMS) {
                Some(forms) => forms,
                None => {
                    return Err(NluError::Template {
                        location: self.loc(spoken_node.content_pos()),
                        template: text,
                        message: format!("a list value may use (a|b) and [x] only, and expand to at most {MAX_VALUE_FORMS} forms"),
                    })
                }
            }
        } else {
            vec![text]
        };
        Ok(ListValue {
            spoken,
            out,
            context,
            metadata,
        })
    }

    fn range(&self, node: &Node) -> Result<ListDef> {
        let num = |key: &str| -> Result<Option<f64>> {
            match node.get(key) {
                None => Ok(None),
                Some(v) => v.as_f64().map(Some).map_or_else(
                    || self.schema(v, format!("range `{key}` must be a number")),
                    Ok,
                ),
            }
        };
        let (Some(from), Some(to)) = (num("from")?, num("to")?) else {
            return self.schema(node, "a range needs `from` and `to`");
        };
        let step = num("step")?.unwrap_or(1.0);
        if from > to || step <= 0.0 {
            return self.schema(node, "a range needs from <= to and a positive step");
        }
        let kind = match node.get("type").and_then(Node::as_str).unwrap_or("number") {
            "number" => RangeKind::Number,
            "percentage" => RangeKind::Percentage,
            "temperature" => RangeKind::Temperature,
            other => {
                return self.schema(
                    node,
                    format!("unknown range type {other:?} (number, percentage, temperature)"),
                )
            }
        };
        let fraction = match node.get("fractions").and_then(Node::as_str) {
            Some("halves") => Some(0.5),
            Some("tenths") => Some(0.1),
            None => (step.fract() != 0.0).then_some(step),
            Some(other) => {
                return self.schema(
                    node,
                    format!("unknown range fractions {other:?} (halves, tenths)"),
                )
            }
        };
        let flag = |key: &str| {
            !node
                .get(key)
                .is_some_and(|v| matches!(v.kind, Kind::Bool(false)))
        };
        Ok(ListDef::Range(RangeDef {
            from,
            to,
            step,
            multiplier: num("multiplier")?,
            kind,
            fraction,
            digits: flag("digits"),
            words: flag("words"),
        }))
    }
}
