//! [`WhisperRecognizer`]: whisper.cpp (via `whisper-rs`) tuned for short spoken commands.
//!
//! Whisper is built for 30 s windows of dictation. A cockpit command is 1-3 s, so each call
//! trims the encoder to the utterance (`audio_ctx`), decodes greedily in one segment without
//! timestamps, and turns temperature fallback off: when whisper does not understand a command,
//! re-decoding at higher temperatures can take up to a minute and rarely helps. Silence must
//! give empty text, not a hallucinated "Thank you.", so digital silence never reaches the
//! model and whisper's no-speech detection decides for everything else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
    WhisperTokenId,
};

use super::ggml_check::check_ggml_whisper;
use super::{
    AsrError, AsrOptions, AudioContext, Search, TranscribeOptions, Transcript, TranscriptSegment,
};

const SAMPLE_RATE: usize = 16_000;
/// Encoder frames per second of audio (100 mel frames/s, halved by the stride-2 convolution).
const AUDIO_CTX_PER_SECOND: f64 = 50.0;
/// Whisper's full window.
const AUDIO_CTX_MAX: i32 = 1500;
/// Shorter input is padded with silence: whisper.cpp refuses < 100 ms and is unreliable < 1 s.
const MIN_SAMPLES: usize = SAMPLE_RATE;
/// Peak level under which the input is digital silence (about -80 dBFS).
const SILENCE_PEAK: f32 = 1e-4;
/// Primes whisper to write Simplified characters ("The following are Mandarin sentences.").
pub const SIMPLIFIED_CHINESE_PROMPT: &str = "以下是普通话的句子。";

/// A loaded whisper model. Load once, transcribe many times; `transcribe` takes `&self` and
/// serialises calls on the one decoder state, so the recogniser can be shared across threads.
pub struct WhisperRecognizer {
    path: PathBuf,
    options: AsrOptions,
    multilingual: bool,
    // Field order matters: the state must be dropped before the context it came from.
    state: Mutex<WhisperState>,
    /// The tokens of the words the grammar search has written (" turn", "'s"), kept between
    /// calls: whisper.cpp's tokenizer runs a regular expression per call.
    pieces: Mutex<HashMap<String, Vec<WhisperTokenId>>>,
    _context: WhisperContext,
}

/// Most word pieces [`WhisperRecognizer`] keeps the tokens of (a grammar's words, each in a
/// few spellings, fit many times over); the cache starts afresh when full.
const MAX_PIECES: usize = 50_000;

impl std::fmt::Debug for WhisperRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperRecognizer")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("multilingual", &self.multilingual)
            .finish_non_exhaustive()
    }
}

/// A language tag resolved to whisper's code, and whether Simplified Chinese is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Language {
    code: &'static str,
    simplified_chinese: bool,
}

/// Map a BCP-47 tag (`en`, `en-US`, `zh`, `zh-CN`, `zh-Hans`, `zh-TW`, `auto`) to whisper's
/// language code. `zh`, `zh-Hans` and `zh-CN` (any case) mean Mandarin in Simplified script.
fn resolve_language(tag: &str) -> Result<Language, AsrError> {
    let unknown = || AsrError::UnknownLanguage {
        language: tag.to_string(),
    };
    let lower = tag.trim().to_ascii_lowercase();
    if lower.is_empty()
        || !lower
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(unknown());
    }
    if lower == "auto" {
        return Ok(Language {
            code: "auto",
            simplified_chinese: false,
        });
    }
    let mut parts = lower.split(['-', '_']);
    let primary = match parts.next() {
        Some("cmn") => "zh",
        Some(p) => p,
        None => return Err(unknown()),
    };
    let id = whisper_rs::get_lang_id(primary).ok_or_else(unknown)?;
    let code = whisper_rs::get_lang_str(id).ok_or_else(unknown)?;
    let traditional = parts.any(|p| matches!(p, "hant" | "tw" | "hk" | "mo"));
    Ok(Language {
        code,
        simplified_chinese: code == "zh" && !traditional,
    })
}

/// Encoder frames to run for `samples` of 16 kHz audio; `None` means whisper's full window.
fn audio_ctx_for(samples: usize, ctx: AudioContext) -> Option<i32> {
    match ctx {
        AudioContext::Full => None,
        AudioContext::Fit { margin } => {
            let secs = samples as f64 / SAMPLE_RATE as f64;
            let frames = (secs * AUDIO_CTX_PER_SECOND).ceil() as i64 + i64::from(margin);
            Some(frames.clamp(1, i64::from(AUDIO_CTX_MAX)) as i32)
        }
    }
}

/// Most tokens a decode of `samples` of audio may produce. Fast speech is about 4 English
/// tokens or 5 Chinese characters a second; the cap is well above that, and stops the
/// repetition loops whisper falls into on audio it does not understand (without it, a 1.6 s
/// command once produced the same phrase 44 times and took 84 s).
fn max_tokens_for(samples: usize) -> i32 {
    let secs = samples as f64 / SAMPLE_RATE as f64;
    ((secs * 12.0).ceil() as i32 + 12).clamp(16, 224)
}

/// Cut a decoding loop down to one copy of the looped phrase.
///
/// On Mandarin it does not understand (noise, a robotic voice), whisper often writes back the
/// primer sentence it was prompted with ("以下是普通话的句子。"), which nobody said: it is
/// removed wherever it stands. Only the primer is: the grammar's own sentences in a guided
/// prompt are commands a user may say word for word.
fn strip_primer_echo(text: &str) -> String {
    let primer = SIMPLIFIED_CHINESE_PROMPT.trim_end_matches('。');
    if !text.contains(primer) {
        return text.to_string();
    }
    text.split(primer)
        .map(|part| part.trim_start_matches(['。', '，', ',', '.', ' ']))
        .collect::<String>()
        .trim()
        .to_string()
}

