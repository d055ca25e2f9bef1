//! The failure paths of the D-Bus API: each gets its named error or turn status, and the
//! daemon serves the next call.

mod common;

use common::*;

fn recognize_still_works(bus: &Bus) {
    let out = bus.recognize("turn on the ac");
    assert!(out.contains("\"climate.set_ac\""), "{out}");
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn handler_that_never_answers_ends_the_turn_timeout() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "[dbus]\nhandler_timeout_ms = 1500\n");
    let mut client = handler_client(
        &bus,
        &[
            "--intent",
            "climate.set_temperature",
            "--ask",
            "set the temperature to 22 degrees",
            "--mode",
            "never",
        ],
    );
    client.wait_for(|l| l.contains("\"handle\""));
    let finished = json(&client.wait_for(|l| l.contains("\"turn_finished\"")));
    assert_eq!(finished["status"], "timeout", "{finished}");
    assert!(
        !finished["response"].as_str().unwrap_or("").is_empty(),
        "the user hears something: {finished}"
    );
    recognize_still_works(&bus);
    let state = ok(bus.busctl(&["get-property", NAME, PATH, IFACE, "State"]));
    assert_eq!(state.trim(), "s \"idle\"");
}

#[test]
fn handler_that_exits_mid_call_fails_the_turn_and_is_forgotten() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "[dbus]\nhandler_timeout_ms = 20000\n");
    let mut monitor = Watcher::monitor(&bus);
    let mut client = handler_client(
        &bus,
        &[
            "--intent",
            "climate.set_temperature",
            "--ask",
            "set the temperature to 22 degrees",
            "--mode",
            "exit",
        ],
    );
    let asked = json(&client.wait_for(|l| l.contains("\"asked\"")));
    let turn = asked["turn"].as_str().expect("turn").to_string();
    client.wait_for(|l| l.contains("\"handle\""));
    // The client is gone; the turn ends failed long before the 20 s handler timeout.
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(finished.contains("'failed'"), "{finished}");
    recognize_still_works(&bus);
    // Its handler was forgotten: the next Ask uses the catalog's default response.
    let out = ok(bus.gdbus_call(
        "Ask",
        &["set the temperature to 22 degrees", "{'speak': <false>}"],
    ));
    let turn = turn_path_in(&out);
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(
        finished.contains("'ok'") && finished.contains("22"),
        "{finished}"
    );
}

