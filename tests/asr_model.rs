//! Speech recognition on the real whisper models (`<models>/whisper/ggml-tiny.en-q8_0.bin`,
//! `ggml-base-q8_0.bin`) with real audio: espeak-ng speaking known commands, JFK's inaugural address
//! and a Mandarin TTS clip. A missing model fails the test with the fix (`skylark models fetch`).
//!
//! Figures (load and transcription times) are printed, never asserted:
//! `cargo test --release --test asr_model -- --nocapture --test-threads=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use skylark::asr::{AsrError, AsrOptions, AudioContext, TranscribeOptions, WhisperRecognizer};
use skylark::audio::read_wav;

fn model_path(file: &str) -> PathBuf {
    skylark::models::default_models_dir()
        .join("whisper")
        .join(file)
}

fn load(file: &str, language: &str) -> WhisperRecognizer {
    let path = model_path(file);
    let started = Instant::now();
    let opts = AsrOptions {
        language: language.into(),
        ..AsrOptions::default()
    };
    match WhisperRecognizer::load(&path, &opts) {
        Ok(r) => {
            eprintln!(
                "[figure] load {file}: {:.2} s",
                started.elapsed().as_secs_f64()
            );
            r
        }
        Err(e) => panic!(
            "cannot load {}: {e}\n(run `skylark models fetch`)",
            path.display()
        ),
    }
}

fn tiny_en() -> &'static WhisperRecognizer {
    static M: OnceLock<WhisperRecognizer> = OnceLock::new();
    M.get_or_init(|| load("ggml-tiny.en-q8_0.bin", "en"))
}

fn base() -> &'static WhisperRecognizer {
    static M: OnceLock<WhisperRecognizer> = OnceLock::new();
    M.get_or_init(|| load("ggml-base-q8_0.bin", "en"))
}

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/audio")
        .join(file)
}

/// Lowercase, punctuation dropped, whitespace collapsed: what a command parser compares.
fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// espeak-ng (22.05 kHz) → our WAV reader and resampler → 16 kHz mono.
///
/// Spoken at 140 words a minute instead of espeak's default 175: at the default rate tiny.en
/// hears "play some jazz music" as "play some cast music" (base gets it right either way).
fn espeak(text: &str) -> Vec<f32> {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("say.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "140", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed (Debian package `espeak-ng`)");
    assert!(status.success(), "espeak-ng failed for {text:?}");
    read_wav(&wav).expect("espeak-ng WAV")
}

fn transcribe(r: &WhisperRecognizer, audio: &[f32], opts: &TranscribeOptions) -> (String, f64) {
    let started = Instant::now();
    let t = r
        .transcribe(audio, opts)
        .unwrap_or_else(|e| panic!("transcribe: {e}"));
    (t.text, started.elapsed().as_secs_f64())
}

#[test]
fn tiny_en_understands_espeak_commands() {
    let r = tiny_en();
    // (sentence, words that must come out, alternatives for numbers written as digits)
    let cases: [(&str, &[&[&str]]); 3] = [
        (
            "set the temperature to twenty two degrees",
            &[
                &["temperature"],
                &["twenty two", "22"],
                &["degrees", "degree", "°"],
            ],
        ),
        (
            "open the driver window",
            &[&["open"], &["driver"], &["window"]],
        ),
        ("play some jazz music", &[&["play"], &["jazz"], &["music"]]),
    ];
    for (sentence, expected) in cases {
        let audio = espeak(sentence);
        let (text, secs) = transcribe(r, &audio, &TranscribeOptions::default());
        let norm = normalise(&text);
        eprintln!(
            "[figure] tiny.en {:.1} s espeak {sentence:?} -> {text:?} in {secs:.2} s",
            audio.len() as f64 / 16e3
        );
        for alternatives in expected {
            assert!(
                alternatives.iter().any(|w| norm.contains(w)),
                "{sentence:?}: expected one of {alternatives:?} in {norm:?}"
            );
        }
    }
}