/// A word (or character) as loops are compared: letters and digits, lowercase.
fn unit_key(u: &str) -> String {
    u.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// On audio it does not understand, whisper often repeats a phrase until the token cap
/// ("play some cast music play some cast music ..."). When the whole text is one phrase said
/// two or more times (the last copy may be cut off), keep the first copy. Units are words, or
/// characters for text written without spaces (Chinese); punctuation is ignored when comparing.
fn collapse_repeats(text: &str) -> String {
    let spaced = text.split_whitespace().count() > 1;
    let units: Vec<&str> = if spaced {
        text.split_whitespace().collect()
    } else {
        text.char_indices()
            .map(|(i, c)| &text[i..i + c.len_utf8()])
            .collect()
    };
    let keys: Vec<String> = units.iter().map(|u| unit_key(u)).collect();
    let keys: Vec<&String> = keys.iter().filter(|k| !k.is_empty()).collect();
    let kept: Vec<usize> = (0..units.len())
        .filter(|&i| !unit_key(units[i]).is_empty())
        .collect();
    let n = keys.len();
    // The shortest period p (at least 2 units) such that every unit equals the one p before;
    // the last unit may be cut short by the token cap ("call mama call. call m").
    for p in 2..=n / 2 {
        let same = |i: usize| {
            keys[i] == keys[i - p] || (i + 1 == n && keys[i - p].starts_with(keys[i].as_str()))
        };
        if (p..n).all(same) {
            // `kept[p - 1]` is the last unit of the first copy; keep its trailing punctuation.
            let mut last = kept[p - 1];
            while last + 1 < units.len() && unit_key(units[last + 1]).is_empty() {
                last += 1;
            }
            let sep = if spaced { " " } else { "" };
            return units[..=last]
                .join(sep)
                .trim_end_matches([',', ';', '、', '，'])
                .to_string();
        }
    }
    collapse_near_repeats(text).unwrap_or_else(|| text.to_string())
}

/// A decoding loop whose copies drift a little ("Open the living room blind. Open the living
/// room blinds. Open the living room blinds. …"): when the text is three or more sentences and
/// every one is within a quarter of its words (characters for Chinese) of the most frequent
/// one, that sentence alone. A last sentence cut off by the token cap (no end mark, the start
/// of the kept one) is dropped with the rest. Two sentences are never collapsed, nor sentences
/// that differ more: "Open the window. Open the sunroof. Open the trunk." is three requests.
fn collapse_near_repeats(text: &str) -> Option<String> {
    const ENDS: [char; 6] = ['.', '!', '?', '。', '！', '？'];
    let mut sentences: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if ENDS.contains(&c) {
            let end = i + c.len_utf8();
            sentences.push(&text[start..end]);
            start = end;
        }
    }
    let tail = text[start..].trim();
    let spaced = text.split_whitespace().count() > 1;
    let units = |s: &str| -> Vec<String> {
        if spaced {
            s.split_whitespace()
                .map(unit_key)
                .filter(|k| !k.is_empty())
                .collect()
        } else {
            unit_key(s).chars().map(String::from).collect()
        }
    };
    let sentences: Vec<(&str, Vec<String>)> = sentences
        .into_iter()
        .map(|s| (s.trim(), units(s)))
        .filter(|(_, u)| !u.is_empty())
        .collect();
    if sentences.len() < 3 {
        return None;
    }
    // The most frequent sentence (the first of equally frequent ones).
    let mut mode = 0;
    let mut mode_count = 0;
    for (i, (_, u)) in sentences.iter().enumerate() {
        let count = sentences.iter().filter(|(_, v)| v == u).count();
        if count > mode_count {
            (mode, mode_count) = (i, count);
        }
    }
    let (kept, kept_units) = &sentences[mode];
    let near = |u: &[String]| {
        let longer = u.len().max(kept_units.len());
        super::cer::edits(u, kept_units) * 4 <= longer
    };
    if !sentences.iter().all(|(_, u)| near(u)) {
        return None;
    }
    // The cut-off copy is near the kept sentence's start, its last unit maybe cut inside.
    let mut tail_units = units(tail);
    let last = tail_units.len().wrapping_sub(1);
    if let (Some(t), Some(k)) = (tail_units.get_mut(last), kept_units.get(last)) {
        if k.starts_with(t.as_str()) {
            t.clone_from(k);
        }
    }
    let cut_copy = tail_units.len() <= kept_units.len()
        && super::cer::edits(&tail_units, &kept_units[..tail_units.len()]) * 4 <= tail_units.len();
    if !tail_units.is_empty() && !cut_copy {
        return None;
    }
    Some(kept.to_string())
}

/// Whisper writes sound-event captions such as "[BLANK_AUDIO]" or "(music)" for non-speech;
/// for a command they mean "nothing said", as does text with no letter or digit (".").
fn is_non_speech_caption(text: &str) -> bool {
    let t = text.trim();
    !t.chars().any(char::is_alphanumeric)
        || (t.starts_with('[') && t.ends_with(']'))
        || (t.starts_with('(') && t.ends_with(')'))
        || (t.starts_with('*') && t.ends_with('*') && t.len() > 1)
}

