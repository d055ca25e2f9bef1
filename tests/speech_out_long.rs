//! 100 KB of text through the speaker users run (`VoiceSpeaker`: real Piper voice, real
//! PulseAudio null sink started by the test, recorded from its monitor): it starts playing
//! piece by piece instead of synthesising all first, and a cancel stops it at once, in English
//! (Piper) and Mandarin (espeak-ng). Its own file: it points this process's PulseAudio
//! environment at the test server.
//!
//! `cargo test --release --test speech_out_long -- --nocapture`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::models_dir;
use common::pulse::{active_seconds, PulseServer};
use skylark::config::Config;
use skylark::engine::{CancelToken, Speaker};
use skylark::nlu::Language;
use skylark::speech::VoiceSpeaker;

/// RMS of a 50 ms block above which it counts as sound.
const SOUND: f32 = 0.005;

#[test]
fn a_hundred_kilobytes_plays_in_pieces_and_cancel_stops_it() {
    let pulse = PulseServer::start();
    for (k, v) in pulse.env() {
        std::env::set_var(k, v);
    }
    let speaker = Arc::new(
        VoiceSpeaker::load(&Config::default(), &models_dir()).unwrap_or_else(|e| panic!("{e}")),
    );
    let cases = [
        (
            Language::english(),
            "Drive 3.5 km on Main St. and turn left at 14:30, then keep going because the road is long. ",
        ),
        (
            Language::mandarin(),
            "前方3.5公里右转，然后直行两公里，下午2点半到达目的地。",
        ),
    ];
    for (language, sentence) in cases {
        let text = sentence.repeat(100_000 / sentence.len() + 1);
        let cancel = Arc::new(CancelToken::new());
        let rec = pulse.record("speaker.monitor");
        let started = Instant::now();
        let worker = {
            let (speaker, cancel, language) = (speaker.clone(), cancel.clone(), language.clone());
            std::thread::spawn(move || speaker.speak(&text, &language, &cancel))
        };
        // Sound comes from the first pieces while the rest is not synthesised yet (all of it
        // is about two hours of speech).
        let deadline = Instant::now() + Duration::from_secs(60);
        while active_seconds(&rec.samples(), SOUND) < 1.0 {
            assert!(
                Instant::now() < deadline && !worker.is_finished(),
                "{language}: no sound from 100 KB of text"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let heard_after = started.elapsed();
        cancel.cancel();
        let result = worker.join().expect("the speaker thread does not panic");
        let samples = rec.stop();
        eprintln!(
            "{language}: first second of sound heard after {:.2} s; {:.1} s of sound in all",
            heard_after.as_secs_f32(),
            active_seconds(&samples, SOUND)
        );
        assert!(result.is_ok(), "{language}: {result:?}");
        assert!(
            active_seconds(&samples, SOUND) < 30.0,
            "{language}: it kept playing after the cancel"
        );
    }
}
