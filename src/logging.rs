//! Logging through `tracing`: human-readable on a terminal, journald-friendly under systemd
//! (no colours, no timestamps — the journal adds its own — and `<N>` syslog level prefixes
//! so `journalctl -p warning` works).

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `level` is a `tracing` filter; `SKYLARK_LOG` overrides it.
/// `format` is `auto`, `human` or `journal`. Logs go to stderr; stdout is for results.
pub fn init(level: &str, format: &str) {
    let wanted = std::env::var("SKYLARK_LOG").ok().filter(|f| EnvFilter::try_new(f).is_ok());
    let filter = EnvFilter::try_new(quiet_libraries(wanted.as_deref().unwrap_or(level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = match format {
        "journal" => true,
        "human" => false,
        // systemd sets JOURNAL_STREAM when stderr is connected to the journal.
        _ => std::env::var_os("JOURNAL_STREAM").is_some(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if journal {
        builder.event_format(JournalFormat).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).with_target(false).try_init()
    };
}

/// whisper.cpp and ONNX Runtime report every model load at info level; keep them at warn
/// unless the filter names them. The PulseAudio client logs every normal disconnect (each
/// utterance closes its stream) as an error; real output errors reach us through cpal.
fn quiet_libraries(filter: &str) -> String {
    let mut out = filter.to_string();
    for (lib, level) in [("whisper_rs", "warn"), ("ort", "warn"), ("pulseaudio", "off")] {
        if !filter.contains(lib) {
            out.push_str(&format!(",{lib}={level}"));
        }
    }
    out
}

/// `<3>message key=value` lines, as sd-daemon(3) describes.
struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &tracing::Event<'_>) -> std::fmt::Result {
        let prio = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{prio}>")?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}: ", span.name())?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Lets one warning of a kind through per [`RateLimit::PERIOD`] and counts the rest, so a
/// flood of refused requests writes a line every few seconds with how many were suppressed
/// (107,043 lines in 20 s before), not one line each. A `static` per call site:
///
/// ```ignore
/// static BUSY: RateLimit = RateLimit::new();
/// if let Some(suppressed) = BUSY.allow() { tracing::warn!(suppressed, "busy"); }
/// ```
pub struct RateLimit {
    /// Milliseconds since [`epoch`] when the last line went out (0: never).
    last_ms: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl RateLimit {
    pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

    pub const fn new() -> Self {
        Self {
            last_ms: std::sync::atomic::AtomicU64::new(0),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this occurrence should be logged (`n` occurrences were suppressed since
    /// the last line), `None` when it is to be counted only.
    pub fn allow(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = epoch().elapsed().as_millis() as u64 + 1;
        let last = self.last_ms.load(Relaxed);
        let period = Self::PERIOD.as_millis() as u64;
        if (last == 0 || now.saturating_sub(last) >= period)
            && self.last_ms.compare_exchange(last, now, Relaxed, Relaxed).is_ok()
        {
            return Some(self.suppressed.swap(0, Relaxed));
        }
        self.suppressed.fetch_add(1, Relaxed);
        None
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's clock origin for [`RateLimit`].
fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

#[cfg(test)]
mod rate_limit_tests {
    use super::RateLimit;

    #[test]
    fn a_flood_is_one_line_with_a_count() {
        let limit = RateLimit::new();
        assert_eq!(limit.allow(), Some(0));
        let logged = (0..10_000).filter(|_| limit.allow().is_some()).count();
        assert_eq!(logged, 0, "within one period nothing more is logged");
        assert_eq!(limit.suppressed.load(std::sync::atomic::Ordering::Relaxed), 10_000);
    }
}
