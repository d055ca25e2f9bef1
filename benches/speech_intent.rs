//! Speech → intent on a spoken test set: `cargo bench --bench speech_intent`.
//!
//! Commands of the built-in catalog (English and Mandarin) and of a second, unrelated grammar
//! (`tests/data/grammars/smarthome/en.yaml`), spoken by several voices and speeds (see
//! `speech_intent/testset.rs`), mixed with generated road, fan, music and babble noise at
//! clean, 24, 18, 12 and 6 dB SNR (the noise kind turns with the clip); plus unrelated speech
//! (news, chit-chat) for false acceptance. Each clip goes through two paths in the same run:
//!
//! - **(a) plain**: free transcription (`Transcriber::transcribe`) and the grammar's exact
//!   matcher (`Recognizer::recognize`) — what skylark did before grammar-aware decoding;
//! - **(b) guided**: command-mode transcription guided by the grammar
//!   (`Transcriber::transcribe_command`) and `Engine::recognize` (exact, then the tolerant
//!   matcher) — the path with `asr.grammar_guided = true`;
//! - **(c) default**: the free transcript of (a) and `Engine::recognize` — what skylark
//!   ships by default (`asr.grammar_guided = false`).
//!
//! A command is accepted when the intent and every slot are right. The false-acceptance rate
//! is the share of unrelated utterances given any intent. The decode-time ratio (b)/(a) is
//! measured on the same clips in the same run.
//!
//! Environment: `SKYLARK_SPEECHBENCH_PER_INTENT` (sentences per intent, default 1),
//! `SKYLARK_SPEECHBENCH_ALL_VOICES=1` (every voice says every sentence; default: voices take
//! turns), `SKYLARK_SPEECHBENCH_SNRS` (default `clean,24,18,12,6`),
//! `SKYLARK_SPEECHBENCH_LANGS` (default `en,zh-CN`; `none`: the second grammar only), `SKYLARK_SPEECHBENCH_SMARTHOME=0` to skip
//! the second grammar, `SKYLARK_SPEECHBENCH_VERBOSE=1` to print every miss.

#[path = "speech_intent/noise.rs"]
mod noise;
#[path = "speech_intent/testset.rs"]
mod testset;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use skylark::config::Config;
use skylark::engine::{Audio, CancelToken, Engine, EngineConfig, Stages, Transcriber};
use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer, SlotValue};
use skylark::speech::WhisperTranscriber;

use noise::Noise;
use testset::{Synth, Utterance};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Slot values compare as numbers when both are, else as folded text ("The Airport." = "the airport").
fn same_value(a: &SlotValue, b: &SlotValue) -> bool {
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return (x - y).abs() < 1e-6;
    }
    let fold = |v: &SlotValue| -> String {
        v.to_string()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(|c| skylark::nlu::normalize::fold_char(c).to_lowercase())
            .collect()
    };
    fold(a) == fold(b)
}

fn accepted(
    expected: &(String, BTreeMap<String, SlotValue>),
    intent: &str,
    slots: &BTreeMap<String, SlotValue>,
) -> bool {
    expected.0 == intent
        && expected.1.len() == slots.len()
        && expected
            .1
            .iter()
            .all(|(k, v)| slots.get(k).is_some_and(|w| same_value(v, w)))
}

/// One grammar under test: its recognizer (for exact matching), an engine over the same
/// grammar (for the new path) and the sentences that guide decoding.
struct Suite {
    name: String,
    language: Language,
    recognizer: Recognizer,
    engine: Engine,
    grammar: Vec<String>,
    commands: Vec<Utterance>,
    unrelated: Vec<Utterance>,
}

#[derive(Default, Clone)]
struct Tally {
    n: usize,
    plain: usize,
    new: usize,
    default: usize,
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * k as f64 / n as f64)
    }
}

