//! Speech that lands, on the real whisper models and real audio: the transcriber users run
//! (`WhisperTranscriber`, default config) in free and command (grammar-guided) mode.
//!
//! - a command whisper used to repeat ("turn on recirculation", espeak-ng) comes back once;
//! - Mandarin on the real recordings of `tests/data/audio` stays under a character error rate
//!   that the old decoding (greedy over a trimmed window) did not reach;
//! - the grammar guides decoding to a command that free decoding mishears;
//! - speech outside the grammar (JFK) is still transcribed freely in command mode;
//! - grammar rescoring (the default command mode) repairs commands whisper mishears.
//!
//! `cargo test --release --test speech_command -- --test-threads=1`

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use skylark::asr::{cer, AsrOptions, AudioContext, Search, TranscribeOptions, WhisperRecognizer};
use skylark::config::Config;
use skylark::engine::{Audio, CancelToken, Engine, EngineConfig, Stages, Transcriber};
use skylark::nlu::{Grammar, Language, Recognizer};
use skylark::speech::espeak::EspeakVoice;
use skylark::speech::WhisperTranscriber;

mod common;
use common::words;

fn transcriber() -> &'static WhisperTranscriber {
    static T: OnceLock<WhisperTranscriber> = OnceLock::new();
    T.get_or_init(|| {
        let models = skylark::models::default_models_dir();
        let mut config = Config::default();
        config.asr.grammar_guided = true; // off by default; command mode is under test here
        WhisperTranscriber::load(&config, &models)
            .unwrap_or_else(|e| panic!("{e}\n(run `skylark models fetch`)"))
    })
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let recognizer = Recognizer::new(Grammar::builtin().expect("catalog")).expect("catalog");
        let config = EngineConfig::from_config(&Config::default()).expect("config");
        Engine::new(config, recognizer, Stages::text_only())
    })
}

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/audio")
        .join(file)
}

/// `text` spoken by espeak-ng `voice` at `wpm`, 16 kHz.
fn espeak(voice: &str, wpm: u32, text: &str) -> Audio {
    let v = EspeakVoice::check("espeak-ng", voice)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_speed(wpm);
    let (samples, rate) = v.synthesize(text, &|| false).expect("espeak-ng");
    Audio {
        samples: skylark::audio::resample(&samples, rate, 16_000).expect("resample"),
    }
}

#[test]
fn a_command_comes_back_once_not_repeated() {
    let en = Language::english();
    let cancel = CancelToken::new();
    for (voice, wpm) in [("en", 175), ("en-us", 160), ("en-gb+f2", 140)] {
        let audio = espeak(voice, wpm, "turn on recirculation");
        for guided in [false, true] {
            let text = if guided {
                let grammar = engine().command_grammar(&en);
                transcriber().transcribe_command(&audio, &en, &grammar, &cancel)
            } else {
                transcriber().transcribe(&audio, &en, &cancel)
            }
            .expect("transcribe");
            let w = words(&text);
            eprintln!("[{voice} {wpm} guided={guided}] {text:?}");
            assert!(!w.is_empty(), "nothing heard");
            assert!(
                w.len() <= 5,
                "{voice}: a 3-word command came back as {} words: {text:?}",
                w.len()
            );
            assert!(
                w.iter().filter(|x| x.as_str() == "turn").count() <= 1,
                "{voice}: repeated: {text:?}"
            );
        }
    }
}

const LILIANA: &str = "林美丽最美丽、最漂亮、最可爱！";
const NUMBERS: &str = "35年前，他于长沙出生, 在长白山长大。9年前他当上了银行的领导，主管行政。1天前莅临我行指导工作。";

/// Character error rate over both real Mandarin recordings (all characters pooled).
fn pooled_cer(texts: &[String]) -> f64 {
    let (mut e, mut n) = (0, 0);
    for (r, h) in [LILIANA, NUMBERS].iter().zip(texts) {
        let (edits, len) = skylark::asr::char_edits(r, h);
        e += edits;
        n += len;
    }
    e as f64 / n as f64
}

