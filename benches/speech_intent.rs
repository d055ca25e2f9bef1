//! Speech → intent on a spoken test set: `cargo bench --bench speech_intent`.
//!
//! Commands of the built-in catalog (English and Mandarin) and of a second, unrelated grammar
//! (`tests/data/grammars/smarthome/en.yaml`), spoken by several voices and speeds (see
//! `speech_intent/testset.rs`), mixed with generated road, fan, music and babble noise at
//! clean, 24, 18, 12 and 6 dB SNR (the noise kind turns with the clip); plus unrelated speech
//! (news, chit-chat) for false acceptance. Each clip goes through these paths in the same run:
//!
//! - **(a) plain**: free transcription (`Transcriber::transcribe`) and the grammar's exact
//!   matcher (`Recognizer::recognize`) — what skylark did before grammar-aware decoding;
//! - **(b) guided** (with `SKYLARK_SPEECHBENCH_GUIDED=1`): command-mode transcription primed
//!   with the grammar (`asr.grammar_guided = true`) and `Engine::recognize`;
//! - **(c) tolerant**: the free transcript of (a) and `Engine::recognize` (exact, then the
//!   tolerant matcher) — what skylark shipped before grammar rescoring;
//! - **(d) rescored**: command-mode transcription (`Transcriber::transcribe_command`) with the
//!   grammar's closest sentences weighed against the audio (`asr.grammar_rescoring`), then
//!   `Engine::recognize` — what skylark ships by default.
//!
//! A command is accepted when the intent and every slot are right. The false-acceptance rate
//! is the share of unrelated utterances given any intent. Decode times per path are measured
//! on the same clips in the same run.
//!
//! `SKYLARK_SPEECHBENCH_SPLIT=dev` speaks the development split instead of the test split: the
//! next `PER_INTENT` sentences of each intent after the test split's, and other unrelated
//! sentences (what the rescoring margin was chosen on; the test split is what the README
//! reports).
//!
//! Environment: `SKYLARK_SPEECHBENCH_PER_INTENT` (sentences per intent, default 1),
//! `SKYLARK_SPEECHBENCH_ALL_VOICES=1` (every voice says every sentence; default: voices take
//! turns), `SKYLARK_SPEECHBENCH_SNRS` (default `clean,24,18,12,6`),
//! `SKYLARK_SPEECHBENCH_LANGS` (default `en,zh-CN`; `none`: the second grammar only), `SKYLARK_SPEECHBENCH_SMARTHOME=0` to skip
//! the second grammar, `SKYLARK_SPEECHBENCH_VERBOSE=1` to print every miss,
//! `RUST_LOG=skylark::speech=debug` to print every rescoring's log-probabilities,
//! `SKYLARK_SPEECHBENCH_MODEL_EN=whisper-base` to hear English with another model of the
//! manifest than the default.

#[path = "speech_intent/noise.rs"]
mod noise;
#[path = "speech_intent/testset.rs"]
mod testset;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use skylark::config::Config;
use skylark::engine::{
    Audio, CancelToken, CommandGrammar, Engine, EngineConfig, Stages, Transcriber,
};
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
    grammar: CommandGrammar,
    commands: Vec<Utterance>,
    unrelated: Vec<Utterance>,
}

