//! The in-process scenarios: one engine built as `skylark ask` builds it (grammar, lite LLM,
//! semantic tier), whisper loaded once beside it, the voices loaded without an output device.

use std::time::{Duration, Instant};

use anyhow::Result;
use skylark::assistant::{AudioIn, BuildOptions};
use skylark::engine::{AskOptions, Audio, CancelToken, Engine, Event, Mark, Transcriber as _};
use skylark::nlu::Language;
use skylark::speech::{VoiceSpeaker, WhisperTranscriber};
use tokio::sync::broadcast::error::RecvError;

use super::{Scenario, Sentence};
use crate::cli::Context;

/// A spoken command built into the binary: its name, language, expected intent and WAV bytes.
struct Clip {
    name: &'static str,
    language: &'static str,
    intent: &'static str,
    wav: &'static [u8],
}

/// `tests/data/bench/` (see its README): 2.0–2.7 s catalog commands, 16 kHz mono 16-bit.
const CLIPS: [Clip; 6] = [
    Clip {
        name: "en_set_temperature_22",
        language: "en",
        intent: "climate.set_temperature",
        wav: include_bytes!("../../../tests/data/bench/en_set_temperature_22.wav"),
    },
    Clip {
        name: "en_navigate_central_station",
        language: "en",
        intent: "navigation.navigate_to",
        wav: include_bytes!("../../../tests/data/bench/en_navigate_central_station.wav"),
    },
    Clip {
        name: "en_find_charging_station",
        language: "en",
        intent: "navigation.search_nearby",
        wav: include_bytes!("../../../tests/data/bench/en_find_charging_station.wav"),
    },
    Clip {
        name: "en_fan_speed_3",
        language: "en",
        intent: "climate.set_fan_speed",
        wav: include_bytes!("../../../tests/data/bench/en_fan_speed_3.wav"),
    },
    Clip {
        name: "en_play_jazz_radio",
        language: "en",
        intent: "media.play",
        wav: include_bytes!("../../../tests/data/bench/en_play_jazz_radio.wav"),
    },
    Clip {
        name: "zh_set_temperature_22",
        language: "zh-CN",
        intent: "climate.set_temperature",
        wav: include_bytes!("../../../tests/data/bench/zh_set_temperature_22.wav"),
    },
];

/// Open questions for the lite LLM (no intent of the catalog answers them).
const QUESTIONS: [(&str, &str); 4] = [
    ("en", "What is the capital of France?"),
    ("en", "Why is the sky blue?"),
    ("zh-CN", "天空为什么是蓝色的？"),
    ("en", "Who wrote Romeo and Juliet?"),
];

/// How many times each thing is measured.
struct Rounds {
    /// Sentences per language for text → intent, each recognised `text_repeat` times.
    sentences: usize,
    text_repeat: usize,
    /// Clips used, and rounds over them.
    clips: usize,
    clip_rounds: usize,
    questions: usize,
}

