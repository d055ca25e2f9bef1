//! Turn traces and `skylark stats` against a real daemon on a private dbus-daemon, read by
//! independent clients: busctl (`RecentTurns`, `MemoryUsage`, JSON output), gdbus monitor
//! (`TurnFinished` then `TurnTrace`), the jeepney handler script (a handled turn), and the
//! `skylark stats` command itself; plus the daemon's log, one line per turn.

mod common;

use common::*;
use serde_json::Value;

const CONFIG: &str = "[dbus]\nhandler_timeout_ms = 5000\n";

/// `busctl --json=short call … RecentTurns u COUNT` as a list of `{key: value}` objects (the
/// variants unwrapped).
fn recent_turns(bus: &Bus, count: u32) -> Vec<serde_json::Map<String, Value>> {
    let out = ok(bus.busctl(&[
        "--json=short",
        "call",
        NAME,
        PATH,
        IFACE,
        "RecentTurns",
        "u",
        &count.to_string(),
    ]));
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["type"], "aa{sv}", "{out}");
    v["data"][0]
        .as_array()
        .unwrap_or_else(|| panic!("no array in {out}"))
        .iter()
        .map(|turn| {
            turn.as_object()
                .expect("a{sv}")
                .iter()
                .map(|(k, v)| (k.clone(), v["data"].clone()))
                .collect()
        })
        .collect()
}

/// The jeepney handler serving `climate.set_temperature`, asking "set the temperature to 22
/// degrees" once; `extra`: how it answers.
fn temperature_handler(bus: &Bus, extra: &[&str]) -> Watcher {
    let mut args = vec!["--intent", "climate.set_temperature"];
    args.extend(["--ask", "set the temperature to 22 degrees"]);
    args.extend_from_slice(extra);
    handler_client(bus, &args)
}

fn ms(turn: &serde_json::Map<String, Value>, key: &str) -> Option<f64> {
    turn.get(key).and_then(Value::as_f64)
}