/// Weighing alternatives against the audio reuses the decoder's work where texts begin alike
/// (`Scorer`'s cached path): a text's score must not depend on what was weighed before it.
/// Each sentence is weighed alone (after the transcript only), then all of them in the order
/// of those scores, worst first, so that each fits better than the one before and is weighed
/// to its end: the scores must be the same, and the transcript weighed again after them
/// scores what it scored first.
#[test]
fn a_sentences_weight_does_not_depend_on_what_was_weighed_before() {
    use skylark::asr::{Fit, TextScore};
    let audio = espeak("switch on the demister");
    let opts = TranscribeOptions::default();
    let texts = [
        "switch on the demister",
        "switch on the defrost",
        "switch on the air conditioner",
        "switch on the demister please",
        "turn on the demister",
        "switch off",
    ];
    let fit = Fit {
        margin: 1e6,
        min_per_token: -1e6,
        rank_cost: 0.0,
        explore: None,
    };
    let weigh_all = |order: &[&str], then_heard: bool| {
        let list: Vec<String> = order.iter().map(|s| s.to_string()).collect();
        let w = tiny_en()
            .transcribe_weighing(
                &audio,
                &opts,
                &mut |heard| {
                    let mut list = list.clone();
                    if then_heard {
                        list.push(heard.text.clone());
                    }
                    (list, fit)
                },
                None,
            )
            .unwrap_or_else(|e| panic!("weigh: {e}"));
        assert_eq!(
            w.alternatives.len(),
            order.len() + usize::from(then_heard),
            "{w:?}"
        );
        w
    };
    let weigh = |order: &[&str]| -> Vec<TextScore> { weigh_all(order, false).alternatives };
    let mut alone: Vec<(&str, f32)> = texts
        .iter()
        .map(|t| {
            let a = weigh(&[t]).remove(0);
            assert!(a.complete && a.logprob < 0.0, "{a:?}");
            (*t, a.logprob)
        })
        .collect();
    alone.sort_by(|a, b| a.1.total_cmp(&b.1));
    let order: Vec<&str> = alone.iter().map(|(t, _)| *t).collect();
    // The transcript itself last: weighed first, with nothing cached, it is the reference for
    // the same text weighed after all the others.
    let w = weigh_all(&order, true);
    let (heard, again) = (
        w.heard.clone().expect("heard"),
        &w.alternatives[order.len()],
    );
    assert!(again.complete, "{w:?}");
    assert!(
        (again.logprob - heard.logprob).abs() < 1e-3,
        "the transcript scored {} first and {} after the others",
        heard.logprob,
        again.logprob
    );
    let together = &w.alternatives[..order.len()];
    for ((t, by_itself), after_others) in alone.iter().zip(together) {
        eprintln!(
            "{t:?}: alone {by_itself:.4}, after the others {:.4}",
            after_others.logprob
        );
        assert!(after_others.complete, "{t:?}: {together:?}");
        assert!(
            (after_others.logprob - by_itself).abs() < 1e-3,
            "{t:?} scored {by_itself} alone and {} after the others",
            after_others.logprob
        );
    }
    // The audio tells the sentences apart: what was said is likelier than another command.
    let of = |t: &str| alone.iter().find(|a| a.0 == t).map(|a| a.1);
    assert!(of("switch on the demister") > of("switch off"), "{alone:?}");
}

