//! The understanding API: loading community hassil files, errors with positions, dynamic
//! lists, dialogue context, typed slots, metadata and responses.

use skylark::nlu::{DialogueContext, Grammar, Language, NluError, Recognizer, SlotValue};
use std::path::PathBuf;

fn grammar(name: &str, yaml: &str) -> Result<Grammar, NluError> {
    let mut g = Grammar::new();
    g.add_source(name, yaml)?;
    Ok(g)
}

fn recognizer(yaml: &str) -> Recognizer {
    Recognizer::new(grammar("test.yaml", yaml).unwrap()).unwrap()
}

fn en() -> Language {
    Language::english()
}

fn zh() -> Language {
    Language::mandarin()
}

/// A file in the shape of home-assistant/intents: `_common.yaml` lists and rules used by an
/// intent file, `requires_context` copying into a slot, `{list:slot}`, ranges with
/// `multiplier`, permutations and `light[s]`.
const HA_COMMON: &str = r##"
language: "en"
responses:
  intents:
    HassLightSet:
      default: "Brightness set to {{ slots.brightness }}"
lists:
  brightness:
    range:
      type: "percentage"
      from: 0
      to: 100
  brightness_level:
    range:
      from: 0
      to: 100
      multiplier: 0.01
  color:
    values:
      - "white"
      - in: "(red|crimson)"
        out: "red"
        metadata:
          hex: "#ff0000"
  name:
    values:
      - in: "kitchen light"
        out: "light.kitchen"
        context:
          domain: light
expansion_rules:
  name: "[the] {name}"
  brightness: "{brightness} [percent]"
skip_words:
  - "please"
"##;

const HA_INTENTS: &str = r#"
language: "en"
intents:
  HassLightSet:
    data:
      - sentences:
          - "set <name> brightness to <brightness>"
          - "(<name>; brightness <brightness>)"
        requires_context:
          domain: light
      - sentences:
          - "set <name> [color] to {color}"
        slots:
          domain: light
      - sentences:
          - "dim [the] light[s] to {brightness_level:level}"
        response: dim
  HassTurnOn:
    data:
      - sentences:
          - "turn on [the] light[s] in [the] {area}"
        requires_context:
          area:
            slot: true
"#;

#[test]
fn loads_home_assistant_shaped_files_as_they_are() {
    let mut g = grammar("_common.yaml", HA_COMMON).unwrap();
    g.merge(grammar("light_HassLightSet.yaml", HA_INTENTS).unwrap());
    let r = Recognizer::new(g).unwrap();
    let ctx = DialogueContext::new();

    let m = r
        .recognize("Set the kitchen light brightness to 50%", &en(), &ctx)
        .unwrap();
    assert_eq!(m.intent, "HassLightSet");
    assert_eq!(m.slots["name"], SlotValue::Text("light.kitchen".into()));
    assert_eq!(m.slots["brightness"], SlotValue::Integer(50));
    assert_eq!(m.response.as_deref(), Some("Brightness set to 50"));
    assert_eq!(m.confidence, 1.0);

    // Permutation: either order.
    let m = r
        .recognize("brightness 20 percent the kitchen light", &en(), &ctx)
        .unwrap();
    assert_eq!(m.slots["brightness"], SlotValue::Integer(20));

    // in/out with a template `in`, value metadata, fixed slots.
    let m = r
        .recognize("please set kitchen light to crimson", &en(), &ctx)
        .unwrap();
    assert_eq!(m.slots["color"], SlotValue::Text("red".into()));
    assert_eq!(m.slots["domain"], SlotValue::Text("light".into()));
    assert_eq!(m.metadata["hex"], serde_json::json!("#ff0000"));

    // Multiplier and `{list:slot}` renaming; `light[s]` glued into "lights".
    let m = r.recognize("dim the lights to fifty", &en(), &ctx).unwrap();
    assert_eq!(m.slots["level"], SlotValue::Number(0.5));
    let m = r.recognize("dim the light to 25", &en(), &ctx).unwrap();
    assert_eq!(m.slots["level"], SlotValue::Number(0.25));

    // requires_context with `slot: true` needs the value and copies it into the slot.
    assert!(r
        .recognize("turn on the lights in the garage", &en(), &ctx)
        .is_none());
    r.set_list("area", vec![("garage".into(), "garage".into())]);
    assert!(r
        .recognize("turn on the lights in the garage", &en(), &ctx)
        .is_none());
    let ctx = DialogueContext::new().with_value("area", "garage");
    let m = r
        .recognize("turn on the lights in the garage", &en(), &ctx)
        .unwrap();
    assert_eq!(m.slots["area"], SlotValue::Text("garage".into()));
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let text = "language: en\nintents:\n  Foo:\n    data:\n      - sentences:\n          - \"unterminated\n";
    let err = grammar("broken.yaml", text).unwrap_err();
    let loc = err.location().expect("a location").clone();
    assert!(matches!(err, NluError::Yaml { .. }), "{err}");
    assert_eq!(loc.file, "broken.yaml");
    assert!(loc.line >= 6, "{err}");
    assert!(err.to_string().starts_with("broken.yaml:"), "{err}");

    let err = grammar("tabs.yaml", "language: en\nintents: [a\n").unwrap_err();
    assert!(matches!(err, NluError::Yaml { .. }), "{err}");
}

