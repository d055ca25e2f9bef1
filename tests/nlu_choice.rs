//! Choosing among offered places with the built-in catalog: "the second one", "第二个",
//! "导航过去" become navigation.navigate_to with that place while places are offered, and mean
//! nothing otherwise.

use skylark::nlu::{DialogueContext, Grammar, Language, Place, Recognizer, SlotValue};

fn recognizer() -> Recognizer {
    Recognizer::new(Grammar::builtin().expect("catalog loads")).expect("catalog compiles")
}

fn offered() -> DialogueContext {
    let p = |name: &str, id: &str, d: f64, rating: f64, price: f64| Place {
        name: name.into(),
        id: id.into(),
        distance_m: Some(d),
        rating: Some(rating),
        price_level: Some(price),
        address: None,
    };
    let mut ctx = DialogueContext::new();
    ctx.places = vec![
        p("Sushi Zen", "poi-1", 900.0, 4.2, 3.0),
        p("Sakura", "poi-2", 400.0, 4.8, 2.0),
        p("海底捞", "poi-3", 1500.0, 3.9, 1.0),
    ];
    ctx
}

fn destination(
    r: &Recognizer,
    lang: &str,
    text: &str,
    ctx: &DialogueContext,
) -> Option<(String, String)> {
    let m = r.recognize(text, &Language::parse(lang).unwrap(), ctx)?;
    assert_eq!(m.intent, "navigation.navigate_to", "{text}: {m:?}");
    let get = |k: &str| {
        m.slots
            .get(k)
            .and_then(SlotValue::as_str)
            .unwrap_or("")
            .to_string()
    };
    assert!(
        !m.slots.contains_key("choice"),
        "{text}: choice is resolved away"
    );
    assert!(
        m.response
            .as_deref()
            .unwrap_or("")
            .contains(&get("destination")),
        "{text}: the response names the place: {:?}",
        m.response
    );
    Some((get("destination"), get("place_id")))
}

#[test]
fn english_choices_resolve_to_the_offered_place() {
    let r = recognizer();
    let ctx = offered();
    for (text, want) in [
        ("the second one", "poi-2"),
        ("the cheaper one", "poi-3"),
        ("the closest", "poi-2"),
        ("the first one please", "poi-1"),
        ("let's go with the best rated one", "poi-2"),
        ("take me there", "poi-1"),
        ("number three", "poi-3"),
        ("the last one", "poi-3"),
    ] {
        let got = destination(&r, "en", text, &ctx).unwrap_or_else(|| panic!("{text}: no intent"));
        assert_eq!(got.1, want, "{text}: {got:?}");
    }
    assert_eq!(
        destination(&r, "en", "the second one", &ctx).unwrap().0,
        "Sakura"
    );
}

#[test]
fn mandarin_choices_resolve_to_the_offered_place() {
    let r = recognizer();
    let ctx = offered();
    for (text, want) in [
        ("第二个", "poi-2"),
        ("导航过去", "poi-1"),
        ("去第一家", "poi-1"),
        ("便宜的那家", "poi-3"),
        ("最近的那家", "poi-2"),
        ("就第三个吧", "poi-3"),
        ("评分最高的", "poi-2"),
    ] {
        let got =
            destination(&r, "zh-CN", text, &ctx).unwrap_or_else(|| panic!("{text}: no intent"));
        assert_eq!(got.1, want, "{text}: {got:?}");
    }
    assert_eq!(
        destination(&r, "zh-CN", "第三个", &ctx).unwrap().0,
        "海底捞"
    );
}

#[test]
fn without_offered_places_a_choice_means_nothing() {
    let r = recognizer();
    let none = DialogueContext::new();
    for (lang, text) in [
        ("en", "the second one"),
        ("en", "take me there"),
        ("en", "navigate there"),
        ("zh-CN", "第二个"),
        ("zh-CN", "导航过去"),
        ("zh-CN", "去那里"),
        ("zh-CN", "导航去那里"),
    ] {
        let lang = Language::parse(lang).unwrap();
        assert_eq!(r.recognize(text, &lang, &none), None, "{text}");
        // Nor does the tolerant path make a place called "there" / "过去" out of it.
        let loose = r.recognize_tolerant(text, &lang, &none);
        assert!(
            loose
                .as_ref()
                .is_none_or(|m| m.intent != "navigation.navigate_to"),
            "{text}: {loose:?}"
        );
    }
    // Two places offered: "the third one" names none of them.
    let mut two = offered();
    two.places.truncate(2);
    assert_eq!(
        r.recognize("the third one", &Language::parse("en").unwrap(), &two),
        None
    );
    assert_eq!(
        r.recognize("第三个", &Language::parse("zh-CN").unwrap(), &two),
        None
    );
}

#[test]
fn another_domain_forgets_the_offered_places_and_navigation_keeps_them() {
    let r = recognizer();
    let en = Language::parse("en").unwrap();
    let mut ctx = offered();
    let nav = r.recognize("the second one", &en, &ctx).expect("a choice");
    ctx.remember(&nav);
    assert_eq!(
        ctx.places.len(),
        3,
        "a navigation turn keeps them for 'no, the cheaper one'"
    );
    let other = r.recognize("turn on the AC", &en, &ctx).expect("climate");
    ctx.remember(&other);
    assert!(ctx.places.is_empty());
}
