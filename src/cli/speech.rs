//! `skylark transcribe` and `skylark say`: speech in and out, in process.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use skylark::config::normalize_language;
use skylark::engine::{Audio, CancelToken, CommandGrammar, Speaker as _, Transcriber as _};
use skylark::nlu::Language;
use skylark::speech::{VoiceSpeaker, WhisperTranscriber};
use skylark::tts::PiperVoice;

use super::Context;

/// The language asked for on the command line, else the configured one, as `en` / `zh-CN`.
pub fn language(ctx: &Context, lang: Option<&str>) -> Result<&'static str> {
    let tag = lang.unwrap_or(&ctx.config().language);
    normalize_language(tag)
        .with_context(|| format!("unsupported language `{tag}`: use en or zh-CN"))
}

pub fn transcribe(ctx: &Context, file: &Path, lang: Option<&str>) -> Result<ExitCode> {
    let language = Language::parse(language(ctx, lang)?)?;
    let text = transcribe_file(ctx, file, &language, None)?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Speech → text with the model of `language`, with the daemon's `Transcribe` checks and cap
/// (`asr.max_audio_seconds`): the audio is validated before the model loads. With `command`
/// sentences (`recognize --audio`) it decodes in command mode: the active grammar guides the
/// recogniser (`asr.grammar_guided`), as after a wake word.
pub fn transcribe_file(
    ctx: &Context,
    path: &Path,
    language: &Language,
    command: Option<&CommandGrammar>,
) -> Result<String> {
    let samples = skylark::audio::input::read_audio_file(path, ctx.config().asr.max_audio_seconds)?;
    let transcriber =
        WhisperTranscriber::load_for(ctx.config(), &ctx.models_dir, Some(language))
            .map_err(|why| anyhow::anyhow!("speech recognition is not available: {why}"))?;
    transcriber
        .available(language)
        .map_err(|why| anyhow::anyhow!(why))?;
    let audio = Audio { samples };
    let cancel = CancelToken::new();
    let text = match command {
        Some(grammar) => transcriber.transcribe_command(&audio, language, grammar, &cancel),
        None => transcriber.transcribe(&audio, language, &cancel),
    }
    .map_err(|e| anyhow::anyhow!("speech recognition of {} failed: {e}", path.display()))?;
    Ok(text)
}

pub fn say(ctx: &Context, text: &str, lang: Option<&str>, out: Option<&Path>) -> Result<ExitCode> {
    let language = language(ctx, lang)?;
    let Some(out) = out else {
        return say_on_speaker(ctx, text, language);
    };
    if language != "en" {
        // Kokoro when installed, else espeak-ng (the speaker's own choice and fallback).
        let speaker = VoiceSpeaker::load_voices(ctx.config(), &ctx.models_dir)
            .map_err(|e| anyhow::anyhow!("the Mandarin voice: {e}"))?;
        let (samples, rate) = speaker
            .synthesize(text, &Language::parse(language)?, &CancelToken::new())
            .map_err(|e| anyhow::anyhow!("the Mandarin voice: {e}"))?;
        skylark::audio::write_wav(out, &samples, rate)?;
        eprintln!(
            "wrote {:.2} s of speech to {}",
            samples.len() as f32 / rate as f32,
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let model = skylark::speech::speaker::piper_path(&ctx.config().tts.voice_en, &ctx.models_dir)?;
    skylark::onnx::init(&ctx.models_dir)?;
    let mut voice = PiperVoice::load(&model)?;
    let audio = voice.synthesize(text)?;
    skylark::audio::write_wav(out, &audio.samples, audio.sample_rate)?;
    eprintln!(
        "wrote {:.2} s of speech to {}",
        audio.duration_secs(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Plays `text` on the default output device; Ctrl-C stops it at once.
fn say_on_speaker(ctx: &Context, text: &str, language: &str) -> Result<ExitCode> {
    let speaker = VoiceSpeaker::load(ctx.config(), &ctx.models_dir)
        .map_err(|why| anyhow::anyhow!("cannot speak: {why}"))?;
    let language = Language::parse(language)?;
    speaker
        .available(&language)
        .map_err(|why| anyhow::anyhow!(why))?;
    let cancel = CancelToken::new();
    speaker
        .speak(text, &language, &cancel)
        .map_err(|e| anyhow::anyhow!("speech output failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