#[test]
fn template_errors_name_file_line_and_column() {
    let text = "language: en\nintents:\n  Foo:\n    data:\n      - sentences:\n          - \"turn (on|off the light\"\n";
    let err = grammar("foo.yaml", text).unwrap_err();
    let NluError::Template {
        location,
        template,
        message,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (location.file.as_str(), location.line, location.column),
        ("foo.yaml", 6, 19),
        "{err}"
    );
    assert_eq!(template, "turn (on|off the light");
    assert!(message.contains("never closed"), "{err}");
    assert_eq!(err.to_string().split(": ").next(), Some("foo.yaml:6:19"));

    // Plain (unquoted) scalar: column of the stray bracket itself.
    let text =
        "language: en\nintents:\n  Foo:\n    data:\n      - sentences:\n          - turn on]\n";
    let err = grammar("bar.yaml", text).unwrap_err();
    let loc = err.location().unwrap();
    assert_eq!((loc.line, loc.column), (6, 20), "{err}");

    // Unknown rules are found when compiling, at the template that uses them.
    let text = "language: en\nintents:\n  Foo:\n    data:\n      - sentences:\n          - \"hello <nobody>\"\n";
    let err = Recognizer::new(grammar("rule.yaml", text).unwrap()).unwrap_err();
    assert!(
        matches!(&err, NluError::UnknownRule { rule, location } if rule == "nobody" && location.line == 6),
        "{err}"
    );

    let text = "language: en\nexpansion_rules:\n  a: \"x <a>\"\nintents:\n  Foo:\n    data:\n      - sentences: [\"<a>\"]\n";
    let err = Recognizer::new(grammar("loop.yaml", text).unwrap()).unwrap_err();
    assert!(matches!(err, NluError::RecursiveRule { .. }), "{err}");
}

#[test]
fn schema_errors_name_the_position() {
    let cases = [
        ("intents: {}\n", "language"),
        (
            "language: en\nintents:\n  Foo:\n    sentences: [a]\n",
            "data",
        ),
        (
            "language: en\nlists:\n  x:\n    range:\n      from: 5\n",
            "from` and `to",
        ),
        (
            "language: en\nlists:\n  x:\n    range: {from: 1, to: 2, type: speed}\n",
            "unknown range type",
        ),
        ("language: en\nlists:\n  x:\n    nothing: 1\n", "values"),
        ("language: \"not a tag!\"\n", "invalid language"),
    ];
    for (text, want) in cases {
        let err = grammar("s.yaml", text).unwrap_err();
        assert!(matches!(err, NluError::Schema { .. }), "{text}: {err}");
        assert!(err.to_string().contains(want), "{text}: {err}");
        assert!(
            err.location().is_some_and(|l| l.line >= 1 && l.column >= 1),
            "{err}"
        );
    }
}

#[test]
fn load_reads_folders_and_reports_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("en")).unwrap();
    std::fs::write(dir.path().join("en/_common.yaml"), HA_COMMON).unwrap();
    std::fs::write(dir.path().join("en/light.yaml"), HA_INTENTS).unwrap();
    std::fs::write(dir.path().join("en/notes.txt"), "not yaml {").unwrap();
    let g = Grammar::load(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(g.intent_names(), vec!["HassLightSet", "HassTurnOn"]);

    let err = Grammar::load(&[PathBuf::from("/nonexistent/intents")]).unwrap_err();
    assert!(
        matches!(err, NluError::Io { .. }) && err.to_string().contains("/nonexistent/intents"),
        "{err}"
    );
}

