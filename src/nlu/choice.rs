//! Choosing among places a handler offered: "the second one", "the cheaper one", "第二个",
//! "导航过去" become `navigation.navigate_to` with that place.
//!
//! A handler answering `navigation.search_nearby` may return results (see the README's
//! D-Bus section); the engine keeps them in [`DialogueContext::places`]. While some are kept,
//! the context value `places` is `offered`, which the grammar's choice templates require
//! (`requires_context: {places: offered}`); their `choice` slot names which one (`first`,
//! `second`, `third`, `last`, `closest`, `cheapest`, `best_rated`, `that`). Resolution
//! replaces `choice` by `destination` (the place's name) and `place_id`.

use super::{DialogueContext, IntentMatch, SlotValue};

/// A place a handler offered, best first as the handler ranked them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Place {
    pub name: String,
    /// The handler's own identifier, given back as `place_id`.
    pub id: String,
    pub distance_m: Option<f64>,
    pub rating: Option<f64>,
    pub price_level: Option<f64>,
    pub address: Option<String>,
}

/// The context value the choice templates require while places are kept.
pub const PLACES_OFFERED: &str = "offered";

/// Which of `places` a `choice` value names, or `None` when none fits ("the third one" of
/// two, "the cheapest" when no place has a price level).
pub fn choose<'a>(places: &'a [Place], choice: &str) -> Option<&'a Place> {
    let by = |key: fn(&Place) -> Option<f64>, lowest: bool| {
        places
            .iter()
            .filter_map(|p| key(p).filter(|v| v.is_finite()).map(|v| (p, v)))
            .reduce(|best, next| {
                let better = if lowest {
                    next.1 < best.1
                } else {
                    next.1 > best.1
                };
                if better {
                    next
                } else {
                    best
                }
            })
            .map(|(p, _)| p)
    };
    match choice {
        "first" | "that" => places.first(),
        "second" => places.get(1),
        "third" => places.get(2),
        "fourth" => places.get(3),
        "fifth" => places.get(4),
        "last" => places.last(),
        "closest" => by(|p| p.distance_m, true),
        "cheapest" => by(|p| p.price_level, true),
        "best_rated" => by(|p| p.rating, false),
        _ => None,
    }
}

/// Words that point at a place without naming it ("there", "过去", "那里"). A wildcard slot
/// whose whole value is one of them names nothing: "take me there" / "导航过去" with no places
/// offered must not navigate to a place called "there" / "过去" (with places offered, the
/// choice templates take these sentences instead).
const POINTING: &[&str] = &[
    "there",
    "here",
    "over there",
    "that",
    "this",
    "it",
    "that place",
    "this place",
    "that one",
    "this one",
    "the place",
    "过去",
    "那里",
    "那儿",
    "那边",
    "这里",
    "这儿",
    "这边",
    "那",
    "这",
    "那个",
    "这个",
    "那家",
    "这家",
    "那个地方",
    "这个地方",
    "它",
    "去那里",
    "那儿去",
];

/// Whether `value` (a wildcard's text, punctuation removed) only points at a place.
pub(super) fn only_points(value: &str) -> bool {
    let v = value.trim().to_lowercase();
    let v = v.trim_end_matches(['吧', '呢', '啊']).trim();
    POINTING.contains(&v)
}

/// Turns a match with a `choice` slot into navigation to the chosen place. `false` when the
/// choice names no kept place: the match is then dropped (the sentence did not mean a
/// command the assistant can carry out).
pub(super) fn resolve_choice(m: &mut IntentMatch, ctx: &DialogueContext) -> bool {
    let Some(choice) = m.slots.get("choice").map(|v| v.to_string()) else {
        return true;
    };
    let Some(place) = choose(&ctx.places, &choice) else {
        return false;
    };
    m.slots.remove("choice");
    m.slot_text.remove("choice");
    m.slots
        .insert("destination".into(), SlotValue::Text(place.name.clone()));
    m.slot_text.insert("destination".into(), place.name.clone());
    if !place.id.is_empty() {
        m.slots
            .insert("place_id".into(), SlotValue::Text(place.id.clone()));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Vec<Place> {
        let p = |name: &str, d: f64, r: f64, price: f64| Place {
            name: name.into(),
            id: format!("id-{name}"),
            distance_m: Some(d),
            rating: Some(r),
            price_level: Some(price),
            address: None,
        };
        vec![
            p("Sushi Zen", 900.0, 4.2, 3.0),
            p("Sakura", 400.0, 4.8, 2.0),
            p("Tokyo Bay", 1500.0, 3.9, 1.0),
        ]
    }

    #[test]
    fn ordinals_and_superlatives_pick_the_right_place() {
        let ps = places();
        let name = |c: &str| choose(&ps, c).map(|p| p.name.as_str());
        assert_eq!(name("first"), Some("Sushi Zen"));
        assert_eq!(name("that"), Some("Sushi Zen"));
        assert_eq!(name("second"), Some("Sakura"));
        assert_eq!(name("third"), Some("Tokyo Bay"));
        assert_eq!(name("last"), Some("Tokyo Bay"));
        assert_eq!(name("fourth"), None);
        assert_eq!(name("closest"), Some("Sakura"));
        assert_eq!(name("cheapest"), Some("Tokyo Bay"));
        assert_eq!(name("best_rated"), Some("Sakura"));
        assert_eq!(name("tallest"), None);
    }

    #[test]
    fn pointing_words_name_no_place() {
        for v in [
            "there",
            "There",
            " here ",
            "that place",
            "过去",
            "那里",
            "那儿吧",
            "这家",
        ] {
            assert!(only_points(v), "{v:?}");
        }
        for v in [
            "the airport",
            "there and back again",
            "过去的地方公园",
            "北京",
            "Sushi Zen",
        ] {
            assert!(!only_points(v), "{v:?}");
        }
    }

    #[test]
    fn a_superlative_without_the_attribute_names_nothing() {
        let ps = vec![Place {
            name: "Nowhere".into(),
            ..Place::default()
        }];
        assert!(choose(&ps, "cheapest").is_none());
        assert!(choose(&[], "first").is_none());
    }
}