impl WhisperRecognizer {
    /// Load a whisper.cpp ggml model (e.g. `<models>/whisper/ggml-tiny.en-q8_0.bin`). whisper.cpp's
    /// own log lines are routed to `tracing` (target `whisper_rs`), never to stdout.
    pub fn load(path: &Path, options: &AsrOptions) -> Result<Self, AsrError> {
        whisper_rs::install_logging_hooks();
        let lang = resolve_language(&options.language)?;
        if !path.exists() {
            return Err(AsrError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let summary = check_ggml_whisper(path).map_err(|reason| AsrError::ModelCorrupt {
            path: path.to_path_buf(),
            reason,
        })?;
        let path_str = path.to_str().ok_or_else(|| AsrError::ModelIo {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
        })?;
        let started = std::time::Instant::now();
        let context =
            WhisperContext::new_with_params(path_str, WhisperContextParameters::default())
                .map_err(|e| AsrError::ModelCorrupt {
                    path: path.to_path_buf(),
                    reason: format!("whisper.cpp could not load it ({e})"),
                })?;
        let multilingual = context.is_multilingual();
        if !multilingual && !matches!(lang.code, "en" | "auto") {
            return Err(AsrError::LanguageNotInModel {
                path: path.to_path_buf(),
                language: options.language.clone(),
            });
        }
        let state = context.create_state().map_err(|source| AsrError::Whisper {
            stage: "creating the decoder state",
            source,
        })?;
        tracing::debug!(
            model = %path.display(),
            tensors = summary.n_tensors,
            multilingual,
            ms = started.elapsed().as_millis() as u64,
            "whisper model loaded"
        );
        Ok(Self {
            path: path.to_path_buf(),
            options: options.clone(),
            multilingual,
            state: Mutex::new(state),
            pieces: Mutex::new(HashMap::new()),
            _context: context,
        })
    }

    /// Whether the model can recognise languages other than English.
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// The model file this recogniser was loaded from.
    pub fn model_path(&self) -> &Path {
        &self.path
    }

    /// Transcribe one utterance of 16 kHz mono audio in [-1, 1].
    pub fn transcribe(
        &self,
        audio: &[f32],
        opts: &TranscribeOptions,
    ) -> Result<Transcript, AsrError> {
        self.transcribe_weighing(audio, opts, &mut |_| (Vec::new(), Fit::default()), None)
            .map(|w| w.transcript)
    }

    /// Transcribe one utterance, then weigh other texts against the same audio: `alternatives`
    /// gets the transcript and returns sentences it might have been, best first (a grammar's
    /// closest commands, say), and how they must fit to replace it. Each is scored by the
    /// decoder's log-probability of its tokens given the audio (teacher-forced, the encoder's
    /// output reused), beside the transcript's own. Of those that `fit`, the one with the best log-probability less `fit.rank_cost`
    /// per place down the list is chosen: the order given is a prior that only the audio's
    /// clear preference overturns. An alternative is abandoned as soon as its tokens so far
    /// fall below what fits or what could still win (log-probabilities only fall as tokens
    /// are added), and once none further down could win the rest are not scored. With no
    /// alternatives nothing is scored and this costs what [`transcribe`](Self::transcribe)
    /// does; an alternative costs at most one decoder pass per token. Weighing never fails the
    /// transcription: if it cannot run (a transcript too long to weigh, a decoder error), the
    /// transcript stands, and a warning says why.
    pub fn transcribe_weighing(
        &self,
        audio: &[f32],
        opts: &TranscribeOptions,
        alternatives: &mut dyn FnMut(&Transcript) -> (Vec<String>, Fit),
        grammar: Option<GrammarWalk<'_>>,
    ) -> Result<Weighed, AsrError> {
        let tag = opts.language.as_deref().unwrap_or(&self.options.language);
        let lang = resolve_language(tag)?;
        if !self.multilingual && !matches!(lang.code, "en" | "auto") {
            return Err(AsrError::LanguageNotInModel {
                path: self.path.clone(),
                language: tag.to_string(),
            });
        }
        let code = if !self.multilingual { "en" } else { lang.code };
        if audio.is_empty() {
            return Err(AsrError::InvalidAudio {
                reason: "no samples".into(),
            });
        }
        if audio.iter().any(|s| !s.is_finite()) {
            return Err(AsrError::InvalidAudio {
                reason: "samples must be finite numbers".into(),
            });
        }
        let peak = audio.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if peak < SILENCE_PEAK {
            return Ok(Weighed {
                transcript: Transcript {
                    text: String::new(),
                    language: code.to_string(),
                    no_speech_prob: 1.0,
                    segments: Vec::new(),
                },
                heard: None,
                alternatives: Vec::new(),
                chosen: None,
            });
        }
        let prompt = match (&opts.initial_prompt, lang.simplified_chinese) {
            (Some(p), _) => Some(p.as_str()),
            (None, true) => Some(SIMPLIFIED_CHINESE_PROMPT),
            (None, false) => None,
        };
        if prompt.is_some_and(|p| p.contains('\0')) {
            return Err(AsrError::InvalidPrompt);
        }

        let padded;
        let audio = if audio.len() < MIN_SAMPLES {
            padded = [audio, &vec![0.0; MIN_SAMPLES - audio.len()]].concat();
            &padded[..]
        } else {
            audio
        };

        let strategy = match opts.search {
            Search::Greedy => SamplingStrategy::Greedy { best_of: 1 },
            Search::Beam { beam_size } => SamplingStrategy::BeamSearch {
                beam_size: beam_size.clamp(2, 8) as i32,
                // whisper.cpp's default: no patience-based early stop.
                patience: -1.0,
            },
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(self.options.threads.clamp(1, 64) as i32);
        params.set_language(Some(code));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_no_timestamps(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_no_speech_thold(self.options.no_speech_threshold);
        params.set_max_tokens(max_tokens_for(audio.len()));
        let audio_ctx = audio_ctx_for(audio.len(), opts.audio_ctx);
        if let Some(frames) = audio_ctx {
            params.set_audio_ctx(frames);
        }
        if let Some(p) = prompt {
            params.set_initial_prompt(p);
        }

        let mut state = self.state.lock().map_err(|_| AsrError::Poisoned)?;
        let started = std::time::Instant::now();
        let threads = self.options.threads.clamp(1, 64);
        state
            .full(params, audio)
            .map_err(|source| AsrError::Whisper {
                stage: "transcribing",
                source,
            })?;

        let mut segments = Vec::new();
        for seg in state.as_iter() {
            let raw = seg.to_str_lossy().map_err(|source| AsrError::Whisper {
                stage: "reading a segment",
                source,
            })?;
            let mut text = collapse_repeats(raw.trim());
            if lang.simplified_chinese {
                text = strip_primer_echo(&text);
            }
            segments.push(TranscriptSegment {
                text,
                start_ms: seg.start_timestamp() * 10,
                end_ms: seg.end_timestamp() * 10,
                no_speech_prob: seg.no_speech_probability(),
            });
        }
        let lang_id = state.full_lang_id_from_state();
        let language = if code == "auto" {
            whisper_rs::get_lang_str(lang_id).unwrap_or("auto")
        } else {
            code
        };
        let leading_space = state
            .as_iter()
            .next()
            .and_then(|seg| seg.to_str_lossy().ok().map(|t| t.starts_with(' ')))
            .unwrap_or(true);

        let no_speech_prob = segments
            .iter()
            .map(|s| s.no_speech_prob)
            .fold(None, |m: Option<f32>, p| Some(m.map_or(p, |m| m.max(p))));
        let text = segments
            .iter()
            .filter(|s| !is_non_speech_caption(&s.text))
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            samples = audio.len(),
            audio_ctx,
            language,
            %text,
            "whisper transcription"
        );
        let transcript = Transcript {
            text,
            language: language.to_string(),
            no_speech_prob: no_speech_prob.unwrap_or(1.0),
            segments,
        };
        let (others, fit) = if transcript.text.is_empty() {
            (Vec::new(), Fit::default())
        } else {
            alternatives(&transcript)
        };
        let grammar = grammar.filter(|_| fit.explore.is_some());
        if others.is_empty() && grammar.is_none() {
            return Ok(Weighed {
                transcript,
                heard: None,
                alternatives: Vec::new(),
                chosen: None,
            });
        }
        let t = std::time::Instant::now();
        let lang = self.multilingual.then_some(lang_id);
        let weighed = self.weigh(
            &mut state,
            prompt,
            lang,
            threads,
            &transcript.text,
            leading_space,
            &others,
            fit,
            grammar,
        );
        drop(state);
        // The scorer's distributions (up to 5 MB in blocks under the mmap threshold) would
        // stay in the malloc arena otherwise (see `crate::alloc`).
        crate::alloc::give_back();
        let (heard, scored, chosen) = match weighed {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(
                    "the transcript stands: its alternatives could not be weighed ({e})"
                );
                return Ok(Weighed {
                    transcript,
                    heard: None,
                    alternatives: Vec::new(),
                    chosen: None,
                });
            }
        };
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            heard = %transcript.text,
            heard_logprob = heard.logprob,
            heard_tokens = heard.tokens,
            alternatives = ?scored.iter().map(|a| (&a.text, a.logprob, a.tokens, a.complete)).collect::<Vec<_>>(),
            "alternatives weighed against the audio"
        );
        Ok(Weighed {
            transcript,
            heard: Some(heard),
            alternatives: scored,
            chosen,
        })
    }

    /// The scoring of [`transcribe_weighing`](Self::transcribe_weighing) on `state`, whose
    /// encoder has just run on the audio: the transcript's score, the alternatives weighed and
    /// the chosen one.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn weigh(
        &self,
        state: &mut WhisperState,
        prompt: Option<&str>,
        lang_id: Option<i32>,
        threads: usize,
        heard_text: &str,
        leading_space: bool,
        others: &[String],
        fit: Fit,
        grammar: Option<GrammarWalk<'_>>,
    ) -> Result<(TextScore, Vec<TextScore>, Option<usize>), AsrError> {
        let prefix = self.decoder_prefix(prompt, lang_id)?;
        let mut scorer = Scorer::new(&self._context, state, prefix, threads)?;
        // The reading is scored as the alternatives are, from its text: whisper's own tokens
        // may split words otherwise (its path scored 13 nats likelier than the same text's
        // usual tokens for "Switch on the air mister."), which no alternative could match.
        let heard = scorer.score(
            heard_text,
            leading_space,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        )?;
        let floor = heard.logprob - fit.margin.max(0.0);
        let rank_cost = fit.rank_cost.max(0.0);
        let mut scored: Vec<TextScore> = Vec::with_capacity(others.len());
        // The chosen alternative and its score (log-probability less its rank's cost).
        let mut chosen: Option<(usize, f32)> = None;
        for (rank, other) in others.iter().enumerate() {
            let cost = rank_cost * rank as f32;
            // To win, this one needs a log-probability over the best score plus its cost.
            let to_win = chosen.map_or(f32::NEG_INFINITY, |(_, best)| best + cost);
            if to_win >= 0.0 {
                break; // no log-probability is over 0: nothing further down can win
            }
            let text = styled_like(heard_text, other);
            let score = scorer.score(&text, leading_space, floor.max(to_win), fit.min_per_token)?;
            if score.complete && score.logprob >= floor && score.logprob > to_win {
                chosen = Some((rank, score.logprob - cost));
            }
            scored.push(score);
        }
        if let (None, Some(grammar), Some(explore)) = (chosen, grammar, fit.explore) {
            let per_token = explore.min_per_token;
            // No sentence close to the reading's words fits: search the grammar's sentences
            // with the audio, and weigh what it finds as the others were, a token held to
            // the search's stricter average.
            let passes = scorer.passes;
            let mut pieces = self.pieces.lock().map_err(|_| AsrError::Poisoned)?;
            if pieces.len() > MAX_PIECES {
                pieces.clear();
            }
            let found = scorer.explore(grammar, leading_space, floor, per_token, &mut pieces)?;
            drop(pieces);
            tracing::debug!(
                passes = scorer.passes - passes,
                found = ?found,
                "the grammar searched with the audio"
            );
            let mut best: Option<(usize, f32)> = None;
            for text in found {
                let text = styled_like(heard_text, &text);
                if text.is_empty() || scored.iter().any(|s| s.text == text) {
                    continue;
                }
                if written_apart(heard_text, &text) > explore.max_edits {
                    continue;
                }
                let score = scorer.score(&text, leading_space, floor, per_token)?;
                if score.complete
                    && score.logprob >= floor
                    && best.is_none_or(|(_, b)| score.logprob > b)
                {
                    best = Some((scored.len(), score.logprob));
                }
                scored.push(score);
            }
            chosen = best;
        }
        tracing::debug!(
            passes = scorer.passes,
            decoding_ms = scorer.decoding.as_secs_f64() * 1e3,
            "decoder passes weighing"
        );
        Ok((heard, scored, chosen.map(|(i, _)| i)))
    }

