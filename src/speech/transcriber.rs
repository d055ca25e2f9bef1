//! [`WhisperTranscriber`]: the engine's speech-recognition stage over whisper.cpp.
//!
//! English uses the configured English model (`asr.model_en`, whisper tiny.en by default:
//! small and fast), Mandarin the multilingual one (`asr.model_multilingual`). The configured
//! language's model is loaded at start, the other's on its first use (memory: whisper base is
//! not held by an English cockpit that never hears Mandarin); each is loaded once and shared
//! by every call (calls on one model take turns on its decoder state). A model that is missing
//! or corrupt only takes its language away: the stage answers for the other, and says which
//! file is at fault and how to fix it for this one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::asr::{
    command_prompt, AsrOptions, AudioContext, Explore, Fit, GrammarWalk, Search, TranscribeOptions,
    Weighed, WhisperRecognizer, SIMPLIFIED_CHINESE_PROMPT,
};
use crate::config::Config;
use crate::engine::{Alternatives, Audio, CancelToken, CommandGrammar, StageError, Transcriber};
use crate::models::Manifest;
use crate::nlu::Language;

/// Primes whisper with the kind of sentence a cockpit hears. Without it tiny.en heard half of
/// the Piper clips of "Turn on the air conditioning." as "Pern on …"; with it, none.
const EN_PROMPT: &str = "Turn on the air conditioning. Open the window. Play some music.";
/// Silence put before the audio: 0.3 s at 16 kHz.
const LEAD_IN: usize = 4_800;
/// Whisper reads 30 s at a time; longer audio is cut into pieces of at most this many
/// samples (28 s), each cut at the quietest 100 ms of its last 5 s so no word is split.
const PIECE: usize = 28 * 16_000;
const CUT_SEARCH: usize = 5 * 16_000;
const FRAME: usize = 1_600;
/// A piece whose RMS is below this (-60 dBFS) holds no speech and is not transcribed.
const QUIET_RMS: f32 = 0.001;

struct Transcript {
    text: String,
}

fn rms(s: &[f32]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
}