/// The grammar searched with the audio (`Fit::explore`): a small grammar given only as "which
/// words can follow these", no sentence to weigh; the search finds the command that was said
/// among sentences that begin alike, and none from a grammar whose sentences were not said.
#[test]
fn searching_a_grammar_with_the_audio_finds_what_was_said() {
    use skylark::asr::{Explore, Fit, GrammarWalk};
    // Decoded as the command path decodes English (`speech::transcriber`): a lead-in of
    // silence, greedy over the trimmed window (without the command prompt: whisper hears "We
    // are John the Namister", and the sentence said averages about -1.9 a token).
    let mut audio = vec![0.0; 4_800];
    audio.extend(espeak("switch on the demister"));
    let opts = TranscribeOptions {
        audio_ctx: AudioContext::Fit { margin: 64 },
        search: skylark::asr::Search::Greedy,
        ..TranscribeOptions::default()
    };
    let fit = Fit {
        margin: 8.0,
        min_per_token: -3.0,
        rank_cost: 0.0,
        explore: Some(Explore {
            min_per_token: -2.5,
            max_edits: 1.0,
        }),
    };
    let walk_of = |sentences: &'static [&'static str]| {
        move |said: &[&str]| -> (Vec<String>, bool) {
            let mut next = Vec::new();
            let mut can_end = false;
            for s in sentences {
                let words: Vec<&str> = s.split(' ').collect();
                let same = words.len() >= said.len()
                    && words
                        .iter()
                        .zip(said)
                        .all(|(w, s)| w.eq_ignore_ascii_case(s));
                if !same {
                    continue;
                }
                match words.get(said.len()) {
                    Some(w) => next.push(w.to_string()),
                    None => can_end = true,
                }
            }
            next.sort();
            next.dedup();
            (next, can_end)
        }
    };
    let search = |walk: GrammarWalk<'_>| {
        tiny_en()
            .transcribe_weighing(&audio, &opts, &mut |_| (Vec::new(), fit), Some(walk))
            .unwrap_or_else(|e| panic!("weigh: {e}"))
    };
    let commands = walk_of(&[
        "switch off the demister",
        "switch on the radio",
        "switch on the demister",
        "switch on the seat heating",
        "turn on the demister",
    ]);
    let w = search(&commands);
    let chosen = w.chosen.and_then(|i| w.alternatives.get(i));
    eprintln!(
        "heard {:?}, weighed {:?}",
        w.transcript.text, w.alternatives
    );
    assert_eq!(
        chosen.map(|c| c.text.trim_end_matches('.').to_lowercase()),
        Some("switch on the demister".to_string()),
        "{w:?}"
    );
    // Nothing of this grammar was said: nothing found fits.
    let others = walk_of(&["navigate home", "call mom", "play some jazz"]);
    let w = search(&others);
    assert_eq!(w.chosen, None, "{w:?}");
}

#[test]
fn base_transcribes_jfk() {
    let audio = read_wav(&data("jfk.wav")).expect("jfk.wav");
    let t = base()
        .transcribe(&audio, &TranscribeOptions::default())
        .expect("transcribe");
    let norm = normalise(&t.text);
    assert!(
        norm.contains("ask not what your country can do for you"),
        "got {norm:?}"
    );
    assert!(norm.contains("fellow americans"), "got {norm:?}");
    assert_eq!(t.language, "en");
    assert!(
        t.no_speech_prob < 0.5,
        "speech must not look like silence: {}",
        t.no_speech_prob
    );
}

#[test]
fn tiny_en_transcribes_jfk() {
    let audio = read_wav(&data("jfk.wav")).expect("jfk.wav");
    let (text, _) = transcribe(tiny_en(), &audio, &TranscribeOptions::default());
    assert!(
        normalise(&text).contains("ask not what your country can do for you"),
        "got {text:?}"
    );
}

#[test]
fn silence_gives_empty_text() {
    let silence = vec![0.0f32; 32_000];
    for r in [tiny_en(), base()] {
        let t = r
            .transcribe(&silence, &TranscribeOptions::default())
            .expect("transcribe");
        assert_eq!(t.text, "", "{}", r.model_path().display());
        assert!(t.no_speech_prob > 0.5);
    }
}

#[test]
fn faint_noise_gives_empty_text() {
    // 2 s of quiet white noise (about -50 dBFS): not digital silence, so whisper itself has to
    // decide that nobody spoke.
    let mut x: u32 = 12345;
    let noise: Vec<f32> = (0..32_000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.006
        })
        .collect();
    let t = tiny_en()
        .transcribe(&noise, &TranscribeOptions::default())
        .expect("transcribe");
    eprintln!(
        "[figure] tiny.en faint noise -> {:?}, no_speech_prob {:.2}",
        t.text, t.no_speech_prob
    );
    assert_eq!(t.text, "", "hallucinated on noise");
}

