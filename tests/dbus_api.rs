//! The D-Bus API of DESIGN.md, driven by real independent clients (busctl, gdbus, dbus-send,
//! Python jeepney) against `skylark daemon` on a private dbus-daemon.

mod common;

use common::*;
use std::path::Path;

const CONFIG: &str = "[dbus]\nhandler_timeout_ms = 5000\n";

/// The contract's interface, as the file installs it and as the live daemon introspects it,
/// compared without comments and layout.
#[test]
fn live_introspection_matches_the_installed_xml() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let live = ok(bus.busctl(&["--xml-interface", "introspect", NAME, PATH]));
    let file = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/io.skylark.Assistant1.xml"),
    )
    .expect("systemd/io.skylark.Assistant1.xml");
    let live_iface = interface_element(&live, IFACE);
    let file_iface = interface_element(&file, IFACE);
    assert_eq!(
        live_iface, file_iface,
        "live introspection differs from systemd/io.skylark.Assistant1.xml"
    );
    for member in [
        "Recognize",
        "Ask",
        "StartListening",
        "Transcribe",
        "Speak",
        "Cancel",
        "RegisterHandler",
        "UnregisterHandler",
        "SetList",
    ] {
        assert!(
            live_iface.contains(&format!("<method name=\"{member}\">")),
            "method {member} missing"
        );
    }
    for signal in [
        "WakeWordDetected",
        "Transcript",
        "IntentRecognized",
        "ResponseChunk",
        "TurnFinished",
    ] {
        assert!(
            live_iface.contains(&format!("<signal name=\"{signal}\">")),
            "signal {signal} missing"
        );
    }
    assert!(file.contains("<interface name=\"io.skylark.Assistant1.Handler\">"));
}

/// `<interface name=NAME>…</interface>` with comments removed and whitespace between tags
/// dropped.
fn interface_element(xml: &str, name: &str) -> String {
    let mut text = String::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        let end = rest[start..]
            .find("-->")
            .map(|e| start + e + 3)
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    text.push_str(rest);
    let open = format!("<interface name=\"{name}\">");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in:\n{xml}"));
    let end = text[start..]
        .find("</interface>")
        .map(|e| start + e + "</interface>".len())
        .expect("</interface>");
    text[start..end]
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("")
}

#[test]
fn recognize_with_busctl_dbus_send_and_gdbus() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let out = bus.recognize("set the temperature to 22 degrees");
    assert_eq!(
        out.trim(),
        r#"sa{sv}ds "climate.set_temperature" 1 "temperature" d 22 1 "grammar""#
    );

    // Nothing matched: intent "", no slots, source none.
    let out = bus.recognize("what is the meaning of life");
    assert_eq!(out.trim(), r#"sa{sv}ds "" 0 0 "none""#);

    // Mandarin through the language option (zh means zh-CN).
    let out = ok(bus.busctl(&[
        "call",
        NAME,
        PATH,
        IFACE,
        "Recognize",
        "sa{sv}",
        "把温度调到二十二度",
        "1",
        "language",
        "s",
        "zh",
    ]));
    assert_eq!(
        out.trim(),
        r#"sa{sv}ds "climate.set_temperature" 1 "temperature" d 22 1 "grammar""#
    );

    // dbus-send cannot build an a{sv}: what it sends (a{ss}) is refused by type, and the
    // daemon serves the next call.
    let err = fails(bus.dbus_send(
        "Recognize",
        &[
            "string:set the temperature to 22 degrees",
            "dict:string:string:language,en",
        ],
    ));
    assert!(
        err.contains("org.freedesktop.DBus.Error.InvalidArgs"),
        "{err}"
    );

    // gdbus, with a zone.
    let out = ok(bus.gdbus_call(
        "Recognize",
        &["set the driver temperature to 21.5 degrees", "{}"],
    ));
    assert!(
        out.contains("'climate.set_temperature'") && out.contains("'grammar'"),
        "{out}"
    );
}