/// A handler whose client leaves the bus (without calling UnregisterHandler) is forgotten on
/// NameOwnerChanged, so another client can take its intents.
#[test]
fn handlers_of_a_vanished_client_are_forgotten() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "");
    let mut first = handler_client(&bus, &["--intent", "media.play"]);
    first.wait_for(|l| l.contains("\"registered\""));
    // While the first client lives, its intent is taken.
    let err = fails(bus.gdbus_call("RegisterHandler", &["/other/Handler", "['media.play']"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.AccessDenied"),
        "{err}"
    );
    drop(first); // killed: leaves the bus without unregistering
    let mut second = handler_client(&bus, &["--intent", "media.play"]);
    second.wait_for(|l| l.contains("\"registered\""));
}

#[test]
fn register_and_unregister_errors() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "");
    let err = fails(bus.gdbus_call("RegisterHandler", &["/h", "['climate.make_coffee']"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument")
            && err.contains("climate.make_coffee"),
        "{err}"
    );
    let err = fails(bus.gdbus_call("RegisterHandler", &["/h", "@as []"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
        "{err}"
    );
    let err = fails(bus.gdbus_call("UnregisterHandler", &["/never/registered"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.NotFound"),
        "{err}"
    );
    // Within one connection (busctl's), register then unregister works.
    recognize_still_works(&bus);
}

#[test]
fn cancel_of_a_running_turn() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "[dbus]\nhandler_timeout_ms = 60000\n");
    let mut client = handler_client(
        &bus,
        &[
            "--intent",
            "climate.set_temperature",
            "--ask",
            "set the temperature to 22 degrees",
            "--mode",
            "never",
        ],
    );
    let asked = json(&client.wait_for(|l| l.contains("\"asked\"")));
    let turn = asked["turn"].as_str().expect("turn").to_string();
    client.wait_for(|l| l.contains("\"handle\""));
    let state = ok(bus.busctl(&["get-property", NAME, PATH, IFACE, "State"]));
    assert_eq!(state.trim(), "s \"thinking\"");
    // Cancel with dbus-send; the turn ends cancelled (the handler would have had 60 s).
    ok(bus.dbus_send("Cancel", &[&format!("objpath:{turn}")]));
    let finished = json(&client.wait_for(|l| l.contains("\"turn_finished\"")));
    assert_eq!(finished["turn"], turn.as_str());
    assert_eq!(finished["status"], "cancelled");
    // Cancelling a finished turn is not an error (the caller may race its end).
    ok(bus.dbus_send("Cancel", &[&format!("objpath:{turn}")]));
    recognize_still_works(&bus);
}

#[test]
fn unknown_turn_paths_are_not_found() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "");
    for path in [
        "/io/skylark/Assistant1/turn/999",
        "/io/skylark/Assistant1/turn/0",
        "/io/skylark/Assistant1",
        "/elsewhere",
    ] {
        let err = fails(bus.gdbus_call("Cancel", &[path]));
        assert!(
            err.contains("io.skylark.Assistant1.Error.NotFound"),
            "{path}: {err}"
        );
    }
    recognize_still_works(&bus);
}

#[test]
fn wrong_argument_types_are_invalid_args() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "");
    // Wrong signature: the bus-level InvalidArgs.
    let err = fails(bus.busctl(&["call", NAME, PATH, IFACE, "Recognize", "ia{sv}", "5", "0"]));
    // busctl prints only the message of org.freedesktop.DBus.Error.InvalidArgs.
    assert!(err.contains("Signature mismatch"), "{err}");
    let err = fails(bus.dbus_send("Cancel", &["string:/io/skylark/Assistant1/turn/1"]));
    assert!(
        err.contains("org.freedesktop.DBus.Error.InvalidArgs"),
        "{err}"
    );
    let err = fails(bus.dbus_send("Recognize", &["string:hello"]));
    assert!(
        err.contains("org.freedesktop.DBus.Error.InvalidArgs"),
        "{err}"
    );
    // Right signature, wrong type inside the options: the contract's InvalidArgument.
    let err = fails(bus.gdbus_call("Recognize", &["turn on the ac", "{'language': <42>}"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument") && err.contains("language"),
        "{err}"
    );
    let err = fails(bus.gdbus_call("Ask", &["turn on the ac", "{'speak': <'no'>}"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument") && err.contains("speak"),
        "{err}"
    );
    let err = fails(bus.gdbus_call(
        "Recognize",
        &["turn on the ac", "{'language': <'klingon'>}"],
    ));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
        "{err}"
    );
    recognize_still_works(&bus);
}

#[test]
fn oversize_text_is_invalid_argument() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, "[dbus]\nmax_text_bytes = 64\n");
    let long = "a".repeat(65);
    for method in ["Recognize", "Ask", "Speak"] {
        let err = fails(bus.gdbus_call(method, &[&long, "{}"]));
        assert!(
            err.contains("io.skylark.Assistant1.Error.InvalidArgument")
                && err.contains("max_text_bytes"),
            "{method}: {err}"
        );
    }
    // 64 bytes is within the limit.
    let ok_text = format!("turn on the ac{}", " ".repeat(50));
    assert_eq!(ok_text.len(), 64);
    let out = bus.recognize(&ok_text);
    assert!(out.contains("\"climate.set_ac\""), "{out}");
    // A megabyte is refused too (the bus carries it; the daemon does not keep it).
    let script = "import sys\n\
from jeepney import DBusAddress, new_method_call, MessageType, HeaderFields\n\
from jeepney.io.blocking import open_dbus_connection\n\
c = open_dbus_connection(bus='SESSION')\n\
a = DBusAddress('/io/skylark/Assistant1', bus_name='io.skylark.Assistant1', interface='io.skylark.Assistant1')\n\
r = c.send_and_get_reply(new_method_call(a, 'Recognize', 'sa{sv}', ('b' * (1 << 20), {})))\n\
print(r.header.fields.get(HeaderFields.error_name))\n\
sys.exit(1 if r.header.message_type == MessageType.error else 0)\n";
    let err = fails(run(bus
        .command(python().to_str().expect("utf-8"))
        .args(["-c", script])));
    assert!(
        err.contains("io.skylark.Assistant1.Error.InvalidArgument"),
        "{err}"
    );
    recognize_still_works(&bus);
}

#[test]
fn past_max_concurrent_turns_is_busy() {
    let bus = Bus::start();
    let _d = Daemon::start(
        &bus,
        "[dbus]\nmax_concurrent_turns = 1\nhandler_timeout_ms = 60000\n",
    );
    let mut client = handler_client(
        &bus,
        &[
            "--intent",
            "climate.set_temperature",
            "--ask",
            "set the temperature to 22 degrees",
            "--mode",
            "never",
        ],
    );
    let asked = json(&client.wait_for(|l| l.contains("\"asked\"")));
    let turn = asked["turn"].as_str().expect("turn").to_string();
    client.wait_for(|l| l.contains("\"handle\""));
    let err = fails(bus.gdbus_call("Ask", &["turn on the ac", "{'speak': <false>}"]));
    assert!(
        err.contains("io.skylark.Assistant1.Error.Busy") && err.contains("max_concurrent_turns"),
        "{err}"
    );
    let err = fails(bus.gdbus_call("Speak", &["hello", "{}"]));
    assert!(err.contains("io.skylark.Assistant1.Error.Busy"), "{err}");
    // Recognize starts no turn: still served.
    recognize_still_works(&bus);
    ok(bus.gdbus_call("Cancel", &[&turn]));
    client.wait_for(|l| l.contains("\"turn_finished\""));
    let out = ok(bus.gdbus_call("Ask", &["turn on the ac", "{'speak': <false>}"]));
    assert!(out.contains("/io/skylark/Assistant1/turn/"), "{out}");
}
