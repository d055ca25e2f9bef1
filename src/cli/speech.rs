//! `skylark transcribe` and `skylark say`: speech in and out, in process.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use skylark::asr::{AsrOptions, TranscribeOptions, WhisperRecognizer};
use skylark::config::normalize_language;
use skylark::models::Manifest;
use skylark::tts::PiperVoice;

use super::{unavailable, Context};

/// The language asked for on the command line, else the configured one, as `en` / `zh-CN`.
pub fn language(ctx: &Context, lang: Option<&str>) -> Result<&'static str> {
    let tag = lang.unwrap_or(&ctx.config().language);
    normalize_language(tag).with_context(|| format!("unsupported language `{tag}`: use en or zh-CN"))
}

pub fn transcribe(ctx: &Context, file: &Path, lang: Option<&str>) -> Result<ExitCode> {
    let language = language(ctx, lang)?;
    let manifest = Manifest::builtin()?;
    let id = if language == "en" { &ctx.config().asr.model_en } else { &ctx.config().asr.model_multilingual };
    let model = manifest.primary_path(&ctx.models_dir, id)?;
    let audio = skylark::audio::read_wav(file)?;
    let mut opts = AsrOptions { language: language.into(), ..AsrOptions::default() };
    if ctx.config().asr.threads > 0 {
        opts.threads = ctx.config().asr.threads;
    }
    let recognizer = WhisperRecognizer::load(&model, &opts)?;
    let transcript = recognizer.transcribe(&audio, &TranscribeOptions::default())?;
    println!("{}", transcript.text);
    Ok(ExitCode::SUCCESS)
}

pub fn say(ctx: &Context, text: &str, lang: Option<&str>, out: Option<&Path>) -> Result<ExitCode> {
    let language = language(ctx, lang)?;
    if language != "en" {
        return unavailable("say --lang zh-CN", "a Mandarin voice");
    }
    let Some(out) = out else {
        return unavailable("say (to the speaker)", "audio playback; write a file with --out FILE.wav");
    };
    let manifest = Manifest::builtin()?;
    let model = manifest.primary_path(&ctx.models_dir, &ctx.config().tts.voice_en)?;
    skylark::onnx::init(&ctx.models_dir)?;
    let mut voice = PiperVoice::load(&model)?;
    let audio = voice.synthesize(text)?;
    skylark::audio::write_wav(out, &audio.samples, audio.sample_rate)?;
    eprintln!("wrote {:.2} s of speech to {}", audio.duration_secs(), out.display());
    Ok(ExitCode::SUCCESS)
}
