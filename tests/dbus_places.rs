//! Choosing among a handler's search results over D-Bus: a real Python jeepney handler answers
//! a restaurant search with three places (reply `(ssa{sv})`, `data["results"]`), the assistant
//! reads them out, and "the second one" / "第二个" then reaches the handler as
//! navigation.navigate_to with that place's name and id.

mod common;

use common::*;

const CONFIG: &str = "[dbus]\nhandler_timeout_ms = 5000\n";

const RESULTS: &str = r#"[
  {"name": "Sushi Zen", "id": "poi-1", "distance_m": 420, "rating": 4.2, "price_level": 3},
  {"name": "Sakura", "id": "poi-2", "distance_m": 1250, "rating": 4.8, "price_level": 2},
  {"name": "Tokyo Bay", "id": "poi-3", "distance_m": 2100, "rating": 3.9, "price_level": 1}
]"#;

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Runs the two turns and returns (search response, navigate_to Handle slots, final response).
fn search_then_choose(
    lang: &str,
    search: &str,
    choice: &str,
) -> (String, serde_json::Value, String) {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let mut cmd = bus.command(python().to_str().expect("utf-8 path"));
    cmd.arg(client_script("handler.py")).args([
        "--intent",
        "navigation.search_nearby",
        "--intent",
        "navigation.navigate_to",
        "--language",
        lang,
        "--ask",
        search,
        "--ask",
        choice,
        "--speech",
        "",
        "--results",
        RESULTS,
    ]);
    let mut client = Watcher::spawn(cmd);
    client.wait_for(|l| l.contains("\"registered\""));
    let first = json(&client.wait_for(|l| l.contains("\"handle\"")));
    assert_eq!(first["intent"], "navigation.search_nearby", "{first}");
    assert_eq!(first["slots"]["category"], "restaurant", "{first}");
    let listed = json(&client.wait_for(|l| l.contains("\"turn_finished\"")));
    assert_eq!(listed["status"], "ok", "{listed}");
    let second = json(&client.wait_for(|l| l.contains("\"handle\"")));
    assert_eq!(second["intent"], "navigation.navigate_to", "{second}");
    let done = json(&client.wait_for(|l| l.contains("\"turn_finished\"")));
    assert!(client.wait_exit().success());
    (
        listed["response"].as_str().unwrap_or_default().to_string(),
        second["slots"].clone(),
        done["response"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn english_search_results_then_the_second_one_navigates_there() {
    let (listed, slots, done) =
        search_then_choose("en", "find a cheap sushi place nearby", "the second one");
    assert_eq!(
        listed,
        "I found 3 places: first, Sushi Zen, 420 metres; second, Sakura, 1.3 kilometres; third, Tokyo Bay, 2.1 kilometres. Which one?"
    );
    assert_eq!(slots["destination"], "Sakura", "{slots}");
    assert_eq!(slots["place_id"], "poi-2", "{slots}");
    assert!(slots.get("choice").is_none(), "{slots}");
    // The navigation handler answered with an empty speech: the default response names it.
    assert_eq!(done, "Starting navigation to Sakura.");
}

#[test]
fn mandarin_search_results_then_di_er_ge_navigates_there() {
    let (listed, slots, done) = search_then_choose("zh-CN", "我想找一家附近的火锅店", "第二个");
    assert!(
        listed.starts_with("找到3个地方：第一个，Sushi Zen，420米；"),
        "{listed}"
    );
    assert!(listed.ends_with("去哪一个？"), "{listed}");
    assert_eq!(slots["destination"], "Sakura", "{slots}");
    assert_eq!(slots["place_id"], "poi-2", "{slots}");
    assert!(done.contains("Sakura"), "{done}");
}