    /// The tokens whisper's decoder starts from, as `whisper_full` builds them: the prompt
    /// after `<|startofprev|>`, then `<|startoftranscript|>`, the language and task for a
    /// multilingual model, and `<|notimestamps|>`.
    fn decoder_prefix(
        &self,
        prompt: Option<&str>,
        lang_id: Option<i32>,
    ) -> Result<Vec<WhisperTokenId>, AsrError> {
        let ctx = &self._context;
        let mut prefix = Vec::new();
        if let Some(p) = prompt.filter(|p| !p.is_empty()) {
            let tokens =
                ctx.tokenize(p, MAX_SCORED_TOKENS * 2)
                    .map_err(|source| AsrError::Whisper {
                        stage: "reading the prompt",
                        source,
                    })?;
            let keep = (ctx.n_text_ctx() as usize / 2).saturating_sub(1);
            prefix.push(ctx.token_prev());
            prefix.extend_from_slice(&tokens[tokens.len().saturating_sub(keep)..]);
        }
        prefix.push(ctx.token_sot());
        if let Some(id) = lang_id {
            prefix.push(ctx.token_lang(id));
            prefix.push(ctx.token_transcribe());
        }
        prefix.push(ctx.token_not());
        Ok(prefix)
    }
}

/// When an alternative fits the audio well enough to replace the transcript
/// ([`WhisperRecognizer::transcribe_weighing`]): its log-probability (natural log, end of text
/// included) is at most `margin` below the transcript's, and at least `min_per_token` per
/// token on average (whisper itself counts a decoding with an average under -1 as failed and
/// decodes again). Among those that fit, each place down the list costs `rank_cost`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub margin: f32,
    pub min_per_token: f32,
    pub rank_cost: f32,
    /// Whether to search the grammar with the audio when no alternative fits (see
    /// [`WhisperRecognizer::transcribe_weighing`]), and what a sentence found so must meet
    /// besides the margin.
    pub explore: Option<Explore>,
}

impl Default for Fit {
    /// Nothing fits: only the transcript is scored (when alternatives are asked for at all).
    fn default() -> Self {
        Fit {
            margin: 0.0,
            min_per_token: 0.0,
            rank_cost: 0.0,
            explore: None,
        }
    }
}