#[test]
fn builtin_catalog_dynamic_lists_replace_wildcards() {
    let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
    let ctx = DialogueContext::new();
    let m = r.recognize("call mom", &en(), &ctx).unwrap();
    assert_eq!(m.slots["contact"], SlotValue::Text("mom".into()));
    assert!(m.confidence < 1.0, "a wildcard contact is less certain");

    r.set_list(
        "contact",
        vec![
            ("mom".into(), "+1 555 0100".into()),
            ("妈妈".into(), "+86 138 0000 0000".into()),
        ],
    );
    let m = r.recognize("call mom", &en(), &ctx).unwrap();
    assert_eq!(m.slots["contact"], SlotValue::Text("+1 555 0100".into()));
    assert_eq!(m.slot_text["contact"], "mom");
    assert_eq!(m.confidence, 1.0);
    let m = r.recognize("给妈妈打个电话", &zh(), &ctx).unwrap();
    assert_eq!(
        m.slots["contact"],
        SlotValue::Text("+86 138 0000 0000".into())
    );

    // Replacing the list again drops the old values.
    r.set_list("contact", vec![("dad".into(), "+1 555 0101".into())]);
    let m = r.recognize("call mom", &en(), &ctx).unwrap();
    assert_eq!(m.slots["contact"], SlotValue::Text("mom".into()));

    r.set_list("poi", vec![("the office".into(), "geo:52.52,13.40".into())]);
    let m = r.recognize("navigate to the office", &en(), &ctx).unwrap();
    assert_eq!(
        m.slots["destination"],
        SlotValue::Text("geo:52.52,13.40".into())
    );
}

#[test]
fn builtin_catalog_metadata_responses_and_json() {
    let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
    let ctx = DialogueContext::new();
    let m = r
        .recognize("把副驾温度调到二十二点五度", &zh(), &ctx)
        .unwrap();
    assert_eq!(m.intent, "climate.set_temperature");
    assert_eq!(
        m.metadata["vss"],
        serde_json::json!("Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature")
    );
    assert_eq!(m.response.as_deref(), Some("好的，温度已设为22.5度。"));
    assert_eq!(m.language.to_string(), "zh-CN");

    let m = r
        .recognize(
            "set the temperature to 22 degrees",
            &Language::parse("EN-us").unwrap(),
            &ctx,
        )
        .unwrap();
    assert_eq!(
        m.metadata["vss"],
        serde_json::json!("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature")
    );
    let line = m
        .to_contract_json("set the temperature to 22 degrees")
        .to_string();
    assert_eq!(
        line,
        r#"{"confidence":1.0,"intent":"climate.set_temperature","slots":{"temperature":22},"source":"grammar","text":"set the temperature to 22 degrees"}"#
    );
    let m = r
        .recognize("open the rear left window", &en(), &ctx)
        .unwrap();
    assert_eq!(
        m.metadata["vss"],
        serde_json::json!("Vehicle.Cabin.Door.Row2.DriverSide.Window.Position")
    );
    assert_eq!(m.response.as_deref(), Some("Opening the window."));

    // Serialises whole for adapters that want everything.
    let full = serde_json::to_value(&m).unwrap();
    assert_eq!(full["template"], serde_json::json!(m.template));

    // A language without a grammar gives no match rather than an error.
    assert!(r
        .recognize("öffne das Fenster", &Language::parse("de").unwrap(), &ctx)
        .is_none());
    assert!(r.supports(&Language::parse("zh-Hans").unwrap()));
}

#[test]
fn follow_ups_resolve_against_the_previous_turn() {
    let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
    let mut ctx = DialogueContext::new();
    let first = r.recognize("把主驾温度调到二十二度", &zh(), &ctx).unwrap();
    ctx.remember(&first);
    let m = r.recognize("再高一点", &zh(), &ctx).unwrap();
    assert_eq!(m.intent, "climate.adjust_temperature");
    assert_eq!(m.slots["temperature"], SlotValue::Integer(23));
    assert_eq!(m.slots["zone"], SlotValue::Text("driver".into()));

    let vol = r.recognize("音量调到三十", &zh(), &ctx).unwrap();
    let m = r
        .recognize("再高一点", &zh(), &DialogueContext::after(&vol))
        .unwrap();
    assert_eq!(m.intent, "media.adjust_volume");

    let prev = r
        .recognize("set the temperature to 20", &en(), &DialogueContext::new())
        .unwrap();
    let m = r
        .recognize("a bit warmer", &en(), &DialogueContext::after(&prev))
        .unwrap();
    assert_eq!(
        (m.intent.as_str(), &m.slots["temperature"]),
        ("climate.adjust_temperature", &SlotValue::Integer(21))
    );
    // "turn it up" is the volume, unless the previous turn was about the climate.
    let m = r
        .recognize("turn it up", &en(), &DialogueContext::new())
        .unwrap();
    assert_eq!(m.intent, "media.adjust_volume");
    let m = r
        .recognize("turn it up", &en(), &DialogueContext::after(&prev))
        .unwrap();
    assert_eq!(m.intent, "climate.adjust_temperature");
}