#[test]
fn properties_get_set_and_properties_changed() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let get = |p: &str| {
        ok(bus.busctl(&["get-property", NAME, PATH, IFACE, p]))
            .trim()
            .to_string()
    };
    assert_eq!(get("State"), "s \"idle\"");
    assert_eq!(get("Language"), "s \"en\"");
    assert_eq!(get("RoutingMode"), "s \"local\"");
    assert_eq!(get("WakeWordEnabled"), "b false");
    assert_eq!(
        get("Version"),
        format!("s \"{}\"", env!("CARGO_PKG_VERSION"))
    );
    let intents = get("Intents");
    for i in [
        "climate.set_temperature",
        "navigation.search_nearby",
        "phone.call",
        "assistant.cancel",
    ] {
        assert!(
            intents.contains(&format!("\"{i}\"")),
            "{i} not in {intents}"
        );
    }

    let mut monitor = Watcher::monitor(&bus);
    ok(bus.busctl(&[
        "set-property",
        NAME,
        PATH,
        IFACE,
        "Language",
        "s",
        "ZH-hans",
    ]));
    assert_eq!(get("Language"), "s \"zh-CN\"");
    monitor.wait_for(|l| l.contains("PropertiesChanged") && l.contains("'Language': <'zh-CN'>"));
    ok(bus.busctl(&[
        "set-property",
        NAME,
        PATH,
        IFACE,
        "RoutingMode",
        "s",
        "hybrid",
    ]));
    assert_eq!(get("RoutingMode"), "s \"hybrid\"");
    monitor.wait_for(|l| l.contains("'RoutingMode': <'hybrid'>"));
    // Volume mirrors tts.volume (1.0 by default), is writable, and says so.
    assert_eq!(get("Volume"), "d 1");
    ok(bus.busctl(&["set-property", NAME, PATH, IFACE, "Volume", "d", "0.25"]));
    assert_eq!(get("Volume"), "d 0.25");
    monitor.wait_for(|l| l.contains("PropertiesChanged") && l.contains("'Volume': <0.25>"));
    for bad in ["<1.5>", "<-0.1>", "<nan>"] {
        let err = fails(bus.gdbus_call_set("Volume", bad));
        assert!(
            err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
            "{bad}: {err}"
        );
    }
    let err = fails(bus.gdbus_call_set("Volume", "<'loud'>"));
    assert!(err.contains("InvalidArg"), "{err}");
    assert_eq!(get("Volume"), "d 0.25");

    // Bad values get named errors and change nothing.
    let err = fails(bus.gdbus_call_set("Language", "<'fr'>"));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
        "{err}"
    );
    assert_eq!(get("Language"), "s \"zh-CN\"");
    let err = fails(bus.gdbus_call_set("RoutingMode", "<'everywhere'>"));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
        "{err}"
    );
    // No wake-word model in this test: turning it on is NotReady, and it stays off.
    let err = fails(bus.gdbus_call_set("WakeWordEnabled", "<true>"));
    assert!(
        err.contains("io.skylark.Assistant1.Error.NotReady"),
        "{err}"
    );
    assert_eq!(get("WakeWordEnabled"), "b false");
    // Read-only (zbus answers UnknownProperty for a property without setter).
    let err = fails(bus.gdbus_call_set("State", "<'speaking'>"));
    assert!(
        err.contains("org.freedesktop.DBus.Error.PropertyReadOnly")
            || err.contains("org.freedesktop.DBus.Error.UnknownProperty"),
        "{err}"
    );
    assert_eq!(get("State"), "s \"idle\"");

    // dbus-send: Get and Set through org.freedesktop.DBus.Properties.
    let props = |args: &[&str]| {
        run(bus
            .command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                &format!("--dest={NAME}"),
                PATH,
            ])
            .args(args))
    };
    ok(props(&[
        "org.freedesktop.DBus.Properties.Set",
        &format!("string:{IFACE}"),
        "string:Language",
        "variant:string:en-US",
    ]));
    let out = ok(props(&[
        "org.freedesktop.DBus.Properties.Get",
        &format!("string:{IFACE}"),
        "string:Language",
    ]));
    assert!(
        out.contains("string \"en\""),
        "en-US has the en grammar: {out}"
    );
}

trait SetProperty {
    fn gdbus_call_set(&self, property: &str, value: &str) -> std::process::Output;
}

impl SetProperty for Bus {
    /// org.freedesktop.DBus.Properties.Set through gdbus (which prints the error name).
    fn gdbus_call_set(&self, property: &str, value: &str) -> std::process::Output {
        run(self.command("gdbus").args([
            "call",
            "--session",
            "--timeout",
            "30",
            "--dest",
            NAME,
            "--object-path",
            PATH,
            "--method",
            "org.freedesktop.DBus.Properties.Set",
            IFACE,
            property,
            value,
        ]))
    }
}

/// Ask without a handler: IntentRecognized is still emitted for passive listeners, and the
/// intent's default response ends the turn; State goes thinking → idle.
#[test]
fn ask_without_handler_emits_signals_with_the_default_response() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let mut monitor = Watcher::monitor(&bus);
    let out = ok(bus.gdbus_call(
        "Ask",
        &["set the temperature to 22 degrees", "{'speak': <false>}"],
    ));
    let turn = turn_path_in(&out);
    let recognized = monitor.wait_for(|l| l.contains(".IntentRecognized"));
    assert!(
        recognized.contains(&turn) && recognized.contains("'climate.set_temperature'"),
        "{recognized}"
    );
    assert!(
        recognized.contains("{'temperature': <22.0>}"),
        "{recognized}"
    );
    let chunk = monitor.wait_for(|l| l.contains(".ResponseChunk"));
    assert!(chunk.contains(&turn), "{chunk}");
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished"));
    assert!(
        finished.contains(&turn) && finished.contains("'ok'"),
        "{finished}"
    );
    assert!(
        finished.contains("22"),
        "the default response names the temperature: {finished}"
    );
    // The state went through thinking and back to idle.
    assert!(
        monitor
            .seen
            .iter()
            .any(|l| l.contains("'State': <'thinking'>")),
        "{:?}",
        monitor.seen
    );
    monitor.wait_for(|l| l.contains("'State': <'idle'>"));

    // A sentence nothing understands: no_intent, with an apology as the response.
    let out = ok(bus.gdbus_call("Ask", &["blue ideas sleep furiously", "{'speak': <false>}"]));
    let turn = turn_path_in(&out);
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(finished.contains("'no_intent'"), "{finished}");
}