impl Rounds {
    fn new(quick: bool) -> Rounds {
        if quick {
            Rounds {
                sentences: 50,
                text_repeat: 2,
                clips: 2,
                clip_rounds: 1,
                questions: 1,
            }
        } else {
            Rounds {
                sentences: 300,
                text_repeat: 5,
                clips: CLIPS.len(),
                clip_rounds: 3,
                questions: QUESTIONS.len(),
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The in-process scenarios, and the catalog sentences used (for `Recognize` over D-Bus).
pub(super) fn run(ctx: &Context, quick: bool) -> Result<(Vec<Scenario>, Vec<Sentence>)> {
    let rounds = Rounds::new(quick);
    let config = ctx.config();
    eprintln!("bench: loading the engine (grammar, lite LLM, semantic tier)…");
    let options = BuildOptions {
        transcriber: false,
        speaker: false,
        audio_in: AudioIn::None,
    };
    let engine = skylark::assistant::build(config, &ctx.models_dir, options)?.engine;
    skylark::assistant::load_language_models(&engine, config, &ctx.models_dir);
    let rt = super::super::runtime()?;
    let sentences = sentences(&engine, rounds.sentences);
    let mut out = vec![text_to_intent(&engine, &sentences, rounds.text_repeat)];
    out.extend(rt.block_on(spoken(ctx, &engine, &rounds)));
    out.push(rt.block_on(open_question(&engine, &rounds)));
    rt.block_on(engine.shutdown(Duration::from_millis(500)));
    rt.shutdown_timeout(Duration::from_millis(300));
    Ok((out, sentences))
}

/// Sentences the grammar accepts (its generated samples), `n` spread over each language.
fn sentences(engine: &Engine, n: usize) -> Vec<Sentence> {
    let mut out = Vec::new();
    for language in engine.recognizer().languages() {
        let all = engine.command_grammar(&language).sentences;
        let step = (all.len() / n.max(1)).max(1);
        out.extend(
            all.into_iter()
                .step_by(step)
                .take(n)
                .map(|s| (language.tag().to_string(), s)),
        );
    }
    out
}

/// `Engine::recognize` (what `Recognize` runs, grammar first) on catalog sentences of both
/// languages.
fn text_to_intent(engine: &Engine, sentences: &[Sentence], repeat: usize) -> Scenario {
    eprintln!("bench: text → intent in process…");
    let mut s = Scenario::new(
        "text_intent",
        "text → intent (in process)",
        "ms",
        "Engine::recognize on sentences the catalog's grammar generates, English and Mandarin",
    );
    let (mut ok, mut of) = (0, 0);
    for (language, text) in sentences {
        let _ = engine.recognize(text, Some(language)); // warm-up
    }
    for _ in 0..repeat {
        for (language, text) in sentences {
            let t = Instant::now();
            let r = engine.recognize(text, Some(language));
            s.samples.push(ms(t.elapsed()));
            of += 1;
            if r.is_ok_and(|r| !r.intent.is_empty()) {
                ok += 1;
            }
        }
    }
    s.stages = vec![("grammar".into(), s.samples.clone())];
    s.correct = Some((ok, of));
    s
}

/// One spoken command: transcription in command mode (as after the wake word), then a turn
/// on its text (`speak=false`), then the first piece of the answer synthesised.
struct SpokenRun {
    language: &'static str,
    transcribe: f64,
    /// End of speech → `IntentRecognized` (`None`: no intent).
    intent: Option<f64>,
    /// End of speech → the answer's first text.
    first_token: Option<f64>,
    /// The first piece of the answer synthesised.
    synthesis: Option<f64>,
    correct: bool,
}

/// Spoken command → intent and → first audio of the answer, on the built-in clips.
async fn spoken(ctx: &Context, engine: &Engine, rounds: &Rounds) -> Vec<Scenario> {
    const INTENT: &str = "spoken command → intent";
    const AUDIO: &str = "spoken command → first audio";
    eprintln!("bench: spoken commands (whisper, then a turn, then the voice)…");
    let transcriber = match WhisperTranscriber::load(ctx.config(), &ctx.models_dir) {
        Ok(t) => t,
        Err(why) => {
            let why = format!("speech recognition is not available: {why}");
            return vec![
                Scenario::skipped("spoken_intent", INTENT, "ms", why.clone()),
                Scenario::skipped("spoken_first_audio", AUDIO, "ms", why),
            ];
        }
    };
    let voices = VoiceSpeaker::load_voices(ctx.config(), &ctx.models_dir);
    let max_seconds = ctx.config().asr.max_audio_seconds;
    let clips: Vec<(&Clip, Language, Audio)> = CLIPS
        .iter()
        .take(rounds.clips)
        .filter_map(|c| {
            let samples = skylark::audio::input::read_client_bytes(c.wav, false, max_seconds)
                .map_err(|e| eprintln!("bench: clip {}: {e}", c.name))
                .ok()?;
            let language = Language::parse(c.language).ok()?;
            Some((c, language, Audio { samples }))
        })
        .collect();
    // The first run of each clip loads its language's model and warms the caches.
    let mut runs = Vec::new();
    for round in 0..=rounds.clip_rounds {
        for (clip, language, audio) in &clips {
            let run = spoken_once(
                engine,
                &transcriber,
                voices.as_ref().ok(),
                clip,
                language,
                audio,
            )
            .await;
            if round > 0 {
                runs.push(run);
            }
        }
    }
    let mut intent = Scenario::new(
        "spoken_intent",
        INTENT,
        "ms",
        "end of speech (the whole clip in hand) → IntentRecognized: whisper in command mode, then the turn's understanding",
    )
    .with_target("p50", 400.0);
    intent.samples = runs.iter().filter_map(|r| r.intent).collect();
    intent.stages = vec![
        (
            "transcribe".into(),
            runs.iter().map(|r| r.transcribe).collect(),
        ),
        (
            "understand".into(),
            runs.iter()
                .filter_map(|r| Some(r.intent? - r.transcribe))
                .collect(),
        ),
    ];
    intent.correct = Some((runs.iter().filter(|r| r.correct).count(), runs.len()));
    for r in &runs {
        if let Some(x) = r.intent {
            intent.note_language(r.language, x);
        }
    }
    let mut audio = Scenario::new(
        "spoken_first_audio",
        AUDIO,
        "ms",
        "end of speech → first audio of the answer: as above, then the intent's default response and its first piece synthesised (no sound card needed: time to the first synthesised chunk, not to the loudspeaker)",
    )
    .with_target("p50", 700.0);
    match &voices {
        Err(why) => audio.skipped = Some(format!("no voice: {why}")),
        Ok(_) => {
            let first_audio = |r: &SpokenRun| Some(r.first_token? + r.synthesis?);
            for r in &runs {
                if let Some(x) = first_audio(r) {
                    audio.samples.push(x);
                    audio.note_language(r.language, x);
                }
            }
            audio.stages = vec![
                intent.stages[0].clone(),
                intent.stages[1].clone(),
                (
                    "answer".into(),
                    runs.iter()
                        .filter_map(|r| Some(r.first_token? - r.intent?))
                        .collect(),
                ),
                (
                    "synthesise first piece".into(),
                    runs.iter().filter_map(|r| r.synthesis).collect(),
                ),
            ];
        }
    }
    vec![intent, audio]
}

async fn spoken_once(
    engine: &Engine,
    transcriber: &WhisperTranscriber,
    voices: Option<&VoiceSpeaker>,
    clip: &Clip,
    language: &Language,
    audio: &Audio,
) -> SpokenRun {
    let grammar = engine.command_grammar(language);
    let cancel = CancelToken::new();
    let end_of_speech = Instant::now();
    let text = tokio::task::block_in_place(|| {
        transcriber.transcribe_command(audio, language, &grammar, &cancel)
    })
    .unwrap_or_else(|e| {
        eprintln!("bench: clip {}: {e}", clip.name);
        String::new()
    });
    let transcribe = ms(end_of_speech.elapsed());
    let mut run = SpokenRun {
        language: clip.language,
        transcribe,
        intent: None,
        first_token: None,
        synthesis: None,
        correct: false,
    };
    let Some((record, response, asked)) = turn(engine, &text, language.tag()).await else {
        return run;
    };
    // The trace counts from the turn's start, a few microseconds after `asked`.
    let offset = ms(asked.duration_since(end_of_speech));
    let at = |m: Mark| record.trace.at(m).map(|d| offset + ms(d));
    run.intent = at(Mark::IntentRecognized);
    run.first_token = at(Mark::FirstToken);
    run.correct = record.intent.as_deref() == Some(clip.intent);
    if let (Some(voices), Some(piece)) = (voices, skylark::tts::text::pieces(&response).first()) {
        let t = Instant::now();
        let synthesised = tokio::task::block_in_place(|| {
            voices.synthesize(&piece.text(), language, &CancelToken::new())
        });
        match synthesised {
            Ok(_) => run.synthesis = Some(ms(t.elapsed())),
            Err(e) => eprintln!("bench: synthesis of {:?}: {e}", piece.text()),
        }
    }
    run
}

/// A whole turn on `text` with `speak=false`: its record and response once it finished, and
/// the moment it was asked for.
async fn turn(
    engine: &Engine,
    text: &str,
    language: &str,
) -> Option<(skylark::engine::TurnRecord, String, Instant)> {
    if text.trim().is_empty() {
        return None;
    }
    let mut events = engine.subscribe();
    let options = AskOptions {
        language: Some(language.to_string()),
        speak: Some(false),
    };
    let asked = Instant::now();
    let id = engine
        .ask(text, options, std::future::ready(()))
        .map_err(|e| eprintln!("bench: ask {text:?}: {e}"))
        .ok()?;
    loop {
        match events.recv().await {
            Ok(Event::TurnFinished {
                turn,
                response,
                record,
                ..
            }) if turn == id => return Some((*record, response, asked)),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Open question → first answer token: a whole turn (`speak=false`) on questions no intent
/// answers, so the grammar, the semantic tier and the lite LLM's intent search miss before
/// it answers.
async fn open_question(engine: &Engine, rounds: &Rounds) -> Scenario {
    const TITLE: &str = "open question → first token";
    if !engine.has_llm() {
        return Scenario::skipped(
            "open_question_first_token",
            TITLE,
            "ms",
            "no lite LLM installed (`skylark models fetch`)".into(),
        );
    }
    eprintln!("bench: open questions (lite LLM)…");
    let mut s = Scenario::new(
        "open_question_first_token",
        TITLE,
        "ms",
        "turn start → the answer's first text: grammar, semantic tier and the LLM's intent search miss, then the LLM answers (first token that passed the answer gate, or the 'cannot answer' line)",
    );
    // One warm-up question (the first call builds the LLM's prompt cache).
    let _ = turn(engine, QUESTIONS[0].1, QUESTIONS[0].0).await;
    let (mut answered, mut of) = (0, 0);
    for (language, question) in QUESTIONS.iter().take(rounds.questions) {
        let Some((record, _, _)) = turn(engine, question, language).await else {
            continue;
        };
        of += 1;
        if let Some(first) = record.trace.at(Mark::FirstToken) {
            s.samples.push(ms(first));
            s.note_language(language, ms(first));
            if record.status == skylark::engine::TurnStatus::Ok {
                answered += 1;
            }
        }
    }
    s.correct = Some((answered, of));
    s.stages = vec![("to first token".into(), s.samples.clone())];
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_clips_are_two_to_three_second_commands() {
        for clip in &CLIPS {
            let samples = skylark::audio::input::read_client_bytes(clip.wav, false, 30)
                .unwrap_or_else(|e| panic!("{}: {e}", clip.name));
            let seconds = samples.len() as f64 / 16_000.0;
            assert!((1.9..=3.0).contains(&seconds), "{}: {seconds} s", clip.name);
            assert!(Language::parse(clip.language).is_ok(), "{}", clip.name);
        }
    }
}
