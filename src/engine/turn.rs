//! Turns: one request of a user (a sentence to act on, a text to say) from start to finish.
//!
//! A turn moves through stages (listening → thinking → speaking) and ends with a
//! [`TurnStatus`]. Every turn is cancellable through its [`CancelToken`], and records its trace
//! ([`TurnTrace`]: when each stage happened and how long it took) so a slow turn can be
//! explained.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

pub use super::event::Tier;

/// A turn's number, unique for the life of the engine, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TurnId(pub u64);

impl fmt::Display for TurnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What started a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnKind {
    /// `Ask`: recognise a sentence, act on it, answer.
    Ask,
    /// `Speak`: say a given text.
    Speak,
    /// `StartListening`: capture speech, then as `Ask`.
    Listen,
}

impl TurnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnKind::Ask => "ask",
            TurnKind::Speak => "speak",
            TurnKind::Listen => "listen",
        }
    }
}

/// The engine's state as the `State` property shows it: the most "audible" stage of any
/// running turn (listening before speaking before thinking), `Idle` when none runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Thinking,
    Speaking,
    Listening,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Listening => "listening",
            State::Thinking => "thinking",
            State::Speaking => "speaking",
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnStatus {
    /// Done: the intent was handled (or its default response given), or the text was said.
    Ok,
    /// Nothing in the grammar (or the models) understood the sentence.
    NoIntent,
    /// `Cancel`, a newer turn on the same audio path, or shutdown stopped it.
    Cancelled,
    /// A stage or the intent's handler failed.
    Failed,
    /// The intent's handler did not answer within `dbus.handler_timeout_ms`.
    Timeout,
}

impl TurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Ok => "ok",
            TurnStatus::NoIntent => "no_intent",
            TurnStatus::Cancelled => "cancelled",
            TurnStatus::Failed => "failed",
            TurnStatus::Timeout => "timeout",
        }
    }
}

/// A moment of a turn, recorded (once, the first time) as an offset from the turn's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The wake word that started the turn was heard.
    WakeWord,
    /// The user began to speak (estimated from the audio's length: the listener reports the
    /// utterance, not the moment).
    SpeechStart,
    /// The endpointer decided speech had ended (after its trailing silence).
    SpeechEnd,
    /// The first partial `Transcript`.
    FirstPartial,
    /// The final `Transcript`.
    FinalTranscript,
    /// `IntentRecognized` was emitted.
    IntentRecognized,
    /// The intent's handler answered.
    HandlerReply,
    /// The answer's first text: a model's first token, or the whole response
    /// (the first `ResponseChunk`).
    FirstToken,
    /// The speaker handed its first audio to the output device.
    FirstAudio,
    /// The speaker finished playing the answer.
    PlaybackEnd,
    /// `Cancel` (or shutdown) stopped the turn.
    Cancel,
}

impl Mark {
    pub const ALL: [Mark; 11] = [
        Mark::WakeWord,
        Mark::SpeechStart,
        Mark::SpeechEnd,
        Mark::FirstPartial,
        Mark::FinalTranscript,
        Mark::IntentRecognized,
        Mark::HandlerReply,
        Mark::FirstToken,
        Mark::FirstAudio,
        Mark::PlaybackEnd,
        Mark::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::WakeWord => "wake_word",
            Mark::SpeechStart => "speech_start",
            Mark::SpeechEnd => "speech_end",
            Mark::FirstPartial => "first_partial",
            Mark::FinalTranscript => "final_transcript",
            Mark::IntentRecognized => "intent_recognized",
            Mark::HandlerReply => "handler_reply",
            Mark::FirstToken => "first_token",
            Mark::FirstAudio => "first_audio",
            Mark::PlaybackEnd => "playback_end",
            Mark::Cancel => "cancel",
        }
    }
}

/// A stage of a turn that takes time, recorded as its duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Waiting for the caller's reply to be sent (D-Bus) before the work starts.
    Queued,
    /// Listening: from the start of capture to the end of speech.
    Capture,
    /// The final speech recognition (end of speech → final transcript).
    Transcribe,
    /// Understanding: grammar, then the device's models and the cloud as routing says.
    Recognize,
    /// The intent's handler call.
    Handler,
    /// Speaking: from taking the speaker to the end of playback.
    Speak,
}

impl Span {
    pub const ALL: [Span; 6] = [
        Span::Queued,
        Span::Capture,
        Span::Transcribe,
        Span::Recognize,
        Span::Handler,
        Span::Speak,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Span::Queued => "queued",
            Span::Capture => "capture",
            Span::Transcribe => "transcribe",
            Span::Recognize => "recognize",
            Span::Handler => "handler",
            Span::Speak => "speak",
        }
    }
}