#[test]
fn mandarin_on_real_recordings_beats_the_old_decoding() {
    let zh = Language::mandarin();
    let cancel = CancelToken::new();
    let audio: Vec<Audio> = ["zh_liliana.wav", "zh_numbers.wav"]
        .iter()
        .map(|f| Audio {
            samples: skylark::audio::read_wav(&data(f)).expect("wav"),
        })
        .collect();
    let now: Vec<String> = audio
        .iter()
        .map(|a| {
            transcriber()
                .transcribe(a, &zh, &cancel)
                .expect("transcribe")
        })
        .collect();
    // The old decoding, for comparison on the same model: greedy, trimmed window.
    let path = skylark::models::default_models_dir().join("whisper/ggml-base-q8_0.bin");
    let old_model = WhisperRecognizer::load(
        &path,
        &AsrOptions {
            language: "zh-CN".into(),
            ..AsrOptions::default()
        },
    )
    .expect("base");
    let old_opts = TranscribeOptions {
        language: Some("zh-CN".into()),
        audio_ctx: AudioContext::Fit { margin: 64 },
        search: Search::Greedy,
        ..TranscribeOptions::default()
    };
    let old: Vec<String> = audio
        .iter()
        .map(|a| {
            let padded = [vec![0.0; 4_800], a.samples.clone()].concat();
            old_model.transcribe(&padded, &old_opts).expect("old").text
        })
        .collect();
    let (cer_now, cer_old) = (pooled_cer(&now), pooled_cer(&old));
    eprintln!("now {cer_now:.3} {now:?}\nold {cer_old:.3} {old:?}");
    assert!(
        cer_now <= MANDARIN_CER_BOUND,
        "CER {cer_now:.3} over the bound {MANDARIN_CER_BOUND}: {now:?}"
    );
    assert!(
        cer_old > MANDARIN_CER_BOUND,
        "the old decoding ({cer_old:.3}) already met the bound: the test would not show the fix"
    );
    assert!(now[0].contains("美丽"), "{:?}", now[0]);
}

/// Pooled CER on the two recordings that the new decoding stays under and the old did not
/// (measured here: beam 5 + full window 0.382, greedy + trimmed window 0.436).
const MANDARIN_CER_BOUND: f64 = 0.41;

#[test]
fn speech_outside_the_grammar_is_still_transcribed_freely() {
    let en = Language::english();
    let audio = Audio {
        samples: skylark::audio::read_wav(&data("jfk.wav")).expect("wav"),
    };
    let grammar = engine().command_grammar(&en);
    let text = transcriber()
        .transcribe_command(&audio, &en, &grammar, &CancelToken::new())
        .expect("transcribe");
    let reference = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    let error = cer(reference, &text);
    eprintln!("{error:.3} {text:?}");
    assert!(error < 0.1, "command mode bent free speech: {text:?}");
    assert!(
        engine()
            .recognize(&text, Some("en"))
            .expect("recognize")
            .intent
            .is_empty(),
        "JFK is not a command"
    );
}

/// Near-homophones on real audio: catalog commands spoken by espeak-ng and transcribed by
/// whisper (free decoding, as the issue found them: "pause the music" came back as "Force the
/// music."), reach their intent through the spoken path (exact, then tolerant) at the default
/// threshold, with the slots right.
#[test]
fn near_homophones_in_real_audio_reach_their_intent() {
    let en = Language::english();
    let cancel = CancelToken::new();
    let ctx = skylark::nlu::DialogueContext::new();
    for (said, intent, slot) in [
        ("pause the music", "media.pause", None),
        (
            "set the passenger side to 24 degrees",
            "climate.set_temperature",
            Some(("temperature", skylark::nlu::SlotValue::Integer(24))),
        ),
    ] {
        let audio = espeak("en", 175, said);
        let text = transcriber()
            .transcribe(&audio, &en, &cancel)
            .expect("transcribe");
        let m = engine()
            .recognizer()
            .recognize_spoken(&text, &en, &ctx)
            .unwrap_or_else(|| panic!("{said:?} heard as {text:?}: no intent"));
        eprintln!("{said:?} → {text:?} → {} ({})", m.intent, m.confidence);
        assert_eq!(m.intent, intent, "{said:?} heard as {text:?}");
        if let Some((name, value)) = slot {
            assert_eq!(
                m.slots.get(name),
                Some(&value),
                "{said:?} heard as {text:?}"
            );
        }
    }
}