/// What a sentence found by searching the grammar with the audio must meet to replace the
/// transcript, besides [`Fit::margin`]: nothing but the audio speaks for it (an alternative
/// also sounds like what was heard), and whisper's language model likes short common phrases
/// whatever was said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Explore {
    /// The least log-probability per token (end of text included).
    pub min_per_token: f32,
    /// The most characters (letters and digits, folded) that may differ between the sentence
    /// and the transcript, as a share of the longer of the two: a mishearing is still written
    /// somewhat like what was said.
    pub max_edits: f32,
}

/// Most tokens of one weighed text (whisper's own cap on a segment): a command is far shorter;
/// a longer transcript is not weighed.
const MAX_SCORED_TOKENS: usize = 224;

/// A transcript and, when alternatives were asked for, how likely the decoder finds it and
/// each alternative given the audio ([`WhisperRecognizer::transcribe_weighing`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Weighed {
    pub transcript: Transcript,
    /// The transcript's own score; `None` when nothing was weighed.
    pub heard: Option<TextScore>,
    /// The alternatives weighed, in the order given (styled like the transcript); those after
    /// the point where none could win any more are left out.
    pub alternatives: Vec<TextScore>,
    /// Which of `alternatives` replaces the transcript (see [`Fit`]).
    pub chosen: Option<usize>,
}

/// One text's fit to the audio: the decoder's log-probability of its tokens and the end of
/// text, over the text vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScore {
    pub text: String,
    /// Sum of the tokens' natural-log probabilities (end of text included); ≤ 0. For a text
    /// abandoned part way, the sum where it was abandoned.
    pub logprob: f32,
    /// Tokens scored (end of text included).
    pub tokens: usize,
    /// Whether every token was scored and the whole stayed above the floor it was weighed
    /// against (see [`Fit`]).
    pub complete: bool,
}

/// The grammar as a space of sentences, for [`WhisperRecognizer::transcribe_weighing`] to
/// search with the audio: given the words so far, the words that can follow them and whether
/// a sentence may end there. Numbers come in digits, a contraction's second part with its
/// apostrophe ("'s").
pub type GrammarWalk<'a> = &'a (dyn Fn(&[&str]) -> (Vec<String>, bool) + Sync);

/// Teacher-forced scoring on a state whose encoder has run on the audio: the prefix is
/// decoded once, then each text token by token from there. Texts weighed one after another
/// often begin alike ("Switch on the air mister." and "Switch on the demister."): the tokens
/// the decoder's cache holds and the distributions after them are kept, so a text costs a
/// decoder pass only from where it parts from the path decoded last. Exact: the cache at a
/// position depends only on the tokens before it.
struct Scorer<'a> {
    ctx: &'a WhisperContext,
    state: &'a mut WhisperState,
    prefix_len: usize,
    threads: usize,
    eot: WhisperTokenId,
    /// The text tokens the decoder's cache holds after the prefix.
    path: Vec<WhisperTokenId>,
    /// `known[k]`: whether the distribution of the token after the prefix and `path[..k]` is
    /// at hand (in `dists[k]`, or past [`CACHED_DEPTH`] in `scratch`). Tokens decoded in one
    /// pass leave the distributions before the last unknown.
    known: Vec<bool>,
    /// `dists[k]`: that distribution for `k` up to [`CACHED_DEPTH`] (buffers beyond `path`
    /// are kept for reuse).
    dists: Vec<Vec<f32>>,
    /// The one distribution kept past the cached depth, and its position.
    scratch: Vec<f32>,
    scratch_at: Option<usize>,
    /// Decoder passes run (the prefix's included) and the time they took, for the log.
    passes: usize,
    decoding: std::time::Duration,
}

/// Positions whose distributions the [`Scorer`] keeps (each is the vocabulary's size, about
/// 200 KB): longer than a spoken command; tokens past it are decoded again for each text.
const CACHED_DEPTH: usize = 24;

impl<'a> Scorer<'a> {
    fn new(
        ctx: &'a WhisperContext,
        state: &'a mut WhisperState,
        prefix: Vec<WhisperTokenId>,
        threads: usize,
    ) -> Result<Self, AsrError> {
        let eot = ctx.token_eot();
        let mut scorer = Self {
            ctx,
            state,
            prefix_len: prefix.len(),
            threads,
            eot,
            path: Vec::new(),
            known: vec![true],
            dists: vec![Vec::new()],
            scratch: Vec::new(),
            scratch_at: None,
            passes: 0,
            decoding: std::time::Duration::ZERO,
        };
        // whisper.cpp keeps the logits of a multi-token pass in the last token's row, while
        // whisper-rs's `get_logits` reads the first row (stale after such a pass): so all but
        // the prefix's last token go in one pass and the last in a pass of its own.
        if let Some((last, before)) = prefix.split_last() {
            if !before.is_empty() {
                scorer.pass(before, 0)?;
            }
            scorer.pass(&[*last], before.len())?;
            text_log_probs(scorer.state, eot, &mut scorer.dists[0])?;
        }
        Ok(scorer)
    }

    /// One decoder pass over `tokens`, the first at `position` (the tokens before it are the
    /// ones the decoder's cache holds).
    fn pass(&mut self, tokens: &[WhisperTokenId], position: usize) -> Result<(), AsrError> {
        let t = std::time::Instant::now();
        self.state
            .decode(tokens, position, self.threads)
            .map_err(|source| AsrError::Whisper {
                stage: "weighing alternatives",
                source,
            })?;
        self.passes += 1;
        self.decoding += t.elapsed();
        Ok(())
    }

    fn known_at(&self, k: usize) -> bool {
        self.known.get(k).copied().unwrap_or(false)
            && (k <= CACHED_DEPTH || self.scratch_at == Some(k))
    }

    /// The distribution of the token after `said` (which [`seek`](Self::seek) made known).
    fn dist(&self, k: usize) -> &[f32] {
        if k <= CACHED_DEPTH {
            self.dists.get(k).map_or(&[], Vec::as_slice)
        } else {
            &self.scratch
        }
    }

