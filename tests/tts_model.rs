//! Piper synthesis with the real `joe` voice from the models directory and espeak-ng run as a
//! separate process. A missing voice fails the test with the fix (`skylark models fetch`); it
//! is never skipped.

use std::path::PathBuf;
use std::time::Instant;

use skylark::tts::text::sentences;
use skylark::tts::{PiperVoice, TtsError};

fn voice_path() -> PathBuf {
    let dir = skylark::models::default_models_dir();
    if let Err(e) = skylark::onnx::init(&dir) {
        panic!("{e}");
    }
    let path = dir.join("tts/en_US-joe-medium.onnx");
    assert!(
        path.is_file(),
        "Piper voice missing at {}. Run `skylark models fetch`.",
        path.display()
    );
    path
}

fn load() -> PiperVoice {
    PiperVoice::load(&voice_path()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn command_confirmation_is_one_to_five_seconds_of_real_speech() {
    let mut voice = load();
    assert_eq!(voice.sample_rate(), 22_050);
    let text = "Turning on the air conditioning.";
    let started = Instant::now();
    let audio = voice.synthesize(text).unwrap_or_else(|e| panic!("{e}"));
    let elapsed = started.elapsed().as_secs_f32();
    let secs = audio.duration_secs();
    eprintln!(
        "Piper: {secs:.2} s of audio in {elapsed:.2} s, real-time factor {:.2}, RMS {:.3}",
        elapsed / secs.max(1e-6),
        audio.rms()
    );
    assert_eq!(audio.sample_rate, 22_050);
    assert!((1.0..=5.0).contains(&secs), "{secs} s");
    assert!(
        audio.rms() > 0.02,
        "RMS {} is close to silence",
        audio.rms()
    );
    assert!(audio
        .samples
        .iter()
        .all(|s| s.is_finite() && (-1.0..=1.0).contains(s)));
    // Speech has pauses and loud parts: the loudest 50 ms is far above the quietest.
    let win = 22_050 / 20;
    let levels: Vec<f32> = audio
        .samples
        .chunks(win)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let loud = levels.iter().copied().fold(0.0f32, f32::max);
    let quiet = levels.iter().copied().fold(f32::MAX, f32::min);
    assert!(
        loud > 10.0 * quiet.max(1e-4),
        "no dynamics: loudest {loud}, quietest {quiet}"
    );
}

#[test]
fn phonemes_keep_clause_punctuation_like_piper() {
    let voice = load();
    let s = sentences("Hello, world. How are you?");
    let first = voice
        .phonemize_sentence(&s[0])
        .unwrap_or_else(|e| panic!("{e}"));
    let second = voice
        .phonemize_sentence(&s[1])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, "həlˈoʊ, wˈɜːld.");
    assert!(second.ends_with('?') && second.contains("juː"), "{second}");
    // espeak splits after "Dr." where this splitter does not: its phonemes are kept whole.
    let s = sentences("Dr. Smith arrived, late.");
    assert_eq!(s.len(), 1);
    let dr = voice
        .phonemize_sentence(&s[0])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        dr.starts_with("dˈɑːktɚ smˈɪθ") && dr.ends_with("lˈeɪt."),
        "{dr}"
    );
}

#[test]
fn more_sentences_give_more_audio() {
    let mut voice = load();
    let one = voice
        .synthesize("Turning on the air conditioning.")
        .unwrap_or_else(|e| panic!("{e}"));
    let two = voice
        .synthesize(
            "Turning on the air conditioning. The temperature is set to twenty one degrees.",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        two.duration_secs() > one.duration_secs() + 1.0,
        "{} vs {}",
        two.duration_secs(),
        one.duration_secs()
    );
    let mut parts = 0;
    voice
        .synthesize_each("First sentence. Second one! Third?", |a, ends_sentence| {
            parts += 1;
            assert!(ends_sentence);
            a.rms() > 0.01
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parts, 3);
}

#[test]
fn a_sentence_starts_with_its_first_clause_alone() {
    let mut voice = load();
    let text = "Sure, the nearest charging station is two kilometers away on the left, and it has four free spots right now.";
    let mut pieces = Vec::new();
    voice
        .synthesize_each(text, |a, ends_sentence| {
            pieces.push((a.duration_secs(), ends_sentence));
            true
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("pieces (seconds, ends sentence): {pieces:?}");
    assert!(pieces.len() >= 2, "{pieces:?}");
    // "Sure," alone is well under a second; the rest is the longer part.
    assert!(pieces[0].0 < 1.0 && !pieces[0].1, "{pieces:?}");
    assert!(
        pieces.last().is_some_and(|p| p.1 && p.0 > 2.0),
        "{pieces:?}"
    );
}

#[test]
fn a_hundred_kilobytes_is_spoken_in_pieces_and_stops_when_asked() {
    let mut voice = load();
    let sentence = "Drive 3.5 km on Main St. then turn left at 14:30, and keep going because the road is long and the night is dark ";
    let text = sentence.repeat(100_000 / sentence.len() + 1);
    assert!(text.len() >= 100_000);
    // Stop at any point: after 1, then after 4 pieces.
    for stop_after in [1, 4] {
        let mut pieces = 0;
        voice
            .synthesize_each(&text, |a, _| {
                assert!(
                    a.duration_secs() < 15.0,
                    "a piece of {} s",
                    a.duration_secs()
                );
                pieces += 1;
                pieces < stop_after
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pieces, stop_after);
    }
}

#[test]
fn unknown_characters_and_emoji_do_not_crash() {
    let mut voice = load();
    for text in [
        "Done 😀! ☃ ⛄ ∑ ✓",
        "🚗🚗🚗",
        "→ ← ¶ § ©",
        "",
        "   ",
        "...",
        "Zürich, naïve café — «ok»",
        "-v --help",
        "مرحبا بالعالم",
        "नमस्ते दुनिया",
        "안녕하세요",
        "こんにちは",
        "Привет, мир",
        "ሰላም",
        "\u{200b}\u{feff}\u{0301}",
        "22°C 😀 No. 5",
    ] {
        match voice.synthesize(text) {
            Ok(audio) => {
                assert!(audio.samples.iter().all(|s| s.is_finite()), "{text:?}");
                eprintln!("{text:?}: {:.2} s", audio.duration_secs());
            }
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
    assert!(voice
        .synthesize("")
        .map(|a| a.samples.is_empty())
        .unwrap_or(false));
}

#[test]
fn missing_espeak_says_how_to_install_it() {
    let mut voice = load().with_espeak_program("/nonexistent/espeak-ng");
    match voice.synthesize("Hello.") {
        Err(e @ TtsError::EspeakMissing { .. }) => {
            assert!(e.to_string().contains("apt-get install espeak-ng"), "{e}");
        }
        other => panic!("expected EspeakMissing, got {other:?}"),
    }
}

#[test]
fn missing_voice_says_models_fetch() {
    match PiperVoice::load(std::path::Path::new(
        "/nonexistent/en_US-nobody-medium.onnx",
    )) {
        Err(e @ TtsError::VoiceMissing { .. }) => {
            assert!(e.to_string().contains("skylark models fetch"), "{e}");
        }
        Err(e) => panic!("expected VoiceMissing, got {e}"),
        Ok(_) => panic!("loading a missing voice succeeded"),
    }
}