#[test]
fn base_recognises_mandarin_in_simplified_characters() {
    // 8 kHz clip: also exercises upsampling. Text: 林美丽最美丽、最漂亮、最可爱！
    let audio = read_wav(&data("zh_liliana.wav")).expect("zh_liliana.wav");
    let opts = TranscribeOptions {
        language: Some("zh-CN".into()),
        ..TranscribeOptions::default()
    };
    let t = base().transcribe(&audio, &opts).expect("transcribe");
    eprintln!("[figure] base zh_liliana -> {:?}", t.text);
    let han: Vec<char> = t
        .text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .collect();
    assert!(
        han.len() >= 5,
        "expected Chinese characters, got {:?}",
        t.text
    );
    let expected: Vec<char> = "林美丽最漂亮可爱".chars().collect();
    let hits = han.iter().filter(|c| expected.contains(c)).count();
    assert!(hits >= 3, "too few of {expected:?} in {:?}", t.text);
    assert_eq!(t.language, "zh");
}

#[test]
fn english_only_model_refuses_mandarin() {
    let audio = vec![0.1f32; 16_000];
    let opts = TranscribeOptions {
        language: Some("zh-CN".into()),
        ..TranscribeOptions::default()
    };
    let err = tiny_en().transcribe(&audio, &opts).unwrap_err();
    assert!(
        matches!(err, AsrError::LanguageNotInModel { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ggml-tiny.en-q8_0.bin"), "{err}");
}

#[test]
fn missing_model_names_file_and_fix() {
    let path = Path::new("/nonexistent/whisper/ggml-tiny.en-q8_0.bin");
    let err = WhisperRecognizer::load(path, &AsrOptions::default()).unwrap_err();
    assert!(matches!(err, AsrError::ModelMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/whisper/ggml-tiny.en-q8_0.bin")
            && msg.contains("skylark models fetch"),
        "{msg}"
    );
}

#[test]
fn truncated_or_foreign_model_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real =
        std::fs::read(model_path("ggml-tiny.en-q8_0.bin")).expect("run `skylark models fetch`");
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &real[..real.len() - 1000]).expect("write");
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"definitely not a whisper model, just some bytes").expect("write");
    for path in [cut, garbage] {
        let err = WhisperRecognizer::load(&path, &AsrOptions::default()).unwrap_err();
        assert!(matches!(err, AsrError::ModelCorrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("skylark models fetch"),
            "{msg}"
        );
    }
}

/// Timing figures for the report; asserts only that each run produced text. Each model is
/// measured with 1 and 2 threads: on a busy machine whisper.cpp's spinning worker threads make
/// 2 threads much slower than 1.
#[test]
fn measure_times() {
    let jfk = read_wav(&data("jfk.wav")).expect("jfk.wav");
    let mut cmd = espeak("turn on the air conditioning");
    cmd.resize(32_000, 0.0); // a 2 s command
    let full = TranscribeOptions {
        audio_ctx: AudioContext::Full,
        ..TranscribeOptions::default()
    };
    let fit = TranscribeOptions::default();
    for file in ["ggml-tiny.en-q8_0.bin", "ggml-base-q8_0.bin"] {
        for threads in [1, 2] {
            let opts = AsrOptions {
                threads,
                ..AsrOptions::default()
            };
            let r = WhisperRecognizer::load(&model_path(file), &opts)
                .unwrap_or_else(|e| panic!("{e}\n(run `skylark models fetch`)"));
            for (label, o) in [("full window", &full), ("fitted ctx", &fit)] {
                let (text, secs) = transcribe(&r, &jfk, o);
                assert!(!text.is_empty());
                eprintln!("[figure] {file} threads={threads} jfk 11.0 s, {label}: {secs:.2} s -> {text:?}");
                let _warm = transcribe(&r, &cmd, o);
                let (text, secs) = transcribe(&r, &cmd, o);
                assert!(!text.is_empty());
                eprintln!("[figure] {file} threads={threads} 2 s command, {label}: {secs:.2} s -> {text:?}");
            }
        }
    }
}