fn main() {
    let models_dir = skylark::models::default_models_dir();
    skylark::onnx::init(&models_dir).unwrap_or_else(|e| panic!("{e}"));
    let per_intent: usize = env("SKYLARK_SPEECHBENCH_PER_INTENT")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let all_voices = env("SKYLARK_SPEECHBENCH_ALL_VOICES").is_some_and(|v| v == "1");
    let verbose = env("SKYLARK_SPEECHBENCH_VERBOSE").is_some_and(|v| v == "1");
    let snrs: Vec<Option<f32>> = env("SKYLARK_SPEECHBENCH_SNRS")
        .unwrap_or_else(|| "clean,24,18,12,6".into())
        .split(',')
        .map(|s| {
            if s.trim() == "clean" {
                None
            } else {
                Some(s.trim().parse().expect("SNR in dB or `clean`"))
            }
        })
        .collect();
    let langs: Vec<Language> = env("SKYLARK_SPEECHBENCH_LANGS")
        .unwrap_or_else(|| "en,zh-CN".into())
        .split(',')
        .map(str::trim)
        .filter(|l| *l != "none")
        .map(|l| Language::parse(l).expect("language"))
        .collect();
    let smarthome = env("SKYLARK_SPEECHBENCH_SMARTHOME").is_none_or(|v| v != "0");

    let cache = skylark::models::default_cache_dir().join("bench/speech_intent/v1");
    let mut synth = Synth::new(&cache, &models_dir);
    let t = Instant::now();
    let babble = testset::babble(&mut synth);

    // The default threads (one less than the cores): with every core busy, whisper.cpp's
    // spinning workers slow each other down many times over.
    let mut config = Config::default();
    config.asr.grammar_guided = true; // path (b) is the guided one, whatever the default
    let engine_config = EngineConfig::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let transcriber =
        WhisperTranscriber::load(&config, &models_dir).unwrap_or_else(|e| panic!("{e}"));

    let mut suites = Vec::new();
    let builtin = || Recognizer::new(Grammar::builtin().expect("catalog")).expect("catalog");
    for lang in &langs {
        let recognizer = builtin();
        let commands = testset::commands(&recognizer, lang, per_intent, all_voices, &mut synth);
        let unrelated = testset::unrelated_speech(lang, &mut synth);
        let mut ec = engine_config.clone();
        ec.language = lang.clone();
        let engine = Engine::new(ec, builtin(), Stages::text_only());
        let grammar = engine.command_sentences(lang);
        suites.push(Suite {
            name: format!("catalog {lang}"),
            language: lang.clone(),
            recognizer,
            engine,
            grammar,
            commands,
            unrelated,
        });
    }
    if smarthome {
        let path: PathBuf =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/grammars/smarthome");
        let load = || {
            Recognizer::new(Grammar::load(std::slice::from_ref(&path)).expect("smarthome grammar"))
                .expect("smarthome grammar")
        };
        let lang = Language::english();
        let recognizer = load();
        let commands = testset::commands(
            &recognizer,
            &lang,
            per_intent.max(2),
            all_voices,
            &mut synth,
        );
        let mut ec = engine_config.clone();
        ec.language = lang.clone();
        let engine = Engine::new(ec, load(), Stages::text_only());
        let grammar = engine.command_sentences(&lang);
        suites.push(Suite {
            name: "smarthome en".into(),
            language: lang,
            recognizer,
            engine,
            grammar,
            commands,
            unrelated: Vec::new(),
        });
    }
    println!("test set: {} command clips, {} unrelated clips, voices and babble ready in {:.1} s (cache {})",
        suites.iter().map(|s| s.commands.len()).sum::<usize>(), suites.iter().map(|s| s.unrelated.len()).sum::<usize>(), t.elapsed().as_secs_f64(), cache.display());
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    println!("load average at start: {}", load());

    let cancel = CancelToken::new();
    let mut summary = Vec::new();
    for suite in &suites {
        let mut per_snr: Vec<Tally> = vec![Tally::default(); snrs.len()];
        let (mut ms_plain, mut ms_new) = (0.0f64, 0.0f64);
        let mut clip_no = 0u64;
        for u in &suite.commands {
            for (si, snr) in snrs.iter().enumerate() {
                clip_no += 1;
                let kind = Noise::ALL[(clip_no as usize) % Noise::ALL.len()];
                let noise = noise::generate(kind, u.samples.len(), clip_no, &babble);
                let audio = Audio {
                    samples: noise::mix(&u.samples, &noise, *snr),
                };
                let t = Instant::now();
                let plain = transcriber
                    .transcribe(&audio, &suite.language, &cancel)
                    .unwrap_or_else(|e| panic!("{}", e.0));
                ms_plain += t.elapsed().as_secs_f64() * 1e3;
                let t = Instant::now();
                let guided = transcriber
                    .transcribe_command(&audio, &suite.language, &suite.grammar, &cancel)
                    .unwrap_or_else(|e| panic!("{}", e.0));
                ms_new += t.elapsed().as_secs_f64() * 1e3;
                let expected = u.expected.as_ref().expect("a command");
                let a =
                    suite
                        .recognizer
                        .recognize(&plain, &suite.language, &DialogueContext::new());
                let ok_a = a
                    .as_ref()
                    .is_some_and(|m| accepted(expected, &m.intent, &m.slots));
                let b = suite
                    .engine
                    .recognize(&guided, Some(suite.language.tag()))
                    .unwrap_or_else(|e| panic!("{e}"));
                let ok_b = accepted(expected, &b.intent, &b.slots);
                let c = suite
                    .engine
                    .recognize(&plain, Some(suite.language.tag()))
                    .unwrap_or_else(|e| panic!("{e}"));
                let ok_c = accepted(expected, &c.intent, &c.slots);
                let tally = &mut per_snr[si];
                tally.n += 1;
                tally.plain += usize::from(ok_a);
                tally.new += usize::from(ok_b);
                tally.default += usize::from(ok_c);
                if verbose && (!ok_a || !ok_b || !ok_c) {
                    let snr_s = snr.map_or("clean".into(), |s| format!("{s} dB {}", kind.name()));
                    println!(
                        "  miss [{}] {} {} | {:?} | plain {:?} → {} | default → {} {:?} | guided {:?} → {} {:?}",
                        suite.name,
                        snr_s,
                        u.voice.name(),
                        u.text,
                        plain,
                        a.map(|m| m.intent).unwrap_or_default(),
                        c.intent,
                        c.slots,
                        guided,
                        b.intent,
                        b.slots
                    );
                }
            }
            eprint!(".");
        }
        eprintln!();
        let mut fa = Tally::default();
        for u in &suite.unrelated {
            let audio = Audio {
                samples: u.samples.clone(),
            };
            let plain = transcriber
                .transcribe(&audio, &suite.language, &cancel)
                .unwrap_or_else(|e| panic!("{}", e.0));
            let guided = transcriber
                .transcribe_command(&audio, &suite.language, &suite.grammar, &cancel)
                .unwrap_or_else(|e| panic!("{}", e.0));
            let a = suite
                .recognizer
                .recognize(&plain, &suite.language, &DialogueContext::new());
            let b = suite
                .engine
                .recognize(&guided, Some(suite.language.tag()))
                .unwrap_or_else(|e| panic!("{e}"));
            let c = suite
                .engine
                .recognize(&plain, Some(suite.language.tag()))
                .unwrap_or_else(|e| panic!("{e}"));
            fa.n += 1;
            fa.plain += usize::from(a.is_some());
            fa.new += usize::from(!b.intent.is_empty());
            fa.default += usize::from(!c.intent.is_empty());
            if verbose {
                println!(
                    "  unrelated [{}] {:?} | plain {:?} → default {:?} | guided {:?} → {:?}",
                    suite.name, u.text, plain, c.intent, guided, b.intent
                );
            }
        }
        println!(
            "\n== {} — {} command clips × {} SNRs (noise: road/fan/music/babble in turn) ==",
            suite.name,
            suite.commands.len(),
            snrs.len()
        );
        println!(
            "{:<8} {:>5} {:>14} {:>14} {:>14}",
            "SNR", "n", "(a) plain", "(b) guided", "(c) default"
        );
        for (snr, t) in snrs.iter().zip(&per_snr) {
            let label = snr.map_or("clean".into(), |s| format!("{s} dB"));
            println!(
                "{label:<8} {:>5} {:>14} {:>14} {:>14}",
                t.n,
                pct(t.plain, t.n),
                pct(t.new, t.n),
                pct(t.default, t.n)
            );
        }
        if fa.n > 0 {
            println!(
                "false acceptance on {} unrelated clips (clean): (a) {}  (b) {}  (c) {}",
                fa.n,
                pct(fa.plain, fa.n),
                pct(fa.new, fa.n),
                pct(fa.default, fa.n)
            );
        }
        let n_dec = per_snr.iter().map(|t| t.n).sum::<usize>().max(1) as f64;
        println!(
            "decode time per clip: free {:.0} ms, grammar-guided {:.0} ms, ratio {:.2}",
            ms_plain / n_dec,
            ms_new / n_dec,
            ms_new / ms_plain.max(1e-9)
        );
        summary.push((
            suite.name.clone(),
            per_snr.clone(),
            fa.clone(),
            ms_new / ms_plain.max(1e-9),
        ));
    }
    println!("\nload average at end: {}", load());
    println!("\n== Summary (acceptance: intent and every slot right) ==");
    for (name, per_snr, fa, ratio) in &summary {
        let row: Vec<String> = snrs
            .iter()
            .zip(per_snr)
            .map(|(s, t)| {
                format!(
                    "{} {}/{}/{}",
                    s.map_or("clean".into(), |s| format!("{s}dB")),
                    pct(t.plain, t.n),
                    pct(t.new, t.n),
                    pct(t.default, t.n)
                )
            })
            .collect();
        println!(
            "  {name} (a) plain / (b) guided / (c) default: {}; FA {}/{}/{}; guided/free time {:.2}",
            row.join(", "),
            pct(fa.plain, fa.n),
            pct(fa.new, fa.n),
            pct(fa.default, fa.n),
            ratio
        );
    }
}