    /// Makes the decoder's cache hold `said` after the prefix, with the distribution of the
    /// token after it known: the tokens from where `said` parts from the path go in one
    /// pass, the last in a pass of its own (see [`new`](Self::new)); nothing when the path
    /// already has it.
    fn seek(&mut self, said: &[WhisperTokenId]) -> Result<(), AsrError> {
        let k = said.len();
        let shared = self
            .path
            .iter()
            .zip(said)
            .take_while(|(a, b)| a == b)
            .count();
        if shared == k && self.known_at(k) {
            return Ok(());
        }
        // At least the last token is decoded again: its pass gives the distribution.
        let from = shared.min(k.saturating_sub(1));
        if k == 0 {
            return Ok(()); // the prefix's distribution is always known
        }
        if k - from >= 2 {
            self.pass(&said[from..k - 1], self.prefix_len + from)?;
        }
        self.pass(&said[k - 1..], self.prefix_len + k - 1)?;
        self.path.truncate(from);
        self.path.extend_from_slice(&said[from..]);
        self.known.truncate(from + 1);
        self.known.resize(k, false);
        self.known.push(true);
        let out = if k <= CACHED_DEPTH {
            if self.dists.len() <= k {
                self.dists.resize_with(k + 1, Vec::new);
            }
            &mut self.dists[k]
        } else {
            self.scratch_at = Some(k);
            &mut self.scratch
        };
        text_log_probs(self.state, self.eot, out)
    }

    /// `text`'s tokens as the decoder reads it (after a space when the transcript began with
    /// one), end of text not included.
    fn tokens_of(&self, text: &str, leading_space: bool) -> Result<Vec<WhisperTokenId>, AsrError> {
        let spaced;
        let text_in = if leading_space && !text.starts_with(' ') {
            spaced = format!(" {text}");
            spaced.as_str()
        } else {
            text
        };
        let mut tokens = self
            .ctx
            .tokenize(text_in, MAX_SCORED_TOKENS)
            .map_err(|source| AsrError::Whisper {
                stage: "reading an alternative",
                source,
            })?;
        tokens.retain(|&t| t < self.eot);
        Ok(tokens)
    }

    /// `text`'s log-probability, abandoned (incomplete) once it falls below `floor` or below
    /// `min_per_token` times its tokens (end of text included).
    fn score(
        &mut self,
        text: &str,
        leading_space: bool,
        floor: f32,
        min_per_token: f32,
    ) -> Result<TextScore, AsrError> {
        let tokens = self.tokens_of(text, leading_space)?;
        let floor = floor.max(min_per_token * (tokens.len() + 1) as f32);
        let mut logprob = 0.0f32;
        for k in 0..=tokens.len() {
            // The distribution of token k (end of text at k == tokens.len()).
            self.seek(&tokens[..k])?;
            let tok = tokens.get(k).copied().unwrap_or(self.eot);
            logprob += self
                .dist(k)
                .get(tok as usize)
                .copied()
                .unwrap_or(f32::NEG_INFINITY);
            if k < tokens.len() && logprob < floor {
                return Ok(TextScore {
                    text: text.to_string(),
                    logprob,
                    tokens: k + 1,
                    complete: false,
                });
            }
        }
        Ok(TextScore {
            text: text.to_string(),
            logprob,
            tokens: tokens.len() + 1,
            complete: logprob >= floor,
        })
    }

    /// Grammar sentences the audio supports best, found by a beam search over the grammar
    /// (`grammar` says which words can follow which): word by word, each word that can
    /// follow a sentence begun is priced by its first token's log-probability (all of them
    /// from the one distribution already at hand), the best [`EXPLORE_TRIED`] are decoded to
    /// their end, and the best [`EXPLORE_BEAM`] go on. A word is tried as the grammar writes
    /// it, with a capital and in capitals (short words: "AC"), whichever the audio prefers.
    /// Sentences begun are dropped once below `floor`, or [`EXPLORE_SLACK`] under
    /// `min_per_token` a token, and the search stops after [`EXPLORE_PASSES`] decoder passes. Up to [`EXPLORE_FOUND`]
    /// complete sentences, likeliest first (end of text not yet counted).
    fn explore(
        &mut self,
        grammar: GrammarWalk<'_>,
        leading_space: bool,
        floor: f32,
        min_per_token: f32,
        pieces: &mut HashMap<String, Vec<WhisperTokenId>>,
    ) -> Result<Vec<String>, AsrError> {
        struct Begun {
            words: Vec<String>,
            text: String,
            tokens: Vec<WhisperTokenId>,
            logprob: f32,
        }
        struct Tried {
            bound: f32,
            from: usize,
            word: String,
            text: String,
            tokens: Vec<WhisperTokenId>,
        }
        let budget = self.passes + EXPLORE_PASSES;
        let mut beam = vec![Begun {
            words: Vec::new(),
            text: String::new(),
            tokens: Vec::new(),
            logprob: 0.0,
        }];
        let mut complete: Vec<(String, f32)> = Vec::new();
        let ends = |b: &Begun, can_end: bool, complete: &mut Vec<(String, f32)>| {
            if can_end && !b.words.is_empty() {
                complete.push((b.text.clone(), b.logprob));
            }
        };
        for _ in 0..EXPLORE_WORDS {
            if beam.is_empty() || self.passes >= budget {
                break;
            }
            // Neighbours in token order share the decoder passes of their common start.
            beam.sort_by(|a, b| a.tokens.cmp(&b.tokens));
            let mut tried: Vec<Tried> = Vec::new();
            for (i, b) in beam.iter().enumerate() {
                let said: Vec<&str> = b.words.iter().map(String::as_str).collect();
                let (words, can_end) = grammar(&said);
                ends(b, can_end, &mut complete);
                if words.is_empty() {
                    continue;
                }
                self.seek(&b.tokens)?;
                let at = b.tokens.len();
                let mut best_of_word: Option<Tried> = None;
                for word in words {
                    for spelling in spellings(&word) {
                        // whisper's tokenizer splits text before spaces and apostrophes
                        // first, so a word's tokens do not depend on the words before it.
                        let piece = if spelling.starts_with('\'')
                            || (b.text.is_empty() && !leading_space)
                        {
                            spelling
                        } else {
                            format!(" {spelling}")
                        };
                        let piece_tokens = match pieces.get(&piece) {
                            Some(t) => t,
                            None => {
                                let t = self.tokens_of(&piece, false)?;
                                pieces.entry(piece.clone()).or_insert(t)
                            }
                        };
                        if piece_tokens.is_empty() || at + piece_tokens.len() > CACHED_DEPTH {
                            continue;
                        }
                        let mut tokens = b.tokens.clone();
                        tokens.extend_from_slice(piece_tokens);
                        let text = if b.text.is_empty() {
                            piece.trim_start().to_string()
                        } else {
                            format!("{}{piece}", b.text)
                        };
                        let first = self
                            .dist(at)
                            .get(tokens[at] as usize)
                            .copied()
                            .unwrap_or(f32::NEG_INFINITY);
                        let bound = b.logprob + first;
                        if bound < floor || best_of_word.as_ref().is_some_and(|t| t.bound >= bound)
                        {
                            continue;
                        }
                        best_of_word = Some(Tried {
                            bound,
                            from: i,
                            word: word.clone(),
                            text,
                            tokens,
                        });
                    }
                    tried.extend(best_of_word.take());
                }
            }
            tried.sort_by(|a, b| b.bound.total_cmp(&a.bound));
            tried.truncate(EXPLORE_TRIED);
            tried.sort_by(|a, b| a.tokens.cmp(&b.tokens));
            let mut next: Vec<Begun> = Vec::new();
            for t in tried {
                if self.passes >= budget {
                    break;
                }
                let Some(b) = beam.get(t.from) else {
                    continue;
                };
                let mut logprob = t.bound;
                for k in b.tokens.len() + 1..t.tokens.len() {
                    if logprob < floor {
                        break;
                    }
                    self.seek(&t.tokens[..k])?;
                    logprob += self
                        .dist(k)
                        .get(t.tokens[k] as usize)
                        .copied()
                        .unwrap_or(f32::NEG_INFINITY);
                }
                // A sentence begun may start worse than it ends ("A" before "C on"), so
                // the average holds only with some slack.
                let average = min_per_token * t.tokens.len() as f32 - EXPLORE_SLACK;
                if logprob < floor || logprob < average {
                    continue;
                }
                let mut words = b.words.clone();
                words.push(t.word);
                next.push(Begun {
                    words,
                    text: t.text,
                    tokens: t.tokens,
                    logprob,
                });
            }
            next.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
            next.truncate(EXPLORE_BEAM);
            beam = next;
        }
        for b in &beam {
            let said: Vec<&str> = b.words.iter().map(String::as_str).collect();
            let (_, can_end) = grammar(&said);
            ends(b, can_end, &mut complete);
        }
        complete.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut found: Vec<String> = Vec::new();
        for (text, _) in complete {
            if !found.contains(&text) {
                found.push(text);
            }
            if found.len() == EXPLORE_FOUND {
                break;
            }
        }
        Ok(found)
    }
}

