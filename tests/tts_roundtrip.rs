//! Numbers read right, checked by ear: texts with temperatures, distances, times and cockpit
//! abbreviations are spoken by the real Piper voice (joe, through `tts::normalize`), and
//! whisper tiny.en (the transcriber users run, default config) must hear the words the
//! normaliser meant. Whisper writes numbers as digits, so its transcript is read by the same
//! normaliser before the words are compared.
//!
//! `cargo test --release --test tts_roundtrip -- --nocapture`

use skylark::config::Config;
use skylark::engine::{Audio, CancelToken, Transcriber};
use skylark::nlu::Language;
use skylark::speech::WhisperTranscriber;
use skylark::tts::normalize::{for_speech, Reading};
use skylark::tts::PiperVoice;

mod common;
use common::{models_dir, words};

/// (text, words whisper must hear, in order, after its transcript is normalised too).
const CASES: &[(&str, &[&str])] = &[
    (
        "Set the temperature to 22°C.",
        &["twenty", "two", "degrees", "celsius"],
    ),
    (
        "The charging station is 3.5 km away.",
        &["three", "point", "five", "kilometers"],
    ),
    ("Your meeting starts at 14:30.", &["two", "thirty"]),
    (
        "Drive at 120 km/h.",
        &["one", "hundred", "twenty", "kilometers", "per", "hour"],
    ),
    ("Park at No. 5, please.", &["number", "five"]),
    ("It costs $3.50.", &["three", "dollars", "fifty", "cents"]),
];

/// Whether `needle` appears in `hay` in order (other words may come between).
fn in_order(hay: &[String], needle: &[&str]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}

#[test]
fn piper_speaks_normalised_numbers_that_whisper_hears_back() {
    let models = models_dir();
    skylark::onnx::init(&models).unwrap_or_else(|e| panic!("{e}"));
    let voice_path = models.join("tts/en_US-joe-medium.onnx");
    let mut voice = PiperVoice::load(&voice_path)
        .unwrap_or_else(|e| panic!("{e} (run `skylark models fetch`)"));
    let asr = WhisperTranscriber::load(&Config::default(), &models)
        .unwrap_or_else(|e| panic!("{e} (run `skylark models fetch`)"));
    let en = Language::english();
    let cancel = CancelToken::new();
    let mut wrong = Vec::new();
    // Piper's VITS graph draws random noise (noise_scale), so each synthesis differs a little;
    // a case gets a second synthesis before it counts as wrong. A reading that is wrong (a
    // number said as digits, a unit left out) is wrong both times.
    for &(text, expected) in CASES {
        let mut heard_all = Vec::new();
        let ok = (0..2).any(|_| {
            let audio = voice.synthesize(text).unwrap_or_else(|e| panic!("{e}"));
            let samples = skylark::audio::resample(&audio.samples, audio.sample_rate, 16_000)
                .unwrap_or_else(|e| panic!("{e}"));
            let heard = asr
                .transcribe(&Audio { samples }, &en, &cancel)
                .unwrap_or_else(|e| panic!("{e}"));
            let heard_words = words(&for_speech(&heard, Reading::English));
            eprintln!(
                "{text:?} -> said {:?} -> heard {heard:?}",
                for_speech(text, Reading::English)
            );
            heard_all.push(heard);
            in_order(&heard_words, expected)
        });
        if !ok {
            wrong.push(format!(
                "{text:?}: heard {heard_all:?}, expected {expected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