/// A turn's trace: when it started (wall clock), the moments of its stages ([`Mark`], offsets
/// from the start), how long its stages took ([`Span`]), its total, and the tier that
/// understood or answered it. `None`: the turn did not reach that moment or stage.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnTrace {
    /// The turn's start, wall clock (for correlating with logs and other programs).
    pub started: SystemTime,
    start: Instant,
    marks: [Option<Duration>; Mark::ALL.len()],
    spans: [Option<Duration>; Span::ALL.len()],
    /// Start to `TurnFinished`.
    pub total: Duration,
    /// Who understood the sentence or answered it (`None`: the turn did not get that far,
    /// or it only spoke a text).
    pub tier: Option<Tier>,
}

impl TurnTrace {
    /// A trace starting now.
    pub fn start() -> TurnTrace {
        TurnTrace {
            started: SystemTime::now(),
            start: Instant::now(),
            marks: [None; Mark::ALL.len()],
            spans: [None; Span::ALL.len()],
            total: Duration::ZERO,
            tier: None,
        }
    }

    /// Notes `mark` now, unless it was noted already (the first time counts).
    pub fn mark(&mut self, mark: Mark) {
        self.mark_at(mark, Instant::now());
    }

    /// Notes `mark` at `at` (clamped to the turn's start), unless it was noted already.
    pub fn mark_at(&mut self, mark: Mark, at: Instant) {
        let slot = &mut self.marks[mark as usize];
        if slot.is_none() {
            *slot = Some(at.saturating_duration_since(self.start));
        }
    }

    /// Marks when the user began to speak: an estimate (the utterance's length before the
    /// moment the listener handed it over, which may reach into audio heard before the
    /// turn), never before the turn's wake word — what the turn captured followed it.
    pub fn mark_speech_start(&mut self, at: Instant) {
        let at = match self.at(Mark::WakeWord) {
            Some(w) => at.max(self.start + w),
            None => at,
        };
        self.mark_at(Mark::SpeechStart, at);
    }

    /// Sets how long `span` took (a stage run twice keeps the last).
    pub fn set_span(&mut self, span: Span, took: Duration) {
        self.spans[span as usize] = Some(took);
    }

    /// Ends the trace: the total is the time since the start.
    pub fn finish(&mut self) {
        self.total = self.start.elapsed();
    }

    pub fn at(&self, mark: Mark) -> Option<Duration> {
        self.marks[mark as usize]
    }

    pub fn took(&self, span: Span) -> Option<Duration> {
        self.spans[span as usize]
    }

    /// The names of every figure a trace may have, in the order of [`TurnTrace::figures`].
    pub fn figure_names() -> Vec<&'static str> {
        Span::ALL
            .iter()
            .map(|s| span_key(*s))
            .chain(std::iter::once("total_ms"))
            .chain(Mark::ALL.iter().map(|m| mark_key(*m)))
            .collect()
    }

    /// Every figure the turn has, in a fixed order (spans, `total`, then marks), named as the
    /// D-Bus trace, the log line and `skylark stats` name them: `recognize_ms`,
    /// `first_audio_ms`, `total_ms`, …
    pub fn figures(&self) -> Vec<(&'static str, Duration)> {
        let spans = Span::ALL
            .iter()
            .filter_map(|s| self.took(*s).map(|d| (span_key(*s), d)));
        let marks = Mark::ALL
            .iter()
            .filter_map(|m| self.at(*m).map(|d| (mark_key(*m), d)));
        spans
            .chain(std::iter::once(("total_ms", self.total)))
            .chain(marks)
            .collect()
    }
}

fn span_key(s: Span) -> &'static str {
    match s {
        Span::Queued => "queued_ms",
        Span::Capture => "capture_ms",
        Span::Transcribe => "transcribe_ms",
        Span::Recognize => "recognize_ms",
        Span::Handler => "handler_ms",
        Span::Speak => "speak_ms",
    }
}

fn mark_key(m: Mark) -> &'static str {
    match m {
        Mark::WakeWord => "wake_word_ms",
        Mark::SpeechStart => "speech_start_ms",
        Mark::SpeechEnd => "speech_end_ms",
        Mark::FirstPartial => "first_partial_ms",
        Mark::FinalTranscript => "final_transcript_ms",
        Mark::IntentRecognized => "intent_recognized_ms",
        Mark::HandlerReply => "handler_reply_ms",
        Mark::FirstToken => "first_token_ms",
        Mark::FirstAudio => "first_audio_ms",
        Mark::PlaybackEnd => "playback_end_ms",
        Mark::Cancel => "cancel_ms",
    }
}

/// Milliseconds as the log line writes them: two decimals under 10 ms, one under 100, whole
/// milliseconds above.
pub fn format_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A finished turn, kept (the last `RECENT_TURNS` of them) for `RecentTurns` and statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    pub id: TurnId,
    pub kind: TurnKind,
    pub status: TurnStatus,
    pub intent: Option<String>,
    /// The turn's language (the grammar's tag: `en`, `zh-CN`).
    pub language: String,
    pub trace: TurnTrace,
}