/// Most words of a sentence the grammar search builds (a command is shorter).
const EXPLORE_WORDS: usize = 16;
/// Sentences begun kept after each word.
const EXPLORE_BEAM: usize = 4;
/// Next words decoded to their end per step, of all the beam's.
const EXPLORE_TRIED: usize = 8;
/// Decoder passes one search may take (about 4 ms each with tiny.en on 2 threads).
const EXPLORE_PASSES: usize = 32;
/// Sentences the search returns.
const EXPLORE_FOUND: usize = 3;
/// How far below its average a sentence begun may fall and go on (natural log).
const EXPLORE_SLACK: f32 = 3.0;

/// The characters (letters and digits, folded) that differ between `a` and `b`, as a share of
/// the longer.
fn written_apart(a: &str, b: &str) -> f32 {
    let (edits, len_a) = super::char_edits(a, b);
    let (_, len_b) = super::char_edits(b, "");
    let longer = len_a.max(len_b);
    if longer == 0 {
        return 0.0;
    }
    edits as f32 / longer as f32
}

/// The ways a grammar word may be written in a transcript: as it is, with a capital, and a
/// short word in capitals ("ac" → "AC").
fn spellings(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    let mut chars = word.chars();
    if let Some(first) = chars.next().filter(|c| c.is_lowercase()) {
        out.push(first.to_uppercase().chain(chars).collect());
        if word.chars().count() <= 3 && word.chars().all(|c| c.is_ascii_alphabetic()) {
            out.push(word.to_uppercase());
        }
    }
    out
}

/// Log-softmax of the last decoded position's logits over the text tokens and end of text
/// (the special and timestamp tokens after it are never decoded in a transcript), into `out`.
fn text_log_probs(
    state: &WhisperState,
    eot: WhisperTokenId,
    out: &mut Vec<f32>,
) -> Result<(), AsrError> {
    let logits = state.get_logits().map_err(|source| AsrError::Whisper {
        stage: "weighing alternatives",
        source,
    })?;
    let n = (eot as usize + 1).min(logits.len());
    let row = &logits[..n];
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&l| (l - max).exp()).sum();
    let lse = max + sum.ln();
    out.clear();
    out.extend(row.iter().map(|&l| l - lse));
    Ok(())
}