#[test]
fn ranking_prefers_literal_words_over_wildcards_deterministically() {
    let r = recognizer(
        r#"
language: en
lists:
  anything: {wildcard: true}
  song: {values: ["yellow submarine"]}
intents:
  Play:
    data:
      - sentences: ["play {anything:query}"]
      - sentences: ["play {song:query}"]
  PlayBy:
    data:
      - sentences: ["play {anything:query} by {anything:artist}"]
"#,
    );
    let ctx = DialogueContext::new();
    let m = r.recognize("play yellow submarine", &en(), &ctx).unwrap();
    assert_eq!(m.template, "play {song:query}");
    assert_eq!(m.confidence, 1.0);
    let m = r
        .recognize("play help by the beatles", &en(), &ctx)
        .unwrap();
    assert_eq!(m.intent, "PlayBy");
    assert_eq!(m.slots["artist"], SlotValue::Text("the beatles".into()));
    for _ in 0..3 {
        assert_eq!(
            r.recognize("play something", &en(), &ctx).unwrap().slots["query"],
            SlotValue::Text("something".into())
        );
    }
}

#[test]
fn mandarin_folding_and_numbers_in_ranges() {
    let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
    let ctx = DialogueContext::new();
    for (text, want) in [
        ("把温度调到二十二度", 22.0),
        ("把溫度調到二十二度", 22.0),
        ("温度调到２２．５度", 22.5),
        ("温度调到 22 度", 22.0),
        ("温度调到二十二点五", 22.5),
        ("温度调到十八度半", 18.5),
    ] {
        let m = r
            .recognize(text, &zh(), &ctx)
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(m.slots["temperature"].as_f64(), Some(want), "{text}");
    }
    let m = r.recognize("音量调到两百", &zh(), &ctx);
    assert!(m.is_none(), "200 is out of the volume range");
}

#[test]
fn recognizer_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Recognizer>();
    let r = std::sync::Arc::new(Recognizer::new(Grammar::builtin().unwrap()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || {
                r.set_list("contact", vec![(format!("friend {i}"), format!("id{i}"))]);
                r.recognize(
                    "open the sunroof",
                    &Language::english(),
                    &DialogueContext::new(),
                )
                .map(|m| m.intent)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().as_deref(), Some("sunroof.open"));
    }
}

#[test]
fn glued_suffixes_and_possessives_match_whole_words() {
    let r = recognizer(
        r#"
language: en
lists:
  name: {values: [{in: "front door", out: lock.front}]}
expansion_rules:
  lockable: "[the] (lock|door|gate)[s]"
intents:
  Check:
    data:
      - sentences:
          - "(is|are) <lockable> locked"
          - "what is {name}['s] state"
"#,
    );
    let ctx = DialogueContext::new();
    for text in [
        "are the doors locked",
        "is the gate locked",
        "are locks locked",
    ] {
        assert_eq!(
            r.recognize(text, &en(), &ctx).map(|m| m.intent).as_deref(),
            Some("Check"),
            "{text}"
        );
    }
    let m = r
        .recognize("what is front door's state", &en(), &ctx)
        .unwrap();
    assert_eq!(m.slots["name"], SlotValue::Text("lock.front".into()));
    assert!(r
        .recognize("what is front door state", &en(), &ctx)
        .is_some());
    assert!(r.recognize("are the doorss locked", &en(), &ctx).is_none());
}

#[test]
fn n_best_lists_alternative_intents_in_rank_order() {
    let r = Recognizer::new(Grammar::builtin().unwrap()).unwrap();
    let all = r.recognize_n("stop", &en(), &DialogueContext::new(), 5);
    let intents: Vec<&str> = all.iter().map(|m| m.intent.as_str()).collect();
    assert!(intents.len() >= 2, "{intents:?}");
    assert!(
        intents.contains(&"media.pause") && intents.contains(&"assistant.cancel"),
        "{intents:?}"
    );
    assert_eq!(
        Some(&all[0]),
        r.recognize("stop", &en(), &DialogueContext::new()).as_ref()
    );
    assert!(r
        .recognize_n("stop", &en(), &DialogueContext::new(), 0)
        .is_empty());
    assert!(r
        .recognize_n("blah blah", &en(), &DialogueContext::new(), 3)
        .is_empty());
}