/// The transcriber with the default configuration: command mode weighs the grammar's closest
/// sentences against the audio (`asr.grammar_rescoring`), without grammar priming.
fn default_transcriber() -> &'static WhisperTranscriber {
    static T: OnceLock<WhisperTranscriber> = OnceLock::new();
    T.get_or_init(|| {
        let models = skylark::models::default_models_dir();
        let config = Config::default();
        assert!(config.asr.grammar_rescoring && !config.asr.grammar_guided);
        WhisperTranscriber::load(&config, &models)
            .unwrap_or_else(|e| panic!("{e} (run ./scripts/setup.sh --tests)"))
    })
}

/// Grammar rescoring on real audio: whisper mishears this espeak-ng command ("Switch on the
/// air mister."), so the free transcript reaches the wrong intent even with the tolerant
/// matcher; in command mode the grammar's closest sentences are weighed against the same audio
/// and the right one replaces the reading. A reading the grammar already understands is not
/// bent to a likelier common phrase, and unrelated speech (JFK) is left as heard.
#[test]
fn grammar_rescoring_repairs_misheard_commands() {
    // `RUST_LOG=skylark::asr=debug` shows the weighed sentences and their log-probabilities.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let en = Language::english();
    let cancel = CancelToken::new();
    let grammar = engine().command_grammar(&en);
    let (voice, wpm, said, intent) = ("en-us", 160, "switch on demister", "climate.set_defrost");
    {
        let audio = espeak(voice, wpm, said);
        let free = default_transcriber()
            .transcribe(&audio, &en, &cancel)
            .expect("transcribe");
        let before = engine().recognize(&free, Some("en")).expect("recognize");
        let heard = default_transcriber()
            .transcribe_command(&audio, &en, &grammar, &cancel)
            .expect("transcribe");
        let after = engine().recognize(&heard, Some("en")).expect("recognize");
        eprintln!(
            "[{voice} {wpm}] {said:?}: free {free:?} → {:?}; rescored {heard:?} → {:?}",
            before.intent, after.intent
        );
        assert_ne!(
            before.intent, intent,
            "free decoding already lands {said:?} ({free:?}): this case tests nothing"
        );
        assert_eq!(after.intent, intent, "{said:?} rescored as {heard:?}");
    }
    // A reading the grammar already understands is replaced only by a sentence the audio
    // supports better: "Turn fire up." (fan speed) stays, though whisper finds "Turn it up."
    // (volume) nearly as likely.
    let audio = espeak("en-gb+f2", 140, "turn fan up");
    let heard = default_transcriber()
        .transcribe_command(&audio, &en, &grammar, &cancel)
        .expect("transcribe");
    let r = engine().recognize(&heard, Some("en")).expect("recognize");
    eprintln!("\"turn fan up\" → {heard:?} → {}", r.intent);
    assert_eq!(r.intent, "climate.adjust_fan_speed", "{heard:?}");
    let audio = Audio {
        samples: skylark::audio::read_wav(&data("jfk.wav")).expect("wav"),
    };
    let heard = default_transcriber()
        .transcribe_command(&audio, &en, &grammar, &cancel)
        .expect("transcribe");
    assert!(heard.contains("country"), "{heard:?}");
    let r = engine().recognize(&heard, Some("en")).expect("recognize");
    assert!(r.intent.is_empty(), "{heard:?} → {}", r.intent);
}
