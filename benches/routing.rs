//! `cargo bench --bench routing`: hybrid scheduling on this machine, in process, against the
//! real llama.cpp server (`scripts/llama_server.sh`) serving the SmolLM2 GGUF on loopback.
//!
//! 1. The routing decision per turn: `escalate` (the mode rule) and the privacy check the
//!    router runs before a cloud request (contact names + nearest grammar sentence), µs.
//! 2. A turn on the device vs the same question escalated: open questions answered by the
//!    lite LLM (`local`); in `hybrid` with the lite LLM (it answers first, the answer gate
//!    escalates) and without it (every question goes to the server); a grammar command; ms
//!    per turn.
//! 3. The cost report after a scripted mix of 1,000 turns (commands, private requests, open
//!    questions) in `hybrid`: how many stayed on the device, cloud tokens, the estimated cost
//!    from the configured prices, and the estimate had every turn gone to the cloud.
//!
//! `SKYLARK_BENCH_MIX=N` changes the mix's size; `SKYLARK_BENCH_LLM=0` skips the lite LLM.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::llama_server::LlamaServer;
use skylark::config::Config;
use skylark::engine::{
    escalate, AskOptions, DeviceOutcome, Engine, EngineConfig, Event, RoutingMode, Stages,
    TurnStatus,
};
use skylark::nlu::{Grammar, Language, Recognizer};

/// Example prices per 1,000 tokens (in / out), in the currency of the bill: a small hosted
/// model's order of magnitude. Only the ratio to "everything in the cloud" matters.
const PRICE_IN: f64 = 0.00015;
const PRICE_OUT: f64 = 0.0006;

const COMMANDS: &[&str] = &[
    "set the temperature to 22 degrees",
    "open the sunroof",
    "turn on the seat heating",
    "play some jazz",
    "navigate to the airport",
    "close the windows",
    "what's the weather like tomorrow",
    "turn the volume up",
];
const PRIVATE: &[&str] = &[
    "call Alice Zephyrine",
    "could you please ring up Alice Zephyrine about dinner",
    "send a message to Bob Quarry saying I am late",
];
const QUESTIONS: &[&str] = &[
    "What is the capital of France?",
    "How far away is the moon?",
    "Who wrote Romeo and Juliet?",
    "Why is the sky blue?",
    "What is a black hole?",
];

fn engine(config: &Config, with_llm: bool) -> Engine {
    let recognizer = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compile");
    let e = Engine::new(
        EngineConfig::from_config(config).expect("config"),
        recognizer,
        Stages::text_only(),
    );
    if with_llm {
        let llm = skylark::llm::load_configured(config, &skylark::models::default_models_dir())
            .expect("the lite LLM: run `skylark models fetch`");
        e.set_llm(Arc::new(llm), config.llm.max_waiting);
    }
    if let Some(c) = skylark::llm::cloud::load_configured(&config.cloud) {
        e.set_cloud(Arc::new(c), config.cloud.clone());
    }
    e.set_list(
        "contact",
        vec![
            ("Alice Zephyrine".into(), "alice".into()),
            ("Bob Quarry".into(), "bob".into()),
        ],
    )
    .expect("contacts");
    e
}