/// `samples` cut into pieces whisper takes in one window: at most [`PIECE`] long, each cut
/// at the quietest frame near its end. Short audio is one piece.
fn pieces(samples: &[f32]) -> Vec<&[f32]> {
    let mut out = Vec::new();
    let mut rest = samples;
    while rest.len() > PIECE {
        let search = &rest[PIECE - CUT_SEARCH..PIECE];
        let quietest = search
            .chunks(FRAME)
            .enumerate()
            .min_by(|a, b| rms(a.1).total_cmp(&rms(b.1)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let cut = PIECE - CUT_SEARCH + quietest * FRAME + FRAME / 2;
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// A loaded model, or why it could not be loaded (naming the file and the fix).
type Loaded = Result<Arc<WhisperRecognizer>, String>;

/// One whisper model, loaded at start (the configured language's) or on its first use (the
/// other language's: an English cockpit need not hold whisper base for Mandarin until someone
/// speaks Mandarin). Loading on first use runs on the calling (blocking) thread; concurrent
/// first calls wait for one load. A load that failed is tried again once the file changed
/// (replaced, re-fetched), so a repaired model is picked up without a restart.
struct Model {
    /// The model file, or why there is none (unknown id, a command that skipped it).
    path: Result<PathBuf, String>,
    language: &'static str,
    options: AsrOptions,
    state: Mutex<ModelState>,
}

enum ModelState {
    Unloaded,
    Loaded(Arc<WhisperRecognizer>),
    /// Why the load failed, and the file's size and time then (`None`: no file).
    Failed(String, Option<(u64, SystemTime)>),
}

/// Size and modification time of `path`: what tells a repaired file from the broken one.
fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

impl Model {
    fn new(path: Result<PathBuf, String>, language: &'static str, options: &AsrOptions) -> Model {
        Model {
            path,
            language,
            options: options.clone(),
            state: Mutex::new(ModelState::Unloaded),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ModelState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn get(&self) -> Loaded {
        let path = self.path.clone()?;
        let mut state = self.lock();
        match &*state {
            ModelState::Loaded(m) => return Ok(m.clone()),
            ModelState::Failed(why, was) if *was == stamp(&path) => return Err(why.clone()),
            _ => {}
        }
        let t = Instant::now();
        let opts = AsrOptions {
            language: self.language.into(),
            ..self.options.clone()
        };
        match WhisperRecognizer::load(&path, &opts) {
            Ok(r) => {
                tracing::info!(model = %path.display(), language = self.language, ms = t.elapsed().as_millis() as u64, "speech model loaded");
                let r = Arc::new(r);
                *state = ModelState::Loaded(r.clone());
                Ok(r)
            }
            Err(e) => {
                let why = e.to_string();
                *state = ModelState::Failed(why.clone(), stamp(&path));
                Err(why)
            }
        }
    }

    /// Whether the model is loaded or could be, without loading it: for the async callers
    /// that check before they hand the work to a blocking thread.
    fn usable(&self) -> Result<(), String> {
        let path = self.path.as_ref().map_err(Clone::clone)?;
        // Never waits: the caller is on the async runtime, and a load holds the lock for
        // seconds. While one is running the model counts as usable; the call that follows
        // waits for the load on its blocking thread.
        let state = match self.state.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
        };
        match &*state {
            ModelState::Loaded(_) => return Ok(()),
            ModelState::Failed(why, was) if *was == stamp(path) => return Err(why.clone()),
            _ => {}
        }
        drop(state);
        if path.is_file() {
            Ok(())
        } else {
            Err(format!(
                "the model file {} is missing; install it with `skylark models fetch`",
                path.display()
            ))
        }
    }
}

pub struct WhisperTranscriber {
    english: Arc<Model>,
    mandarin: Arc<Model>,
    /// `asr.beam_size`: 0 per language, 1 greedy, more is beam search.
    beam_size: u32,
    /// `asr.grammar_guided`.
    grammar_guided: bool,
    /// `asr.grammar_rescoring`.
    grammar_rescoring: bool,
    /// `asr.grammar_search`.
    grammar_search: bool,
}

/// The grammar's closest sentences to a transcript (see [`CommandGrammar::closest`]).
type Closest<'a> = &'a (dyn Fn(&str) -> Alternatives + Send + Sync);

/// The grammar as a space to search with the audio (see [`CommandGrammar::next_words`]).
type NextWords<'a> = &'a (dyn Fn(&[&str]) -> (Vec<String>, bool) + Send + Sync);

/// When a grammar sentence fits the audio well enough to replace whisper's reading: at most
/// 8 (natural log, whole sentence) less likely than the reading, and at least -3 per token on
/// average; among those, each place down the grammar's list costs 2.5. Chosen on the speech
/// bench's development split (README "Speech in"): misheard commands' right sentences came
/// within 0–8 of the reading at -0.6 to -2.8 a token; unrelated speech's closest commands were
/// 18 or more below; the average keeps out short sentences whisper finds as unlikely as a
/// garbled reading ("Set the fan speed to full.", -4.9 a token, for "I said the wrong saying I
/// will be laid to huggler."). Whisper's own language model prefers common phrases ("Turn it
/// up." by 1.4 over "Turn fan up." for "Turn far up."; "Switch on the cooling." by 3.9 over
/// "... seat warmer." for "Switch on the seat, you've earned it."), so the grammar's order
/// holds unless the audio clearly prefers a later sentence ("Switch on the demister." by 6.2
/// over "... the air inside air." for "Switch on the air mister.").
const RESCORE_FIT: Fit = Fit {
    margin: 8.0,
    min_per_token: -3.0,
    rank_cost: 2.5,
    explore: Some(SEARCH_FIT),
};

/// What a sentence found by searching the grammar with the audio must meet
/// (`asr.grammar_search`). On the speech bench's development split the search's right
/// sentences averaged -0.4 to -1.4 a token and were written 29-64 % apart from whisper's
/// reading ("Pick the phone up." for "Big lefto up."); its wrong ones — short phrases whisper's
/// language model likes, "I can't hear it." for "enable the ac" — averaged -1.65 to -2.5 a
/// token, and most were written over 70 % apart ("Play some music." for "Switch on the
/// Namister.", an espeak-ng "switch on the demister", -1.49 a token). whisper itself counts a
/// decoding under -1 a token as failed.
const SEARCH_FIT: Explore = Explore {
    min_per_token: -1.5,
    max_edits: 0.7,
};

/// The grammar's closest sentences to `heard` and how they must fit the audio to replace it:
/// [`RESCORE_FIT`], or, when the grammar already understands the reading as it is, only by
/// being likelier than the reading itself (margin 0). A reading the tolerant matcher takes is
/// usually right, and whisper's language model likes common phrases: "Turn fire up." (fan
/// speed, right) would otherwise become "Turn it up." (volume, 1.1 less likely than the
/// reading) and "Turn on the circulation." "Turn on the radio."; while "Switch on the air
/// mister." (recirculation, wrong) still becomes "Switch on the demister." (4.8 likelier).
fn alternatives(closest: Closest<'_>, heard: &crate::asr::Transcript) -> (Vec<String>, Fit) {
    let a = closest(&heard.text);
    let fit = if a.understood {
        Fit {
            margin: 0.0,
            ..RESCORE_FIT
        }
    } else {
        RESCORE_FIT
    };
    let fit = Fit {
        explore: fit.explore.filter(|_| !a.exact),
        ..fit
    };
    (a.sentences, fit)
}

/// Whisper's reading, or the grammar sentence that replaces it: of the grammar's closest
/// sentences (the most alike first) that fit the audio, the best by log-probability and
/// place ([`RESCORE_FIT`]). A mishearing of a command ("Closeness and roof.") is little
/// likelier than the command itself ("Close the sunroof."); unrelated speech is far likelier
/// as heard than as any command.
fn choose(w: Weighed) -> String {
    let (Some(heard), Some(chosen)) = (&w.heard, w.chosen.and_then(|i| w.alternatives.get(i)))
    else {
        if let Some(heard) = &w.heard {
            tracing::debug!(
                heard = %w.transcript.text,
                heard_logprob = heard.logprob,
                weighed = w.alternatives.len(),
                "the first reading stands"
            );
        }
        return w.transcript.text;
    };
    tracing::info!(
        heard = %w.transcript.text,
        heard_logprob = heard.logprob,
        chosen = %chosen.text,
        chosen_logprob = chosen.logprob,
        "a grammar sentence fits the audio about as well as the first reading"
    );
    chosen.text.clone()
}

/// How each language is decoded, from measurements (`cargo bench --bench
/// asr_vs_whisper_cpp`, README "Speech in"):
/// - English (tiny.en): greedy over the encoder window trimmed to the utterance. On commands
///   beams changed nothing but the time, and the trimmed window is 3× faster.
/// - Mandarin (base): beam search (5, as whisper-cli) over the full 30 s window. The trimmed
///   window hurts the multilingual base model far more than tiny.en: on read Mandarin it
///   raised the character error rate well above whisper-cli's; the full window and beams
///   bring it to whisper-cli's or below.
fn decoding(language: &Language, beam_size: u32) -> (Search, AudioContext) {
    let zh = language.primary() == "zh";
    let search = match beam_size {
        0 if zh => Search::Beam { beam_size: 5 },
        0 | 1 => Search::Greedy,
        n => Search::Beam { beam_size: n },
    };
    let audio_ctx = if zh {
        AudioContext::Full
    } else {
        AudioContext::default()
    };
    (search, audio_ctx)
}

impl WhisperTranscriber {
    /// Loads the model of the configured language (`language`) from `models_dir`; the other
    /// language's loads on its first use. `Err` when the configured language's model and the
    /// other both fail, with both reasons.
    pub fn load(config: &Config, models_dir: &Path) -> Result<WhisperTranscriber, String> {
        Self::load_for(config, models_dir, None)
    }

    /// As [`load`](Self::load), but only the model `only` needs (a one-shot command need not
    /// load both).
    pub fn load_for(
        config: &Config,
        models_dir: &Path,
        only: Option<&Language>,
    ) -> Result<WhisperTranscriber, String> {
        let manifest = Manifest::builtin().map_err(|e| e.to_string())?;
        let threads = match config.asr.threads {
            // One core less than the machine has (at least 1, at most 4): whisper.cpp's worker
            // threads spin while they wait for each other, and when they outnumber the cores
            // left free by Piper, the reactor and other programs, a decode becomes ten times
            // slower (a 1.4 s command took 17 s with 2 threads on a busy 2-core machine, 1.9 s
            // with 1).
            0 => std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .clamp(1, 4),
            n => n,
        };
        let options = AsrOptions {
            threads,
            ..AsrOptions::default()
        };
        let path = |id: &str| {
            manifest
                .primary_path(models_dir, id)
                .map_err(|e| e.to_string())
        };
        let skipped = || Err("not loaded by this command".to_string());
        let zh_only = only.is_some_and(|l| l.primary() == "zh");
        let en_only = only.is_some_and(|l| l.primary() != "zh");
        let english = Arc::new(Model::new(
            if zh_only {
                skipped()
            } else {
                path(&config.asr.model_en)
            },
            "en",
            &options,
        ));
        let mandarin = if config.asr.model_multilingual == config.asr.model_en && !zh_only {
            english.clone()
        } else {
            Arc::new(Model::new(
                if en_only {
                    skipped()
                } else {
                    path(&config.asr.model_multilingual)
                },
                "zh-CN",
                &options,
            ))
        };
        let transcriber = WhisperTranscriber {
            english,
            mandarin,
            beam_size: config.asr.beam_size,
            grammar_guided: config.asr.grammar_guided,
            grammar_rescoring: config.asr.grammar_rescoring,
            grammar_search: config.asr.grammar_search,
        };
        // The language that will be spoken loads now; the other waits for its first use,
        // unless the first cannot load (then it is the fallback, and loads now too).
        let first = match only {
            Some(l) => l.clone(),
            None => Language::parse(&config.language).unwrap_or_else(|_| Language::english()),
        };
        let zh_first = first.primary() == "zh";
        let (now, later) = if zh_first {
            (&transcriber.mandarin, &transcriber.english)
        } else {
            (&transcriber.english, &transcriber.mandarin)
        };
        if let Err(first_why) = now.get() {
            if only.is_some() {
                return Err(first_why);
            }
            if let Err(other_why) = later.get() {
                return Err(if first_why == other_why {
                    first_why
                } else {
                    format!("{first_why}; {other_why}")
                });
            }
            // Said, not silent: a broken model must not pass unnoticed because the other
            // one stands in (English falls back to the multilingual model).
            tracing::warn!(
                language = %first,
                "{first_why}; the other speech model is loaded now instead"
            );
        } else if only.is_none() {
            if let Err(why) = later.usable() {
                let other = if zh_first { "English" } else { "Mandarin" };
                tracing::warn!("{other} speech recognition is not available: {why}");
            }
        }
        Ok(transcriber)
    }

    /// The model for `language`, loading it on its first use. English falls back to the
    /// multilingual model when its own cannot load.
    fn model(&self, language: &Language) -> Loaded {
        let loaded = if language.primary() == "zh" {
            self.mandarin.get()
        } else {
            // Only when English cannot load is the multilingual model loaded for it.
            self.english
                .get()
                .or_else(|why| self.mandarin.get().map_err(|_| why))
        };
        loaded.map_err(|why| format!("speech recognition is not available in {language}: {why}"))
    }

    /// As [`model`](Self::model) without loading: whether it is loaded or could be.
    fn usable(&self, language: &Language) -> Result<(), String> {
        let usable = if language.primary() == "zh" {
            self.mandarin.usable()
        } else {
            self.english
                .usable()
                .or_else(|why| self.mandarin.usable().map_err(|_| why))
        };
        usable.map_err(|why| format!("speech recognition is not available in {language}: {why}"))
    }
}

impl WhisperTranscriber {
    /// Every piece of `audio` through the model of `language` with `prompt`.
    fn run(
        &self,
        audio: &Audio,
        language: &Language,
        prompt: Option<String>,
        closest: Option<Closest<'_>>,
        next_words: Option<NextWords<'_>>,
        cancel: &CancelToken,
    ) -> Result<String, StageError> {
        let model = self.model(language).map_err(StageError)?;
        let t = Instant::now();
        let (search, audio_ctx) = decoding(language, self.beam_size);
        let opts = TranscribeOptions {
            language: Some(language.to_string()),
            initial_prompt: prompt,
            audio_ctx,
            search,
        };
        let mut texts = Vec::new();
        let pieces = pieces(&audio.samples);
        // A command is one piece; long dictation is not weighed against the grammar.
        let closest = closest.filter(|_| pieces.len() == 1);
        for piece in pieces {
            if cancel.is_cancelled() {
                return Err(StageError("speech recognition was cancelled".into()));
            }
            if rms(piece) < QUIET_RMS {
                continue; // whisper "hears" words in near-silence; there are none
            }
            // Whisper often drops the first word of audio that starts at once (a synthesised
            // or tightly cut clip: "turn on" became "Pern on"); a little leading silence fixes
            // it.
            let mut padded = vec![0.0; LEAD_IN];
            padded.extend_from_slice(piece);
            let text = match closest {
                Some(closest) => model
                    .transcribe_weighing(
                        &padded,
                        &opts,
                        &mut |t| alternatives(closest, t),
                        next_words.map(|n| n as GrammarWalk<'_>),
                    )
                    .map(choose),
                None => model.transcribe(&padded, &opts).map(|t| t.text),
            }
            .map_err(|e| StageError(e.to_string()))?;
            if !text.is_empty() {
                texts.push(text);
            }
        }
        let sep = if language.primary() == "zh" { "" } else { " " };
        let transcript = Transcript {
            text: texts.join(sep),
        };
        let secs = audio.samples.len() as f64 / 16_000.0;
        tracing::info!(
            audio_s = secs,
            ms = t.elapsed().as_millis() as u64,
            model = %model.model_path().display(),
            text = %transcript.text,
            "transcribed"
        );
        Ok(transcript.text)
    }
}

/// The prompt of free transcription: a few cockpit sentences for English, the Simplified
/// priming for Mandarin (the recogniser's own default).
fn free_prompt(language: &Language) -> Option<String> {
    (language.primary() == "en").then(|| EN_PROMPT.to_string())
}

impl Transcriber for WhisperTranscriber {
    fn transcribe(
        &self,
        audio: &Audio,
        language: &Language,
        cancel: &CancelToken,
    ) -> Result<String, StageError> {
        self.run(audio, language, free_prompt(language), None, None, cancel)
    }

    fn transcribe_command(
        &self,
        audio: &Audio,
        language: &Language,
        grammar: &CommandGrammar,
        cancel: &CancelToken,
    ) -> Result<String, StageError> {
        let closest = grammar
            .closest
            .as_deref()
            .filter(|_| self.grammar_rescoring);
        let prompt = if self.grammar_guided && !grammar.sentences.is_empty() {
            let zh = language.primary() == "zh";
            let lead = zh.then_some(SIMPLIFIED_CHINESE_PROMPT);
            let prompt = command_prompt(grammar.sentences.iter().map(String::as_str), zh, lead);
            tracing::debug!(%prompt, "grammar-guided decoding");
            Some(prompt)
        } else {
            free_prompt(language)
        };
        let next_words = grammar
            .next_words
            .as_deref()
            .filter(|_| self.grammar_rescoring && self.grammar_search);
        self.run(audio, language, prompt, closest, next_words, cancel)
    }

    fn available(&self, language: &Language) -> Result<(), String> {
        self.usable(language)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_audio_is_cut_at_quiet_points_into_whisper_windows() {
        assert_eq!(pieces(&[0.5; 16_000]).len(), 1);
        // 70 s of tone with a silent 100 ms frame at 25.0 s and 50.0 s.
        let mut s = vec![0.5f32; 70 * 16_000];
        for at in [25 * 16_000, 50 * 16_000] {
            s[at..at + FRAME].fill(0.0);
        }
        let p = pieces(&s);
        assert_eq!(p.iter().map(|p| p.len()).sum::<usize>(), s.len());
        assert!(p.iter().all(|p| p.len() <= PIECE));
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].len(), 25 * 16_000 + FRAME / 2);
    }
}
