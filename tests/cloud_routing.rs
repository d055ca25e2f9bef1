//! Hybrid scheduling over D-Bus: the real `skylark daemon` escalating to a real
//! OpenAI-compatible server — llama.cpp's (`llama-cpp-python[server]`, serving the SmolLM2
//! GGUF the device model is converted from) on loopback — and the faults a cloud has: down,
//! slower than the budget, HTTP errors, a wrong API key, a stream cut mid-answer, a tool call
//! naming an intent that does not exist (the last three from a tiny fault server, which a
//! real server cannot be made to produce). Privacy: calls, messages and contact names never
//! reach the server's request log.
//!
//! The device's models are off in most tests here (`llm.enabled = false`, no semantic tier):
//! the grammar alone is the device, so what it cannot answer is exactly what should
//! escalate. One test turns the lite LLM on to show hybrid asks the device's answer first
//! and escalates only when the answer gate stops it.

mod common;

use std::time::Duration;

use common::fault_server::{Fault, FaultServer};
use common::llama_server::LlamaServer;
use common::*;

fn config(routing: &str, url: &str, extra: &str) -> String {
    format!(
        "[llm]\nenabled = false\n\n[semantic]\nenabled = false\n\n[nlu]\ntolerant = false\n\n\
         [cloud]\nrouting = \"{routing}\"\nurl = \"{url}\"\nmodel = \"smollm2\"\n\
         price_input_per_1k = 0.5\nprice_output_per_1k = 1.5\n{extra}"
    )
}

/// A real server answers slowly on this 2-core machine: generous budgets, few tokens.
const REAL: &str = "first_token_ms = 120000\nanswer_timeout_ms = 180000\nmax_tokens = 24\n";

/// `Ask(text, speak=false)`; the turn's path and its TurnFinished line.
fn ask(monitor: &mut Watcher, bus: &Bus, text: &str) -> (String, String) {
    let out = ok(bus.gdbus_call("Ask", &[text, "{'speak': <false>}"]));
    let turn = turn_path_in(&out);
    let line = monitor.wait_for_within(Duration::from_secs(240), |l| {
        l.contains("TurnFinished") && l.contains(&turn)
    });
    (turn, line)
}

/// `TurnUsage(turn)` as busctl prints it.
fn turn_usage(bus: &Bus, turn: &str) -> String {
    ok(bus.busctl(&["call", NAME, PATH, IFACE, "TurnUsage", "o", turn]))
}

fn property(bus: &Bus, name: &str) -> String {
    ok(bus.busctl(&["get-property", NAME, PATH, IFACE, name]))
}

fn chunks_of(monitor: &Watcher, turn: &str) -> Vec<String> {
    monitor
        .seen
        .iter()
        .filter(|l| l.contains("ResponseChunk") && l.contains(turn))
        .cloned()
        .collect()
}