/// One `Ask` turn, speak=false: (status, elapsed).
async fn turn(e: &Engine, text: &str) -> (TurnStatus, Duration) {
    let mut events = e.subscribe();
    let t = Instant::now();
    let opts = AskOptions {
        language: None,
        speak: Some(false),
    };
    let id = e.ask(text, opts, std::future::ready(())).expect("ask");
    loop {
        if let Ok(Event::TurnFinished { turn, status, .. }) = events.recv().await {
            if turn == id {
                return (status, t.elapsed());
            }
        }
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn main() {
    let with_llm = std::env::var("SKYLARK_BENCH_LLM").map_or(true, |v| v != "0");
    let mix: usize = std::env::var("SKYLARK_BENCH_MIX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let server = LlamaServer::start(None);
    let mut config = Config::default();
    config.semantic.enabled = false;
    config.cloud.url = server.url();
    config.cloud.model = "smollm2".into();
    config.cloud.max_tokens = 24;
    config.cloud.first_token_ms = 60_000;
    config.cloud.answer_timeout_ms = 120_000;
    config.cloud.price_input_per_1k = PRICE_IN;
    config.cloud.price_output_per_1k = PRICE_OUT;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // 1. The decision.
        let n = 1_000_000u32;
        let t = Instant::now();
        let mut k = 0u32;
        for i in 0..n {
            let mode = [RoutingMode::Local, RoutingMode::Hybrid, RoutingMode::Cloud][(i % 3) as usize];
            k += escalate(std::hint::black_box(mode), DeviceOutcome::NoIntent) as u32;
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("routing decision: escalate() {:.4} µs per call ({k} of {n} escalated)", per);
        let e = engine(&config, false);
        let en = Language::english();
        let texts: Vec<&str> = COMMANDS.iter().chain(PRIVATE).chain(QUESTIONS).copied().collect();
        let _ = e.privacy_reason(texts[0], &en); // builds the catalog once
        let rounds = 200;
        let t = Instant::now();
        for _ in 0..rounds {
            for text in &texts {
                std::hint::black_box(e.privacy_reason(text, &en));
            }
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / (rounds * texts.len()) as f64;
        println!("routing decision: privacy check {per:.1} µs per sentence (contact names + nearest grammar sentence)");

        // 2. Device vs cloud turn time.
        let e = engine(&config, with_llm);
        let mut cmd = Vec::new();
        for text in COMMANDS {
            cmd.push(turn(&e, text).await.1);
        }
        println!("turn, grammar command (any mode): median {:.2} ms", median(cmd));
        if with_llm {
            e.set_routing_mode("local").expect("mode");
            let mut local = Vec::new();
            for q in QUESTIONS {
                local.push(turn(&e, q).await.1);
            }
            println!("turn, open question, local (lite LLM answers): median {:.0} ms", median(local));
        }
        // Hybrid with the lite model (it answers first, the gate escalates) and without one
        // (every open question goes to the server): the latter is the escalated turn.
        let mut engines = vec![(e, with_llm)];
        if with_llm {
            engines.push((engine(&config, false), false));
        }
        for (e, llm) in engines {
            e.set_routing_mode("hybrid").expect("mode");
            let before = e.usage().cloud_turns;
            let mut hybrid = Vec::new();
            let mut unanswered = 0;
            for q in QUESTIONS {
                let (status, d) = turn(&e, q).await;
                // The device answers first when it has a model; an answer the gate stops
                // after a sentence was spoken ends "cannot answer" instead of escalating.
                assert!(
                    status == TurnStatus::Ok || (llm && status == TurnStatus::NoIntent),
                    "{q:?} ended {status:?}"
                );
                unanswered += usize::from(status != TurnStatus::Ok);
                hybrid.push(d);
            }
            let to_cloud = e.usage().cloud_turns - before;
            let how = if llm {
                "lite LLM answers first, the answer gate escalates"
            } else {
                "no lite LLM: the device finds no intent and escalates"
            };
            println!(
                "turn, open question, hybrid ({how}; {to_cloud} of {} answered by the llama.cpp server, max_tokens 24; {unanswered} ended \"cannot answer\"): median {:.0} ms",
                QUESTIONS.len(),
                median(hybrid)
            );
        }

        // 3. The 1,000-turn mix: 80% commands, 10% private, 10% open questions.
        let e = engine(&config, false);
        e.set_routing_mode("hybrid").expect("mode");
        let t = Instant::now();
        for i in 0..mix {
            let text = match i % 10 {
                0 => QUESTIONS[(i / 10) % QUESTIONS.len()],
                1 => PRIVATE[(i / 10) % PRIVATE.len()],
                _ => COMMANDS[i % COMMANDS.len()],
            };
            turn(&e, text).await;
        }
        let u = e.usage();
        let per_call_in = u.cloud_tokens_in as f64 / u.cloud_calls.max(1) as f64;
        let per_call_out = u.cloud_tokens_out as f64 / u.cloud_calls.max(1) as f64;
        let all_cloud = u.turns as f64 * (per_call_in * PRICE_IN + per_call_out * PRICE_OUT) / 1000.0;
        println!("mix of {} turns (80% commands, 10% private, 10% open questions), hybrid, {:.0} s:", u.turns, t.elapsed().as_secs_f64());
        println!("  on the device: {} ({} kept private), in the cloud: {}", u.device_turns, u.kept_private, u.cloud_turns);
        println!("  cloud calls {}, failures {}, tokens in {} / out {} (estimated: the server reports no usage)", u.cloud_calls, u.cloud_failures, u.cloud_tokens_in, u.cloud_tokens_out);
        println!("  device time {:.0} ms total, cloud time {:.0} ms total", u.device_time.as_secs_f64() * 1000.0, u.cloud_time.as_secs_f64() * 1000.0);
        println!(
            "  estimated cost {:.6} at {PRICE_IN}/{PRICE_OUT} per 1k tokens in/out; every turn in the cloud: {:.6} ({:.1}x)",
            u.cloud_cost,
            all_cloud,
            all_cloud / u.cloud_cost.max(f64::MIN_POSITIVE)
        );
    });
}