impl TurnRecord {
    /// The contract's `source` of the turn (`grammar`, `llm`, `cloud`, `none`), `""` when no
    /// tier was asked (a `Speak` turn, a listening turn that heard nothing).
    pub fn source(&self) -> &'static str {
        self.trace.tier.map(|t| t.source().as_str()).unwrap_or("")
    }

    /// The turn as one log line of `key=value` pairs: `turn id=7 kind=ask status=ok
    /// intent=climate.set_temperature source=grammar tier=grammar lang=en recognize_ms=0.40
    /// … total_ms=950`. Values never contain spaces (`-`: none).
    pub fn log_line(&self) -> String {
        use std::fmt::Write;
        let or_dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.replace(char::is_whitespace, "_")
            }
        };
        let mut line = format!(
            "turn id={} kind={} status={} intent={} source={} tier={} lang={}",
            self.id,
            self.kind.as_str(),
            self.status.as_str(),
            or_dash(self.intent.as_deref().unwrap_or("")),
            or_dash(self.source()),
            self.trace.tier.map(Tier::as_str).unwrap_or("-"),
            or_dash(&self.language),
        );
        for (key, d) in self.trace.figures() {
            let _ = write!(line, " {key}={}", format_ms(d));
        }
        line
    }
}

/// Cancellation of one turn: a flag that blocking stages (synthesis, recognition) poll, and a
/// notification that async stages await.
#[derive(Debug, Default)]
pub struct CancelToken {
    flag: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The raw flag, for blocking stages that poll it (the LLM checks it between tokens).
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Resolves once [`CancelToken::cancel`] was called (at once if it already was).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag so a cancel between the two is not lost.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn cancel_wakes_a_waiter_and_is_sticky() {
        let t = Arc::new(CancelToken::new());
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.cancelled().await });
        tokio::task::yield_now().await;
        t.cancel();
        waiter.await.unwrap();
        assert!(t.is_cancelled());
        t.cancelled().await; // already cancelled: returns at once
    }

    #[test]
    fn state_order_puts_audio_first() {
        let mut v = [
            State::Thinking,
            State::Listening,
            State::Speaking,
            State::Idle,
        ];
        v.sort();
        assert_eq!(v.last(), Some(&State::Listening));
        assert_eq!(TurnStatus::NoIntent.as_str(), "no_intent");
    }

    #[test]
    fn a_trace_keeps_the_first_mark_and_names_every_figure_once() {
        let mut t = TurnTrace::start();
        t.mark_at(Mark::SpeechStart, t.start - Duration::from_secs(1));
        assert_eq!(
            t.at(Mark::SpeechStart),
            Some(Duration::ZERO),
            "clamped to the start"
        );
        t.mark_at(Mark::FirstAudio, t.start + Duration::from_millis(180));
        t.mark_at(Mark::FirstAudio, t.start + Duration::from_millis(900));
        assert_eq!(t.at(Mark::FirstAudio), Some(Duration::from_millis(180)));

        // Speech estimated to start before the wake word starts at the wake word.
        let mut w = TurnTrace::start();
        w.mark_at(Mark::WakeWord, w.start + Duration::from_millis(5));
        w.mark_speech_start(w.start);
        assert_eq!(w.at(Mark::SpeechStart), Some(Duration::from_millis(5)));
        let mut later = TurnTrace::start();
        later.mark_at(Mark::WakeWord, later.start + Duration::from_millis(5));
        later.mark_speech_start(later.start + Duration::from_millis(300));
        assert_eq!(
            later.at(Mark::SpeechStart),
            Some(Duration::from_millis(300))
        );
        t.set_span(Span::Recognize, Duration::from_micros(400));
        t.total = Duration::from_millis(950);
        t.tier = Some(Tier::Grammar);
        let keys: Vec<&str> = t.figures().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "recognize_ms",
                "total_ms",
                "speech_start_ms",
                "first_audio_ms"
            ]
        );
        // Every name is distinct and says what it is.
        let mut all = TurnTrace::figure_names();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        for m in Mark::ALL {
            assert_eq!(mark_key(m), format!("{}_ms", m.as_str()));
            assert_eq!(Mark::ALL[m as usize], m);
        }
        for s in Span::ALL {
            assert_eq!(span_key(s), format!("{}_ms", s.as_str()));
            assert_eq!(Span::ALL[s as usize], s);
        }
        let record = TurnRecord {
            id: TurnId(7),
            kind: TurnKind::Ask,
            status: TurnStatus::Ok,
            intent: Some("climate.set_temperature".into()),
            language: "en".into(),
            trace: t,
        };
        assert_eq!(
            record.log_line(),
            "turn id=7 kind=ask status=ok intent=climate.set_temperature source=grammar \
             tier=grammar lang=en recognize_ms=0.40 total_ms=950 speech_start_ms=0.00 \
             first_audio_ms=180"
        );
    }
}
