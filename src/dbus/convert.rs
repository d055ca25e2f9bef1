//! Translation between engine values and D-Bus values (`a{sv}` slots, options, turn paths).

use std::collections::{BTreeMap, HashMap};

use zbus::{ObjectPath, OwnedObjectPath, OwnedVariant, Variant};

use super::error::MethodError;
use crate::engine::{HandlerAddress, HandlerCall, TurnId};
use crate::nlu::{Place, SlotValue};

/// Turns are object paths under the service's object: `/io/skylark/Assistant1/turn/7`.
pub const TURN_PREFIX: &str = "/io/skylark/Assistant1/turn/";

pub fn turn_path(id: TurnId) -> OwnedObjectPath {
    // A prefix of valid elements and a decimal number always form a valid path.
    OwnedObjectPath::try_from(format!("{TURN_PREFIX}{}", id.0))
        .unwrap_or_else(|_| OwnedObjectPath::default())
}

/// The turn a path names, or `NotFound`.
pub fn turn_id(path: &ObjectPath<'_>) -> Result<TurnId, MethodError> {
    path.as_str()
        .strip_prefix(TURN_PREFIX)
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .map(TurnId)
        .ok_or_else(|| {
            MethodError::NotFound(format!("{path} is not a turn of io.skylark.Assistant1"))
        })
}

/// A slot value as a variant: numbers are always `d` (so a slot has one type whatever was
/// said), text `s`, booleans `b`, lists `av`.
pub fn slot_variant(v: &SlotValue) -> Variant<'static> {
    match v {
        SlotValue::Integer(i) => Variant::F64(*i as f64),
        SlotValue::Number(n) => Variant::F64(*n),
        SlotValue::Bool(b) => Variant::Bool(*b),
        SlotValue::Text(s) => Variant::from(s.clone()),
        SlotValue::List(items) => {
            let items: Vec<Variant<'static>> = items
                .iter()
                .map(|i| Variant::new(slot_variant(i)))
                .collect();
            Variant::from(items)
        }
    }
}

fn owned(v: Variant<'static>) -> OwnedVariant {
    // Only fails for file descriptors, which slots never hold.
    OwnedVariant::try_from(v).unwrap_or_else(|_| OwnedVariant::from(false))
}

pub fn slots_to_dbus(slots: &BTreeMap<String, SlotValue>) -> HashMap<String, OwnedVariant> {
    slots
        .iter()
        .map(|(k, v)| (k.clone(), owned(slot_variant(v))))
        .collect()
}

fn json_variant(v: &serde_json::Value) -> Variant<'static> {
    match v {
        serde_json::Value::Bool(b) => Variant::Bool(*b),
        serde_json::Value::Number(n) => Variant::F64(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Variant::from(s.clone()),
        other => Variant::from(other.to_string()),
    }
}

/// The `context` argument of `Handle`: `turn` (o), `text`, `language`, `source` (s),
/// `confidence` (d) and `metadata` (a{sv}: the grammar's metadata, e.g. `vss_path`).
pub fn handler_context(call: &HandlerCall) -> HashMap<String, OwnedVariant> {
    let mut c = HashMap::new();
    c.insert(
        "turn".to_string(),
        owned(Variant::from(turn_path(call.turn).into_inner())),
    );
    c.insert("text".to_string(), owned(Variant::from(call.text.clone())));
    c.insert(
        "language".to_string(),
        owned(Variant::from(call.language.clone())),
    );
    c.insert(
        "source".to_string(),
        owned(Variant::from(call.source.to_string())),
    );
    c.insert(
        "confidence".to_string(),
        owned(Variant::F64(call.confidence)),
    );
    let metadata: HashMap<String, OwnedVariant> = call
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), owned(json_variant(v))))
        .collect();
    c.insert("metadata".to_string(), owned(Variant::from(metadata)));
    c
}

/// The places of a handler's reply data: `results` as `aa{sv}`, each with `name` (s), `id`
/// (s) and optional `distance_m`, `rating`, `price_level` (any number type) and `address`
/// (s). Malformed data is logged and left out: the reply's speech still counts.
pub fn places_from_data(
    data: &HashMap<String, OwnedVariant>,
    handler: &HandlerAddress,
) -> Vec<Place> {
    let Some(results) = data.get("results") else {
        return Vec::new();
    };
    let Variant::Array(items) = unwrap_variant(results) else {
        tracing::warn!(%handler, signature = %results.value_signature(), "reply data `results` must be aa{{sv}}; ignored");
        return Vec::new();
    };
    let mut places = Vec::new();
    for (i, item) in items.inner().iter().enumerate() {
        let Variant::Dict(fields) = unwrap_variant(item) else {
            tracing::warn!(%handler, index = i, "reply data `results` entry is not a{{sv}}; ignored");
            continue;
        };
        let mut place = Place::default();
        for (key, value) in fields.iter() {
            let (Variant::Str(key), value) = (unwrap_variant(key), unwrap_variant(value)) else {
                continue;
            };
            match key.as_str() {
                "name" => place.name = text(value).unwrap_or_default(),
                "id" => place.id = text(value).unwrap_or_default(),
                "address" => place.address = text(value),
                "distance_m" => place.distance_m = number(value),
                "rating" => place.rating = number(value),
                "price_level" => place.price_level = number(value),
                _ => {}
            }
        }
        if place.name.trim().is_empty() {
            tracing::warn!(%handler, index = i, "reply data `results` entry has no `name`; ignored");
            continue;
        }
        places.push(place);
    }
    places
}