/// The issue's headline: a Python jeepney client registers a handler, asks, gets Handle for
/// climate.set_temperature with its slots and context, and sees its own reply in TurnFinished.
#[test]
fn jeepney_handler_receives_handle_and_its_reply_is_spoken() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let mut monitor = Watcher::monitor(&bus);
    let mut cmd = bus.command(python().to_str().expect("utf-8 path"));
    cmd.arg(client_script("handler.py")).args([
        "--intent",
        "climate.set_temperature",
        "--ask",
        "set the temperature to 22 degrees",
        "--speech",
        "Cabin set to twenty-two, says the test handler.",
    ]);
    let mut client = Watcher::spawn(cmd);
    client.wait_for(|l| l.contains("\"registered\""));
    let asked = client.wait_for(|l| l.contains("\"asked\""));
    let turn = json(&asked)["turn"].as_str().expect("turn").to_string();
    let handle = json(&client.wait_for(|l| l.contains("\"handle\"")));
    assert_eq!(handle["intent"], "climate.set_temperature");
    assert_eq!(handle["slots"]["temperature"], 22.0);
    assert_eq!(handle["context"]["turn"], turn.as_str());
    assert_eq!(
        handle["context"]["text"],
        "set the temperature to 22 degrees"
    );
    assert_eq!(handle["context"]["language"], "en");
    let finished = json(&client.wait_for(|l| l.contains("\"turn_finished\"")));
    assert_eq!(finished["turn"], turn.as_str());
    assert_eq!(finished["status"], "ok");
    assert_eq!(
        finished["response"],
        "Cabin set to twenty-two, says the test handler."
    );
    assert!(client.wait_exit().success());
    // Passive listeners saw the same turn.
    let seen = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(seen.contains("says the test handler"), "{seen}");
}

/// SetList feeds the grammar's dynamic lists: after it, "call bob smith" is phone.call with
/// the list's value.
#[test]
fn set_list_feeds_dynamic_lists() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, CONFIG);
    let out = bus.recognize("call bob smith");
    assert!(!out.contains("+44 20 7946 0000"), "{out}");
    ok(bus.busctl(&[
        "call",
        NAME,
        PATH,
        IFACE,
        "SetList",
        "sa(ss)",
        "contact",
        "2",
        "alice",
        "+33 1 23 45 67 89",
        "bob smith",
        "+44 20 7946 0000",
    ]));
    let out = bus.recognize("call bob smith");
    assert_eq!(
        out.trim(),
        r#"sa{sv}ds "phone.call" 1 "contact" s "+44 20 7946 0000" 1 "grammar""#
    );
    // Replaced, not appended.
    ok(bus.busctl(&[
        "call", NAME, PATH, IFACE, "SetList", "sa(ss)", "contact", "1", "carol", "carol-id",
    ]));
    let out = bus.recognize("call bob smith");
    assert!(!out.contains("+44 20 7946 0000"), "{out}");
    let out = bus.recognize("call carol");
    assert!(out.contains("\"carol-id\""), "{out}");
    let err = fails(bus.gdbus_call("SetList", &["no spaces allowed", "[('a', 'b')]"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
        "{err}"
    );
}

/// Speak finishes with the text even though this build cannot play speech; the stages that
/// are absent answer NotReady with the reason.
#[test]
fn speak_and_absent_speech_stages() {
    let bus = Bus::start();
    let d = Daemon::start(&bus, CONFIG);
    let mut monitor = Watcher::monitor(&bus);
    let out = ok(bus.gdbus_call("Speak", &["Hello from the test.", "{}"]));
    let turn = turn_path_in(&out);
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(
        finished.contains("'ok'") && finished.contains("Hello from the test."),
        "{finished}"
    );
    assert!(
        d.log().contains("speech output is not available"),
        "{}",
        d.log()
    );

    let err = fails(bus.gdbus_call("StartListening", &["{}"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.NotReady") && err.contains("not available"),
        "{err}"
    );

    // Transcribe with a real file descriptor (jeepney passes it).
    let wav = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/audio/jfk.wav");
    let wav = if wav.exists() {
        wav
    } else {
        Path::new("/work/shared/audio/jfk.wav").to_path_buf()
    };
    let out = ok(run(bus
        .command(python().to_str().expect("utf-8"))
        .arg(client_script("transcribe.py"))
        .arg(&wav)));
    let reply = json(out.trim());
    assert_eq!(
        reply["error"], "io.skylark.Assistant1.Error.NotReady",
        "{out}"
    );
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or("")
            .contains("speech recognition is not available"),
        "{out}"
    );
}

pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}
