//! The intent catalog as OpenAI tools (function calling), and a tool call back to an intent
//! and its slots — checked against the same schema the device uses, so the cloud cannot name
//! an intent (or a slot value) the catalog does not have.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::nlu::{IntentSchema, SlotKind, SlotValue};

/// Function names may only hold `[a-zA-Z0-9_-]`: `climate.set_temperature` is offered as
/// `climate__set_temperature`.
pub fn function_name(intent: &str) -> String {
    intent.replace('.', "__")
}

/// The `tools` array of a request.
pub fn tools(intents: &[IntentSchema]) -> Value {
    let tools: Vec<Value> = intents
        .iter()
        .map(|i| {
            let mut props = Map::new();
            for s in &i.slots {
                let p = match &s.kind {
                    SlotKind::Values(v) => json!({"type": "string", "enum": v}),
                    SlotKind::Numbers(n) => {
                        let lo = n.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = n.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        if lo.is_finite() && hi.is_finite() {
                            json!({"type": "number", "minimum": lo, "maximum": hi})
                        } else {
                            json!({"type": "number"})
                        }
                    }
                    SlotKind::Text { .. } => json!({"type": "string"}),
                };
                props.insert(s.name.clone(), p);
            }
            let description = match i.examples.first() {
                Some(e) => format!("{} (for example: \"{e}\")", i.name),
                None => i.name.clone(),
            };
            json!({
                "type": "function",
                "function": {
                    "name": function_name(&i.name),
                    "description": description,
                    "parameters": {"type": "object", "properties": props},
                }
            })
        })
        .collect();
    Value::Array(tools)
}

/// A tool call → the intent it names and its slots. Refused (with the reason) when the
/// function is not one of `intents`, the arguments are not a JSON object, or a slot is
/// unknown or has a value its schema does not allow.
pub fn intent_of(
    intents: &[IntentSchema],
    name: &str,
    arguments: &str,
) -> Result<(String, BTreeMap<String, SlotValue>), String> {
    let schema = intents
        .iter()
        .find(|i| function_name(&i.name) == name || i.name == name)
        .ok_or_else(|| format!("{name:?} is not an intent of the catalog offered"))?;
    let args: Value = if arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(arguments)
            .map_err(|e| format!("the arguments of {name:?} are not JSON ({e})"))?
    };
    let Value::Object(args) = args else {
        return Err(format!("the arguments of {name:?} are not a JSON object"));
    };
    let mut slots = BTreeMap::new();
    for (k, v) in args {
        if v.is_null() {
            continue;
        }
        let slot = schema
            .slot(&k)
            .ok_or_else(|| format!("{} has no slot {k:?}", schema.name))?;
        let value = match (&slot.kind, &v) {
            (SlotKind::Values(allowed), Value::String(s)) if allowed.contains(s) => {
                SlotValue::Text(s.clone())
            }
            (SlotKind::Numbers(allowed), v) => {
                let n = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| format!("slot {k:?} needs a number, not {v}"))?;
                if !allowed.is_empty() && !allowed.iter().any(|a| (a - n).abs() < 1e-9) {
                    return Err(format!("slot {k:?} = {n} is out of its range"));
                }
                SlotValue::number(n)
            }
            (SlotKind::Text { known }, Value::String(s)) => {
                let s = s.trim();
                let mapped = known
                    .iter()
                    .find(|(spoken, _)| spoken.eq_ignore_ascii_case(s))
                    .map(|(_, v)| v.clone());
                SlotValue::Text(mapped.unwrap_or_else(|| s.to_string()))
            }
            _ => return Err(format!("slot {k:?} = {v} is not a value it allows")),
        };
        slots.insert(k, value);
    }
    Ok((schema.name.clone(), slots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::SlotSchema;

    fn catalog() -> Vec<IntentSchema> {
        vec![IntentSchema {
            name: "climate.set_temperature".into(),
            slots: vec![
                SlotSchema {
                    name: "temperature".into(),
                    kind: SlotKind::Numbers(vec![16.0, 17.0, 21.0, 30.0]),
                },
                SlotSchema {
                    name: "zone".into(),
                    kind: SlotKind::Values(vec!["driver".into(), "passenger".into()]),
                },
            ],
            examples: vec!["set the temperature to 21".into()],
        }]
    }

    #[test]
    fn tools_name_every_intent_with_its_slots() {
        let t = tools(&catalog());
        let f = &t[0]["function"];
        assert_eq!(f["name"], "climate__set_temperature");
        assert_eq!(
            f["parameters"]["properties"]["zone"]["enum"][1],
            "passenger"
        );
        assert_eq!(
            f["parameters"]["properties"]["temperature"]["maximum"],
            30.0
        );
    }

    #[test]
    fn a_call_maps_back_and_unknown_intents_or_values_are_refused() {
        let c = catalog();
        let (i, s) = intent_of(
            &c,
            "climate__set_temperature",
            r#"{"temperature": 21, "zone": "driver"}"#,
        )
        .unwrap();
        assert_eq!(i, "climate.set_temperature");
        assert_eq!(s["temperature"], SlotValue::Integer(21));
        assert!(intent_of(&c, "phone__call", "{}")
            .unwrap_err()
            .contains("not an intent"));
        assert!(intent_of(&c, "climate__set_temperature", r#"{"zone":"roof"}"#).is_err());
        assert!(intent_of(&c, "climate__set_temperature", r#"{"temperature":99}"#).is_err());
        assert!(intent_of(&c, "climate__set_temperature", r#"{"colour":"red"}"#).is_err());
        assert!(intent_of(&c, "climate__set_temperature", "[1]").is_err());
    }
}