/// The shapes Home Assistant's zh-cn files use: `ignore_whitespace`, rule names with spaces,
/// an empty alternative `(小时|个|)`, top-level alternatives in a rule, `最(亮|高)` values.
#[test]
fn mandarin_hassil_shapes() {
    let r = recognizer(
        r#"
language: zh-cn
settings:
  ignore_whitespace: true
lists:
  minutes: {range: {from: 1, to: 100}}
  hours: {range: {from: 1, to: 100}}
  half: {values: [{in: "半", out: 30}]}
  level: {values: [{in: "最(亮|高|大)", out: 100}, {in: "最(暗|低)", out: 1}]}
expansion_rules:
  hour unit: "(小时|钟头|个|个钟头|个小时|)"
  today: "今日|今天|今个"
  duration: "({hours:hours}<hour unit>{half:minutes}<hour unit>)|({minutes:minutes} 分钟)"
intents:
  Timer:
    data:
      - sentences: ["<duration>后提醒我", "<today>[的]计时器"]
  Light:
    data:
      - sentences: ["[把]灯[亮度]调到{level:brightness}"]
"#,
    );
    let ctx = DialogueContext::new();
    let m = r.recognize("一个半小时后提醒我", &zh(), &ctx).unwrap();
    assert_eq!(
        (&m.slots["hours"], &m.slots["minutes"]),
        (&SlotValue::Integer(1), &SlotValue::Integer(30))
    );
    let m = r.recognize("十 分钟 后 提醒 我", &zh(), &ctx).unwrap();
    assert_eq!(m.slots["minutes"], SlotValue::Integer(10));
    assert!(r.recognize("今个计时器", &zh(), &ctx).is_some());
    let m = r.recognize("把燈亮度調到最亮", &zh(), &ctx).unwrap();
    assert_eq!(m.slots["brightness"], SlotValue::Integer(100));
}

/// A template is only tried when the sentence's first word can begin it; these begin with a
/// list value, a list filled later by `set_list`, a number, a wildcard, an optional word and
/// a permutation, and each still matches (and a wrong first word still does not).
#[test]
fn templates_match_whatever_their_first_step_is() {
    let r = recognizer(
        r#"
language: "en"
intents:
  ByList:
    data:
      - sentences: ["{seat} heating on"]
        lists:
          seat:
            values: ["driver", "passenger"]
  ByDynamic:
    data:
      - sentences: ["{friend} is calling"]
  ByNumber:
    data:
      - sentences: ["{level} percent fan"]
        lists:
          level:
            range: { from: 0, to: 100 }
  ByWildcard:
    data:
      - sentences: ["{song} by the radio"]
        lists:
          song:
            wildcard: true
  ByOptional:
    data:
      - sentences: ["[could you] open the sunroof"]
  ByPermutation:
    data:
      - sentences: ["(lock; the doors)"]
"#,
    );
    let ctx = DialogueContext::new();
    let intent = |text: &str| r.recognize(text, &en(), &ctx).map(|m| m.intent);
    assert_eq!(intent("driver heating on").as_deref(), Some("ByList"));
    assert_eq!(intent("rear heating on"), None);
    assert_eq!(
        intent("alice is calling"),
        None,
        "the dynamic list is empty"
    );
    r.set_list("friend", vec![("alice".into(), "alice".into())]);
    assert_eq!(intent("alice is calling").as_deref(), Some("ByDynamic"));
    assert_eq!(intent("seventy percent fan").as_deref(), Some("ByNumber"));
    assert_eq!(intent("70 percent fan").as_deref(), Some("ByNumber"));
    assert_eq!(
        intent("yellow submarine by the radio").as_deref(),
        Some("ByWildcard")
    );
    assert_eq!(
        intent("could you open the sunroof").as_deref(),
        Some("ByOptional")
    );
    assert_eq!(intent("open the sunroof").as_deref(), Some("ByOptional"));
    assert_eq!(intent("you open the sunroof"), None);
    assert_eq!(intent("the doors lock").as_deref(), Some("ByPermutation"));
    assert_eq!(intent("lock the doors").as_deref(), Some("ByPermutation"));
}