/// `text` written the way whisper wrote `like`: a capital first letter when it has one, and
/// its closing punctuation mark. Grammar sentences are lower case without punctuation, which
/// whisper's decoder finds unlikely whatever was said.
fn styled_like(like: &str, text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(text.len() + 4);
    let capital = like
        .chars()
        .find(|c| c.is_alphabetic())
        .is_some_and(char::is_uppercase);
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if capital => out.extend(c.to_uppercase()),
        Some(c) => out.push(c),
        None => {}
    }
    out.extend(chars);
    if let Some(p) = like
        .trim_end()
        .chars()
        .last()
        .filter(|c| matches!(c, '.' | '?' | '!' | '。' | '？' | '！'))
    {
        if !out.ends_with(p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_map_to_whisper_codes() {
        let l = |t: &str| {
            resolve_language(t)
                .map(|l| (l.code, l.simplified_chinese))
                .ok()
        };
        assert_eq!(l("en"), Some(("en", false)));
        assert_eq!(l("en-US"), Some(("en", false)));
        assert_eq!(l("zh"), Some(("zh", true)));
        assert_eq!(l("zh-CN"), Some(("zh", true)));
        assert_eq!(l("ZH-hans"), Some(("zh", true)));
        assert_eq!(l("zh-TW"), Some(("zh", false)));
        assert_eq!(l("cmn-Hans-CN"), Some(("zh", true)));
        assert_eq!(l("auto"), Some(("auto", false)));
        assert_eq!(l("xx"), None);
        assert_eq!(l("e\0n"), None);
        assert_eq!(l(""), None);
    }

    #[test]
    fn audio_ctx_follows_length_and_is_capped() {
        let fit = AudioContext::Fit { margin: 64 };
        assert_eq!(audio_ctx_for(16_000, fit), Some(50 + 64));
        assert_eq!(audio_ctx_for(32_000, fit), Some(100 + 64));
        assert_eq!(audio_ctx_for(16_000 * 60, fit), Some(AUDIO_CTX_MAX));
        assert_eq!(audio_ctx_for(16_000, AudioContext::Full), None);
    }

    #[test]
    fn the_mandarin_primer_written_back_is_not_speech() {
        assert_eq!(strip_primer_echo("以下是普通话的句子。"), "");
        assert_eq!(strip_primer_echo("以下是普通话的句子"), "");
        assert_eq!(
            strip_primer_echo("以下是普通话的句子。打开车窗。"),
            "打开车窗。"
        );
        assert_eq!(
            strip_primer_echo("打开车窗。以下是普通话的句子。"),
            "打开车窗。"
        );
        assert_eq!(strip_primer_echo("以下有否认错人。"), "以下有否认错人。");
        assert_eq!(strip_primer_echo("打开车窗。"), "打开车窗。");
    }

    #[test]
    fn repeated_sentences_collapse() {
        assert_eq!(
            collapse_repeats("Play some jazz. Play some jazz. Play some jazz."),
            "Play some jazz."
        );
        assert_eq!(
            collapse_repeats("turn on the heat, turn on the heat, turn on the heat, turn on"),
            "turn on the heat"
        );
        assert_eq!(collapse_repeats("打开车窗。打开车窗。打开"), "打开车窗。");
        assert_eq!(
            collapse_repeats("Call mama call. Call mama call. Call mama call. Call m"),
            "Call mama call.",
            "the last copy cut inside a word"
        );
        assert_eq!(collapse_repeats("Open it. Close it."), "Open it. Close it.");
        assert_eq!(
            collapse_repeats("no no no"),
            "no no no",
            "a period of one unit is speech"
        );
        assert_eq!(collapse_repeats("bye bye"), "bye bye");
        assert_eq!(collapse_repeats(""), "");
    }

    /// Loops whose copies drift (transcripts tiny.en wrote for the speech-to-intent bench's
    /// clips) keep their most frequent sentence; different requests, or two sentences, stay.
    #[test]
    fn drifting_repeated_sentences_collapse() {
        let blinds = "Open the living room blind. Open the living room blinds. Open the living \
                      room blinds. Open the living room blinds. Open the living room blinds.";
        assert_eq!(collapse_repeats(blinds), "Open the living room blinds.");
        let chargers = "Find it open F-chargers in the area with high ratings. Find it open \
                        F-chargers in the area with high ratings. Find good open F-chargers in \
                        the area with high ratings. Find good open F";
        assert_eq!(
            collapse_repeats(chargers),
            "Find it open F-chargers in the area with high ratings.",
            "the first of equally frequent copies; the cut-off copy goes with the rest"
        );
        assert_eq!(
            collapse_repeats("打开车窗。打开车窗。打开车门。打开车窗。"),
            "打开车窗。",
            "Mandarin by characters"
        );
        for kept in [
            "Open the window. Open the sunroof. Open the trunk.",
            "Open the living room blind. Open the living room blinds.",
            "Turn on the heat. Turn on the heat. Turn on the heat and the fan",
            "Call mom. Call dad. Call mom.",
        ] {
            assert_eq!(collapse_repeats(kept), kept);
        }
    }

    #[test]
    fn alternatives_are_written_as_whisper_wrote_the_transcript() {
        assert_eq!(
            styled_like("Closeness and roof.", "close the sunroof"),
            "Close the sunroof."
        );
        assert_eq!(
            styled_like("where is it?", "how late is it"),
            "how late is it?"
        );
        assert_eq!(
            styled_like("Turn on", "turn on the radio"),
            "Turn on the radio"
        );
        assert_eq!(styled_like("打开空条。", "打开空调"), "打开空调。");
        assert_eq!(styled_like("打开空条", "打开空调"), "打开空调");
        assert_eq!(styled_like("Go.", "go."), "Go.", "no second full stop");
        assert_eq!(styled_like("Go.", ""), "");
    }

    /// The scorer's first distribution is the decoder's after the whole prefix, as decoding it
    /// one token at a time gives it — not the stale first row whisper-rs reads after a
    /// multi-token pass (which scored every weighed sentence's first token on leftovers of
    /// whisper's own decoding). Needs tiny.en (`skylark models fetch`).
    #[test]
    fn the_scorer_starts_from_the_prefix_s_own_distribution() {
        let path = crate::models::default_models_dir().join("whisper/ggml-tiny.en-q8_0.bin");
        let r = WhisperRecognizer::load(&path, &AsrOptions::default())
            .unwrap_or_else(|e| panic!("{e} (run `skylark models fetch`)"));
        let wav = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio/jfk.wav");
        let audio = crate::audio::read_wav(&wav).expect("jfk.wav");
        let t = r
            .transcribe(&audio, &TranscribeOptions::default())
            .expect("transcribe");
        assert!(t.text.contains("country"), "{}", t.text);
        let prefix = r.decoder_prefix(Some("Ask not."), None).expect("prefix");
        assert!(prefix.len() > 2, "{prefix:?}");
        let mut state = r.state.lock().expect("state");
        // Right after whisper's own decoding, as when weighing.
        let first = Scorer::new(&r._context, &mut state, prefix.clone(), 1)
            .expect("scorer")
            .dists
            .swap_remove(0);
        // The reference: the prefix decoded one token at a time.
        for (i, tok) in prefix.iter().enumerate() {
            state.decode(&[*tok], i, 1).expect("decode");
        }
        let mut reference = Vec::new();
        text_log_probs(&state, r._context.token_eot(), &mut reference).expect("logits");
        assert_eq!(first.len(), reference.len());
        let worst = first
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-2,
            "the first distribution is off by up to {worst}"
        );
    }

    #[test]
    fn a_sentence_found_is_held_to_how_it_is_written_beside_the_reading() {
        // Apart as a share of the longer text, letters and digits only.
        assert!(
            (written_apart("Hang up the phone.", "Turn up the phone.") - 4.0 / 14.0).abs() < 1e-6
        );
        assert!(written_apart("Play some music.", "Switch on the Namister.") > 0.7);
        assert_eq!(written_apart("That's it.", "that s it"), 0.0);
        assert_eq!(written_apart("", ""), 0.0);
        assert_eq!(written_apart("", "on"), 1.0);
    }

    #[test]
    fn captions_are_not_speech() {
        assert!(is_non_speech_caption("[BLANK_AUDIO]"));
        assert!(is_non_speech_caption(" (music) "));
        assert!(is_non_speech_caption("*silence*"));
        assert!(
            is_non_speech_caption(" . "),
            "punctuation alone is not speech"
        );
        assert!(!is_non_speech_caption("open the window"));
        assert!(!is_non_speech_caption("打开车窗"));
    }
}