fn text(v: &Variant<'_>) -> Option<String> {
    match v {
        Variant::Str(s) => Some(s.as_str().to_string()),
        Variant::ObjectPath(p) => Some(p.as_str().to_string()),
        _ => None,
    }
}

fn number(v: &Variant<'_>) -> Option<f64> {
    match *v {
        Variant::F64(n) => Some(n),
        Variant::U8(n) => Some(n.into()),
        Variant::I16(n) => Some(n.into()),
        Variant::U16(n) => Some(n.into()),
        Variant::I32(n) => Some(n.into()),
        Variant::U32(n) => Some(n.into()),
        Variant::I64(n) => Some(n as f64),
        Variant::U64(n) => Some(n as f64),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// Options of a call (`a{sv}`). Unknown keys are ignored (the contract grows by adding keys);
/// a known key with the wrong type is `InvalidArgument`.
pub struct Options<'a>(pub &'a HashMap<String, OwnedVariant>);

impl Options<'_> {
    pub fn string(&self, key: &str) -> Result<Option<String>, MethodError> {
        match self.0.get(key).map(|v| unwrap_variant(v)) {
            None => Ok(None),
            Some(Variant::Str(s)) => Ok(Some(s.as_str().to_string())),
            Some(other) => Err(wrong_type(key, "s", other)),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, MethodError> {
        match self.0.get(key).map(|v| unwrap_variant(v)) {
            None => Ok(None),
            Some(Variant::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(key, "b", other)),
        }
    }
}

fn unwrap_variant<'a>(v: &'a Variant<'a>) -> &'a Variant<'a> {
    match v {
        Variant::Variant(inner) => unwrap_variant(inner),
        v => v,
    }
}

fn wrong_type(key: &str, want: &str, got: &Variant<'_>) -> MethodError {
    MethodError::InvalidArgument(format!(
        "option {key:?} must be of type {want}, not {}",
        got.value_signature()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_paths_round_trip_and_reject_others() {
        let p = turn_path(TurnId(42));
        assert_eq!(p.as_str(), "/io/skylark/Assistant1/turn/42");
        assert_eq!(turn_id(&p).unwrap(), TurnId(42));
        for bad in [
            "/io/skylark/Assistant1",
            "/io/skylark/Assistant1/turn/x",
            "/io/skylark/Assistant1/turn/0",
            "/a",
        ] {
            let p = ObjectPath::try_from(bad).unwrap();
            assert!(
                matches!(turn_id(&p), Err(MethodError::NotFound(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_are_doubles() {
        assert_eq!(slot_variant(&SlotValue::Integer(22)), Variant::F64(22.0));
        assert_eq!(
            slot_variant(&SlotValue::Text("driver".into())),
            Variant::from("driver")
        );
    }

    #[test]
    fn places_come_from_results_and_bad_entries_are_left_out() {
        let entry = |fields: Vec<(&str, Variant<'static>)>| {
            let m: HashMap<String, OwnedVariant> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), owned(v)))
                .collect();
            Variant::from(m)
        };
        let results = vec![
            entry(vec![
                ("name", Variant::from("Sushi Zen")),
                ("id", Variant::from("poi-1")),
                ("distance_m", Variant::F64(400.0)),
                ("price_level", Variant::U32(2)),
            ]),
            entry(vec![("id", Variant::from("nameless"))]),
            entry(vec![
                ("name", Variant::from("Sakura")),
                ("rating", Variant::I32(4)),
            ]),
        ];
        let mut data = HashMap::new();
        data.insert("results".to_string(), owned(Variant::from(results)));
        let handler = HandlerAddress {
            owner: ":1.9".into(),
            object: "/poi".into(),
        };
        let places = places_from_data(&data, &handler);
        assert_eq!(places.len(), 2);
        assert_eq!(places[0].name, "Sushi Zen");
        assert_eq!(places[0].id, "poi-1");
        assert_eq!(places[0].distance_m, Some(400.0));
        assert_eq!(places[0].price_level, Some(2.0));
        assert_eq!(places[1].rating, Some(4.0));
        data.insert("results".to_string(), owned(Variant::from("nope")));
        assert!(places_from_data(&data, &handler).is_empty());
    }

    #[test]
    fn options_check_types() {
        let mut m = HashMap::new();
        m.insert("language".to_string(), owned(Variant::from("zh-CN")));
        m.insert("speak".to_string(), owned(Variant::from("no")));
        let o = Options(&m);
        assert_eq!(o.string("language").unwrap().as_deref(), Some("zh-CN"));
        assert!(o.boolean("speak").is_err());
        assert_eq!(o.boolean("missing").unwrap(), None);
    }
}