/// A handled turn (jeepney handler), a turn without a handler, a sentence nothing
/// understands, and a `Recognize` (no turn): `RecentTurns` returns the three turns newest
/// first with plausible fields, each `TurnFinished` is followed by its `TurnTrace`, the log
/// has one `turn id=…` line per turn, and `skylark stats --json` reports p50 / p95 per stage,
/// the device / cloud counts and memory.
#[test]
fn recent_turns_trace_signal_log_line_and_stats() {
    let bus = Bus::start();
    let d = Daemon::start(&bus, CONFIG);
    let mut monitor = Watcher::monitor(&bus);

    // 1: handled by an independent client.
    let mut client = temperature_handler(&bus, &["--speech", "Twenty-two it is."]);
    let asked = client.wait_for(|l| l.contains("\"asked\""));
    let handled: Value = serde_json::from_str(&asked).expect("json");
    let handled = handled["turn"].as_str().expect("turn").to_string();
    client.wait_for(|l| l.contains("\"turn_finished\""));
    assert!(client.wait_exit().success());

    // 2: no handler (default response); 3: nothing understood.
    let mut paths = vec![handled];
    for text in ["turn on the ac", "blue ideas sleep furiously"] {
        let out = ok(bus.gdbus_call("Ask", &[text, "{'speak': <false>}"]));
        let turn = turn_path_in(&out);
        monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
        // The trace follows its TurnFinished: the very next signal of the daemon.
        let trace = monitor.wait_for(|l| l.contains("io.skylark.Assistant1."));
        assert!(
            trace.contains(".TurnTrace") && trace.contains(&turn),
            "TurnTrace does not follow TurnFinished of {turn}: {trace}"
        );
        assert!(
            trace.contains("'total_ms'") && trace.contains("'recognize_ms'"),
            "{trace}"
        );
        paths.push(turn);
    }
    // A Recognize is no turn: nothing is added.
    bus.recognize("open the sunroof");

    let turns = recent_turns(&bus, 10);
    assert_eq!(turns.len(), 3, "{turns:?}");
    let found: Vec<&str> = turns
        .iter()
        .map(|t| t["turn"].as_str().unwrap_or(""))
        .collect();
    let newest_first: Vec<&str> = paths.iter().rev().map(String::as_str).collect();
    assert_eq!(found, newest_first, "RecentTurns is newest first");
    let ids: Vec<u64> = turns
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64;
    for t in &turns {
        assert_eq!(t["kind"], "ask", "{t:?}");
        assert_eq!(t["language"], "en", "{t:?}");
        let started = t["started_unix_us"].as_u64().expect("started_unix_us");
        assert!(
            started <= now_us && now_us - started < 600_000_000,
            "{started} vs {now_us}"
        );
        let total = ms(t, "total_ms").expect("total_ms");
        let recognize = ms(t, "recognize_ms").expect("every Ask recognizes");
        assert!(recognize >= 0.0 && recognize <= total, "{t:?}");
        assert!(
            ms(t, "cancel_ms").is_none() && ms(t, "first_audio_ms").is_none(),
            "{t:?}"
        );
        for key in ["first_token_ms", "intent_recognized_ms", "handler_reply_ms"] {
            if let Some(at) = ms(t, key) {
                assert!(at <= total, "{key} after the end: {t:?}");
            }
        }
    }
    let (nothing, default, handled) = (&turns[0], &turns[1], &turns[2]);
    assert_eq!(nothing["status"], "no_intent");
    assert_eq!(nothing["intent"], "");
    assert_eq!(nothing["tier"], "none");
    assert!(ms(nothing, "intent_recognized_ms").is_none());
    assert_eq!(default["status"], "ok");
    assert_eq!(default["intent"], "climate.set_ac");
    assert_eq!(
        (&default["source"], &default["tier"]),
        (&"grammar".into(), &"grammar".into())
    );
    assert!(ms(default, "handler_ms").is_none(), "{default:?}");
    assert_eq!(handled["status"], "ok");
    assert_eq!(handled["intent"], "climate.set_temperature");
    let (intent_at, reply_at, token_at) = (
        ms(handled, "intent_recognized_ms").expect("intent mark"),
        ms(handled, "handler_reply_ms").expect("handler reply mark"),
        ms(handled, "first_token_ms").expect("answer mark"),
    );
    assert!(intent_at <= reply_at && reply_at <= token_at, "{handled:?}");
    assert!(ms(handled, "handler_ms").expect("handler_ms") > 0.0);

    // One turn → one RecentTurns entry when one is asked for.
    let one = recent_turns(&bus, 1);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["id"], turns[0]["id"]);

    // The log: one structured line per turn, key=value.
    let log = d.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" turn id=")).collect();
    assert_eq!(lines.len(), 3, "one line per turn:\n{}", lines.join("\n"));
    let handled_id = handled["id"].as_u64().expect("id");
    let line = lines
        .iter()
        .find(|l| l.contains(&format!("turn id={handled_id} ")))
        .expect("the handled turn's line");
    for part in [
        "kind=ask",
        "status=ok",
        "intent=climate.set_temperature",
        "source=grammar",
        "lang=en",
        "recognize_ms=",
        "handler_ms=",
        "total_ms=",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("status=no_intent intent=- source=none")),
        "{lines:?}"
    );

    // skylark stats --json: today's usage keys, and the new figures.
    let out = ok(run(bus.command(skylark_bin()).args(["stats", "--json"])));
    let stats: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(stats["turns"], 3, "Usage counts the turns: {stats}");
    let recent = &stats["recent_turns"];
    assert_eq!(recent["turns"], 3, "{stats}");
    assert_eq!(
        (&recent["device"], &recent["cloud"]),
        (&3.into(), &0.into())
    );
    assert_eq!(recent["by_status"]["ok"], 2, "{stats}");
    for key in ["recognize_ms", "total_ms"] {
        let f = &recent["stages"][key];
        assert_eq!(f["n"], 3, "{key}: {stats}");
        let (p50, p95) = (
            f["p50"].as_f64().expect("p50"),
            f["p95"].as_f64().expect("p95"),
        );
        assert!(0.0 <= p50 && p50 <= p95, "{key}: {f}");
    }
    assert_eq!(recent["stages"]["handler_ms"]["n"], 1, "{stats}");
    let memory = &stats["memory"];
    let rss = memory["rss_bytes"].as_u64().expect("rss_bytes");
    assert!(rss > 1 << 20, "{memory}");
    assert!(
        memory["peak_rss_bytes"].as_u64().expect("peak") >= rss,
        "{memory}"
    );
    let stages = memory["stages"].as_object().expect("stages");
    assert!(
        stages["start"].as_i64().expect("start") > 0 && stages.contains_key("grammar"),
        "{memory}"
    );

    // And the aligned text, extended (today's lines first).
    let text = ok(run(bus.command(skylark_bin()).arg("stats")));
    assert!(
        text.starts_with("breaker_opened") || text.contains("turns "),
        "{text}"
    );
    for part in ["recent turns", "p50 ms", "recognize_ms", "memory", "rss"] {
        assert!(text.contains(part), "{part} missing:\n{text}");
    }
}

/// A turn cancelled while its handler (a jeepney client that never answers) holds it: the
/// trace has the intent and the cancel, no handler reply, and `TurnTrace` says so too.
#[test]
fn a_cancelled_turn_is_traced_with_its_cancel() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let mut monitor = Watcher::monitor(&bus);
    let mut client = temperature_handler(&bus, &["--mode", "never"]);
    let asked = client.wait_for(|l| l.contains("\"asked\""));
    let asked: Value = serde_json::from_str(&asked).expect("json");
    let turn = asked["turn"].as_str().expect("turn").to_string();
    client.wait_for(|l| l.contains("\"handle\""));
    ok(bus.busctl(&["call", NAME, PATH, IFACE, "Cancel", "o", &turn]));
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(finished.contains("'cancelled'"), "{finished}");
    let trace = monitor.wait_for(|l| l.contains(".TurnTrace"));
    assert!(
        trace.contains(&turn) && trace.contains("'cancel_ms'"),
        "{trace}"
    );
    let turns = recent_turns(&bus, 5);
    assert_eq!(turns.len(), 1, "{turns:?}");
    let t = &turns[0];
    assert_eq!(t["status"], "cancelled");
    assert_eq!(t["intent"], "climate.set_temperature");
    let (intent_at, cancel_at, total) = (
        ms(t, "intent_recognized_ms").expect("intent mark"),
        ms(t, "cancel_ms").expect("cancel mark"),
        ms(t, "total_ms").expect("total"),
    );
    assert!(intent_at <= cancel_at && cancel_at <= total, "{t:?}");
    assert!(ms(t, "handler_reply_ms").is_none(), "{t:?}");
}