#[derive(Default, Clone)]
struct Tally {
    n: usize,
    plain: usize,
    guided: usize,
    tolerant: usize,
    rescored: usize,
    /// Command clips given another intent (a wrong action), per path (c) and (d).
    wrong_tolerant: usize,
    wrong_rescored: usize,
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
    // `RUST_LOG=skylark::speech=debug` shows each rescoring's log-probabilities (on stderr).
    if let Some(filter) = env("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
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
    if let Some(model) = env("SKYLARK_SPEECHBENCH_MODEL_EN") {
        config.asr.model_en = model; // e.g. whisper-base, to compare with the default tiny.en
    }
    let engine_config = EngineConfig::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    // Path (d) is the default configuration's command mode; (b) primes without rescoring.
    let mut rescoring = config.clone();
    rescoring.asr.grammar_guided = false;
    rescoring.asr.grammar_rescoring = true;
    let transcriber =
        WhisperTranscriber::load(&rescoring, &models_dir).unwrap_or_else(|e| panic!("{e}"));
    let guided = env("SKYLARK_SPEECHBENCH_GUIDED")
        .is_some_and(|v| v == "1")
        .then(|| {
            let mut c = config.clone();
            c.asr.grammar_guided = true;
            c.asr.grammar_rescoring = false;
            WhisperTranscriber::load(&c, &models_dir).unwrap_or_else(|e| panic!("{e}"))
        });
    let dev = env("SKYLARK_SPEECHBENCH_SPLIT").is_some_and(|v| v == "dev");

    let mut suites = Vec::new();
    let builtin = || Recognizer::new(Grammar::builtin().expect("catalog")).expect("catalog");
    for lang in &langs {
        let recognizer = builtin();
        let commands =
            testset::commands(&recognizer, lang, per_intent, dev, all_voices, &mut synth);
        let unrelated = testset::unrelated_speech(lang, dev, &mut synth);
        let mut ec = engine_config.clone();
        ec.language = lang.clone();
        let engine = Engine::new(ec, builtin(), Stages::text_only());
        let grammar = engine.command_grammar(lang);
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
            dev,
            all_voices,
            &mut synth,
        );
        let mut ec = engine_config.clone();
        ec.language = lang.clone();
        let engine = Engine::new(ec, load(), Stages::text_only());
        let grammar = engine.command_grammar(&lang);
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
    let has_guided = guided.is_some();
    let transcribe = |audio: &Audio, suite: &Suite| -> (String, Option<String>, String, [f64; 3]) {
        let t = Instant::now();
        let plain = transcriber
            .transcribe(audio, &suite.language, &cancel)
            .unwrap_or_else(|e| panic!("{}", e.0));
        let ms_plain = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let g = guided.as_ref().map(|g| {
            g.transcribe_command(audio, &suite.language, &suite.grammar, &cancel)
                .unwrap_or_else(|e| panic!("{}", e.0))
        });
        let ms_guided = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let rescored = transcriber
            .transcribe_command(audio, &suite.language, &suite.grammar, &cancel)
            .unwrap_or_else(|e| panic!("{}", e.0));
        let ms_rescored = t.elapsed().as_secs_f64() * 1e3;
        (plain, g, rescored, [ms_plain, ms_guided, ms_rescored])
    };
    for suite in &suites {
        let mut per_snr: Vec<Tally> = vec![Tally::default(); snrs.len()];
        let mut ms = [0.0f64; 3];
        let mut clip_no = 0u64;
        let recognize = |text: &str| {
            suite
                .engine
                .recognize(text, Some(suite.language.tag()))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        for u in &suite.commands {
            for (si, snr) in snrs.iter().enumerate() {
                clip_no += 1;
                let kind = Noise::ALL[(clip_no as usize) % Noise::ALL.len()];
                let noise = noise::generate(kind, u.samples.len(), clip_no, &babble);
                let audio = Audio {
                    samples: noise::mix(&u.samples, &noise, *snr),
                };
                let (plain, g, rescored, took) = transcribe(&audio, suite);
                for (m, t) in ms.iter_mut().zip(took) {
                    *m += t;
                }
                let expected = u.expected.as_ref().expect("a command");
                let a =
                    suite
                        .recognizer
                        .recognize(&plain, &suite.language, &DialogueContext::new());
                let ok_a = a
                    .as_ref()
                    .is_some_and(|m| accepted(expected, &m.intent, &m.slots));
                let b = g.as_deref().map(recognize);
                let ok_b = b
                    .as_ref()
                    .is_some_and(|b| accepted(expected, &b.intent, &b.slots));
                let c = recognize(&plain);
                let ok_c = accepted(expected, &c.intent, &c.slots);
                let d = recognize(&rescored);
                let ok_d = accepted(expected, &d.intent, &d.slots);
                let tally = &mut per_snr[si];
                tally.n += 1;
                tally.plain += usize::from(ok_a);
                tally.guided += usize::from(ok_b);
                tally.tolerant += usize::from(ok_c);
                tally.rescored += usize::from(ok_d);
                let wrong = |intent: &str| !intent.is_empty() && intent != expected.0;
                tally.wrong_tolerant += usize::from(wrong(&c.intent));
                tally.wrong_rescored += usize::from(wrong(&d.intent));
                if verbose && (!ok_a || !ok_c || !ok_d || (has_guided && !ok_b)) {
                    let snr_s = snr.map_or("clean".into(), |s| format!("{s} dB {}", kind.name()));
                    let mark = |ok: bool| if ok { "ok" } else { "MISS" };
                    // The candidates grammar rescoring weighed (`*` those that are right): a
                    // miss with no right candidate is the candidates' fault, not the audio's.
                    let candidates = suite
                        .grammar
                        .closest
                        .as_ref()
                        .map(|closest| {
                            closest(&plain)
                                .sentences
                                .iter()
                                .map(|s| {
                                    let r = recognize(s);
                                    let right = accepted(expected, &r.intent, &r.slots);
                                    format!("{}{s:?}", if right { "*" } else { "" })
                                })
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default();
                    println!(
                        "  [a {} c {} d {}] candidates: {candidates}",
                        mark(ok_a),
                        mark(ok_c),
                        mark(ok_d)
                    );
                    println!(
                        "  miss [{}] {} {} | {:?} | plain {:?} → {} | tolerant → {} {:?} | rescored {:?} → {} {:?}{}",
                        suite.name,
                        snr_s,
                        u.voice.name(),
                        u.text,
                        plain,
                        a.map(|m| m.intent).unwrap_or_default(),
                        c.intent,
                        c.slots,
                        rescored,
                        d.intent,
                        d.slots,
                        match (&g, &b) {
                            (Some(g), Some(b)) => format!(" | guided {g:?} → {} {:?}", b.intent, b.slots),
                            _ => String::new(),
                        }
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
            let (plain, g, rescored, _) = transcribe(&audio, suite);
            let a = suite
                .recognizer
                .recognize(&plain, &suite.language, &DialogueContext::new());
            let b = g.as_deref().map(recognize);
            let c = recognize(&plain);
            let d = recognize(&rescored);
            fa.n += 1;
            fa.plain += usize::from(a.is_some());
            fa.guided += usize::from(b.as_ref().is_some_and(|b| !b.intent.is_empty()));
            fa.tolerant += usize::from(!c.intent.is_empty());
            fa.rescored += usize::from(!d.intent.is_empty());
            if verbose {
                println!(
                    "  unrelated [{}] {:?} | plain {:?} → tolerant {:?} | rescored {:?} → {:?}",
                    suite.name, u.text, plain, c.intent, rescored, d.intent
                );
            }
        }
        let guided_pct = |k: usize, n: usize| if has_guided { pct(k, n) } else { "-".into() };
        println!(
            "\n== {} — {} command clips × {} SNRs (noise: road/fan/music/babble in turn) ==",
            suite.name,
            suite.commands.len(),
            snrs.len()
        );
        println!(
            "{:<8} {:>5} {:>13} {:>13} {:>13} {:>13}",
            "SNR", "n", "(a) plain", "(b) guided", "(c) tolerant", "(d) rescored"
        );
        for (snr, t) in snrs.iter().zip(&per_snr) {
            let label = snr.map_or("clean".into(), |s| format!("{s} dB"));
            println!(
                "{label:<8} {:>5} {:>13} {:>13} {:>13} {:>13}",
                t.n,
                pct(t.plain, t.n),
                guided_pct(t.guided, t.n),
                pct(t.tolerant, t.n),
                pct(t.rescored, t.n)
            );
        }
        if fa.n > 0 {
            println!(
                "false acceptance on {} unrelated clips (clean): (a) {}  (b) {}  (c) {}  (d) {}",
                fa.n,
                pct(fa.plain, fa.n),
                guided_pct(fa.guided, fa.n),
                pct(fa.tolerant, fa.n),
                pct(fa.rescored, fa.n)
            );
        }
        let wrong = |f: fn(&Tally) -> usize| per_snr.iter().map(f).sum::<usize>();
        println!(
            "wrong actions (another intent) on {} command clips: (c) {}  (d) {}",
            per_snr.iter().map(|t| t.n).sum::<usize>(),
            wrong(|t| t.wrong_tolerant),
            wrong(|t| t.wrong_rescored)
        );
        let n_dec = per_snr.iter().map(|t| t.n).sum::<usize>().max(1) as f64;
        println!(
            "decode time per clip: free {:.0} ms, grammar-guided {}, rescored {:.0} ms (ratio to free {:.2})",
            ms[0] / n_dec,
            if has_guided { format!("{:.0} ms (ratio {:.2})", ms[1] / n_dec, ms[1] / ms[0].max(1e-9)) } else { "-".into() },
            ms[2] / n_dec,
            ms[2] / ms[0].max(1e-9)
        );
        summary.push((suite.name.clone(), per_snr.clone(), fa.clone()));
    }
    println!("\nload average at end: {}", load());
    println!("\n== Summary (acceptance: intent and every slot right) ==");
    for (name, per_snr, fa) in &summary {
        let row: Vec<String> = snrs
            .iter()
            .zip(per_snr)
            .map(|(s, t)| {
                format!(
                    "{} {}/{}/{}",
                    s.map_or("clean".into(), |s| format!("{s}dB")),
                    pct(t.plain, t.n),
                    pct(t.tolerant, t.n),
                    pct(t.rescored, t.n)
                )
            })
            .collect();
        println!(
            "  {name} (a) plain / (c) tolerant / (d) rescored: {}; FA {}/{}/{}",
            row.join(", "),
            pct(fa.plain, fa.n),
            pct(fa.tolerant, fa.n),
            pct(fa.rescored, fa.n),
        );
    }
}