/// The turn ended `ok` with the cloud's answer.
fn assert_cloud_answered(usage: &str, fin: &str, d: &Daemon, server: &LlamaServer) {
    assert!(
        usage.contains(r#""source" s "cloud""#) && usage.contains(r#""cloud_outcome" s "ok""#),
        "{usage}\n{fin}\ndaemon log:\n{}\nserver log:\n{}",
        d.log(),
        server.log()
    );
    assert!(fin.contains("'ok'"), "{fin}");
}

/// The server has not been asked for a completion (yet).
fn assert_no_cloud_request(server: &LlamaServer) {
    let requests = server.requests();
    assert!(
        !requests.contains("chat/completions"),
        "the turn went to the cloud: {requests}"
    );
}

#[test]
fn hybrid_sends_what_the_device_cannot_answer_to_the_real_server() {
    let server = LlamaServer::start(None);
    let bus = Bus::start();
    let d = Daemon::start(&bus, &config("hybrid", &server.url(), REAL));
    let mut monitor = Watcher::monitor(&bus);
    assert_eq!(property(&bus, "CloudState").trim(), r#"s "ready""#);

    // The grammar knows this one: the cloud is not asked.
    let (turn, fin) = ask(&mut monitor, &bus, "set the temperature to 22 degrees");
    assert!(fin.contains("'ok'"), "{fin}");
    assert!(turn_usage(&bus, &turn).contains(r#""source" s "grammar""#));
    assert_no_cloud_request(&server);

    // The device has no answer: the server gives one, streamed.
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    let usage = turn_usage(&bus, &turn);
    assert_cloud_answered(&usage, &fin, &d, &server);
    assert!(
        !chunks_of(&monitor, &turn).is_empty(),
        "no ResponseChunk: {:?}",
        monitor.seen
    );
    let requests = server.requests();
    assert!(requests.contains("capital of France"), "{requests}");
    assert!(requests.contains("\"stream\":true"), "{requests}");

    // Accounted: one cloud turn, its tokens and a cost from the configured prices.
    let totals = property(&bus, "Usage");
    assert!(totals.contains(r#""cloud_turns" t 1"#), "{totals}");
    assert!(totals.contains(r#""cloud_calls" t 1"#), "{totals}");
    assert!(!totals.contains(r#""cloud_cost" d 0 "#), "{totals}");

    // `skylark stats` reads the same from the running daemon.
    let out = ok(bus
        .command(skylark_bin())
        .args(["stats", "--json"])
        .output()
        .expect("skylark stats"));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("stats JSON");
    assert_eq!(v["cloud_turns"], 1, "{out}");
    assert_eq!(v["cloud_state"], "ready", "{out}");
}

/// Hybrid with the lite LLM on the device: an open question the device answers well
/// ("What is the capital of France?" passes the answer gate) stays on the device — the
/// server's request log shows nothing — while one whose device answer the gate stops ("Who
/// won the 1998 World Cup?": SmolLM2-135M makes the winner up) goes to the server, and the
/// server's answer is what the turn gives. A command in other words the device cannot place
/// goes to the server straight away.
#[test]
fn hybrid_asks_the_device_first_and_the_cloud_when_the_gate_stops_its_answer() {
    let server = LlamaServer::start(None);
    let bus = Bus::start();
    let with_device_llm = format!(
        "[semantic]\nenabled = false\n\n[nlu]\ntolerant = false\n\n\
         [llm]\nintent_threshold = 1.0\nintent_retrieval_threshold = 2.0\n\n\
         [cloud]\nrouting = \"hybrid\"\nurl = \"{}\"\nmodel = \"smollm2\"\n{REAL}",
        server.url()
    );
    // The device's model names no intent here (thresholds of 1): what is tested is where
    // the sentences it cannot place go.
    let d = Daemon::start_with_models(&bus, &with_device_llm, &[]);
    d.wait_llm_ready();
    let mut monitor = Watcher::monitor(&bus);

    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    let usage = turn_usage(&bus, &turn);
    assert!(
        fin.contains("'ok'") && fin.contains("Paris"),
        "{fin}\n{}",
        d.log()
    );
    assert!(usage.contains(r#""source" s "llm""#), "{usage}");
    assert_no_cloud_request(&server);

    let (turn, fin) = ask(&mut monitor, &bus, "Who won the 1998 World Cup?");
    let usage = turn_usage(&bus, &turn);
    assert_cloud_answered(&usage, &fin, &d, &server);
    assert!(
        d.log().contains("the device's answer failed its gate"),
        "{}",
        d.log()
    );
    let requests = server.requests();
    assert!(requests.contains("1998 World Cup"), "{requests}");
    assert!(
        !requests.contains("capital of France"),
        "only the stopped answer's question reaches the server: {requests}"
    );

    // A command in other words the device cannot place goes to the cloud at once (it may
    // name the intent), not to the lite model's chat answer.
    let (turn, _) = ask(
        &mut monitor,
        &bus,
        "could you make it a bit cooler in the back for the kids",
    );
    let usage = turn_usage(&bus, &turn);
    let requests = server.requests();
    assert!(
        requests.contains("cooler in the back for the kids"),
        "{usage}\n{requests}\n{}",
        d.log()
    );
    assert_eq!(
        d.log().matches("LLM answer judged").count(),
        2,
        "the lite model answered the command before the cloud: {}",
        d.log()
    );
}

#[test]
fn nothing_private_reaches_the_server_in_hybrid_or_cloud_mode() {
    let server = LlamaServer::start(None);
    let bus = Bus::start();
    let _d = Daemon::start(&bus, &config("hybrid", &server.url(), REAL));
    let mut monitor = Watcher::monitor(&bus);
    ok(bus.busctl(&[
        "call",
        NAME,
        PATH,
        IFACE,
        "SetList",
        "sa(ss)",
        "contact",
        "1",
        "Alice Zephyrine",
        "alice-zephyrine",
    ]));
    let private = [
        // phone.call and message.send the grammar understands: on the device anyway.
        "call Alice Zephyrine",
        "send a message to Alice Zephyrine saying I am late",
        // Sentences the device does not understand: kept by the privacy rules.
        "could you please ring up Alice Zephyrine about the dinner tonight",
        "what is Alice Zephyrine doing this weekend",
    ];
    for mode in ["hybrid", "cloud"] {
        ok(bus.busctl(&["set-property", NAME, PATH, IFACE, "RoutingMode", "s", mode]));
        for text in private {
            let (turn, _) = ask(&mut monitor, &bus, text);
            let usage = turn_usage(&bus, &turn);
            assert!(
                !usage.contains(r#""source" s "cloud""#),
                "{mode}: {text}: {usage}"
            );
        }
    }
    let requests = server.requests();
    for word in ["Zephyrine", "zephyrine", "ring up", "I am late"] {
        assert!(
            !requests.contains(word),
            "{word:?} reached the server:\n{requests}"
        );
    }
    // The log does record what may leave (so its silence above means something).
    ask(&mut monitor, &bus, "How far away is the moon?");
    assert!(
        server.requests().contains("the moon"),
        "{}",
        server.requests()
    );
}

#[test]
fn a_real_server_that_fails_leaves_the_answer_to_the_device() {
    // Wrong API key: refused, counted, the device's answer stands.
    let server = LlamaServer::start(Some("right-key"));
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("key");
    std::fs::write(&key, "wrong-key\n").expect("key file");
    let bus = Bus::start();
    let extra = format!(
        "{REAL}api_key_file = \"{}\"\nbreaker_failures = 100\n",
        key.display()
    );
    let d = Daemon::start(&bus, &config("hybrid", &server.url(), &extra));
    let mut monitor = Watcher::monitor(&bus);
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(fin.contains("'no_intent'"), "{fin}");
    let usage = turn_usage(&bus, &turn);
    assert!(
        usage.contains(r#""cloud_outcome" s "unauthorized""#),
        "{usage}"
    );
    assert!(!d.log().contains("wrong-key"), "the API key was logged");
    drop(d);

    // With the right key from here on, so only the fault under test fails the request.
    std::fs::write(&key, "right-key\n").expect("key file");
    let keyed = |extra: &str| format!("{extra}api_key_file = \"{}\"\n", key.display());

    // An HTTP error from the real server (a path it does not serve).
    let bus = Bus::start();
    let url = format!("http://127.0.0.1:{}/nowhere", server.port);
    let _d = Daemon::start(&bus, &config("hybrid", &url, &keyed(REAL)));
    let mut monitor = Watcher::monitor(&bus);
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(fin.contains("'no_intent'"), "{fin}");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "http_error""#));

    // Slower than the budget: no first token within 1 ms.
    let bus = Bus::start();
    let _d = Daemon::start(
        &bus,
        &config(
            "hybrid",
            &server.url(),
            &keyed("first_token_ms = 1\nmax_tokens = 8\n"),
        ),
    );
    let mut monitor = Watcher::monitor(&bus);
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(fin.contains("'no_intent'"), "{fin}");
    let usage = turn_usage(&bus, &turn);
    assert!(usage.contains(r#""cloud_outcome" s "timeout""#), "{usage}");
}

#[test]
fn cloud_mode_falls_back_to_the_device_when_the_server_is_down() {
    let port = llama_server::free_port();
    let bus = Bus::start();
    let _d = Daemon::start(
        &bus,
        &config(
            "cloud",
            &format!("http://127.0.0.1:{port}/v1"),
            "breaker_failures = 100\n",
        ),
    );
    let mut monitor = Watcher::monitor(&bus);
    // The grammar still answers what it knows...
    let (_, fin) = ask(&mut monitor, &bus, "open the sunroof");
    assert!(fin.contains("'ok'"), "{fin}");
    // ...and the rest ends on the device, honestly.
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(fin.contains("'no_intent'"), "{fin}");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "offline""#));
}

#[test]
fn faults_a_real_server_cannot_make_end_cleanly() {
    let fake = FaultServer::start(Fault::CutAfter(vec!["The answer ", "is "]));
    let bus = Bus::start();
    let extra = "first_token_ms = 3000\nbreaker_failures = 100\n";
    let _d = Daemon::start(&bus, &config("hybrid", &fake.url(), extra));
    let mut monitor = Watcher::monitor(&bus);

    // Cut mid-answer: what was said stands, the turn failed.
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(
        fin.contains("'failed'") && fin.contains("The answer is"),
        "{fin}"
    );
    assert!(!chunks_of(&monitor, &turn).is_empty());
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "cut""#));

    // A tool call naming an intent that does not exist: refused, the device answers.
    fake.set(Fault::ToolCall("phone__self_destruct", "{}"));
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(fin.contains("'no_intent'"), "{fin}");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "refused""#));
    // A private intent is not offered, so naming it is refused the same way.
    fake.set(Fault::ToolCall("phone__call", r#"{"contact": "mum"}"#));
    let (turn, _) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "refused""#));

    // A tool call of the catalog: the intent, source cloud.
    fake.set(Fault::ToolCall("sunroof__open", "{}"));
    let out = bus.recognize("let some air in through the roof");
    assert!(out.contains(r#""cloud""#), "{out}");

    // A stall before the first token: the budget ends the wait.
    fake.set(Fault::Stall(Duration::from_secs(20)));
    let (turn, fin) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(fin.contains("'no_intent'"), "{fin}");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "timeout""#));

    // A 503.
    fake.set(Fault::Status(503));
    let (turn, _) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s "http_error""#));
}

#[test]
fn the_breaker_opens_after_n_failures_and_closes_after_the_cool_down() {
    let fake = FaultServer::start(Fault::Status(500));
    let bus = Bus::start();
    let extra = "breaker_failures = 2\nbreaker_cooldown_ms = 1500\n";
    let d = Daemon::start(&bus, &config("hybrid", &fake.url(), extra));
    let mut monitor = Watcher::monitor(&bus);
    for _ in 0..2 {
        ask(&mut monitor, &bus, "What is the capital of France?");
    }
    assert_eq!(fake.requests(), 2);
    assert_eq!(property(&bus, "CloudState").trim(), r#"s "open""#);
    assert!(
        monitor.seen.iter().any(|l| l.contains("CloudState")),
        "no PropertiesChanged for CloudState: {:?}",
        monitor.seen
    );
    assert!(d.log().contains("cloud breaker open"), "{}", d.log());

    // Open: the turn stays on the device without asking.
    let (turn, _) = ask(&mut monitor, &bus, "What is the capital of France?");
    assert_eq!(fake.requests(), 2, "the breaker let a request through");
    assert!(turn_usage(&bus, &turn).contains(r#""cloud_outcome" s """#));

    // After the cool-down one trial goes; it succeeds and the breaker closes.
    fake.set(Fault::Answer(vec!["Paris."]));
    let mut closed = false;
    for _ in 0..100 {
        let (turn, _) = ask(&mut monitor, &bus, "What is the capital of France?");
        if turn_usage(&bus, &turn).contains(r#""source" s "cloud""#) {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed, "the breaker never let a trial through");
    assert_eq!(property(&bus, "CloudState").trim(), r#"s "ready""#);
    assert!(d.log().contains("cloud breaker closed"), "{}", d.log());
    let totals = property(&bus, "Usage");
    assert!(totals.contains(r#""breaker_opened" t 1"#), "{totals}");
}
