//! Logging through `tracing`: human-readable on a terminal; under systemd, straight to the
//! journal's native socket with fields (`TURN_ID`, `TURN_KIND`, `STAGE`, `LATENCY_MS`, every
//! event field upper-cased, `PRIORITY`), so `journalctl TURN_ID=12` reads one turn; if the
//! socket is not there, `<N>`-prefixed lines on stderr (no colours, no timestamps) so
//! `journalctl -p warning` still works.

use std::io::{IsTerminal, Write as _};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing::Level;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `level` is a `tracing` filter; `SKYLARK_LOG` overrides it.
/// `format` is `auto`, `human` or `journal`. Logs go to stderr; stdout is for results.
pub fn init(level: &str, format: &str) {
    let wanted = std::env::var("SKYLARK_LOG")
        .ok()
        .filter(|f| EnvFilter::try_new(f).is_ok());
    let filter = EnvFilter::try_new(quiet_libraries(wanted.as_deref().unwrap_or(level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = match format {
        "journal" => true,
        "human" => false,
        _ => stderr_is_the_journal(),
    };
    if journal {
        if let Some(layer) = JournalLayer::connect(Path::new(JOURNAL_SOCKET)) {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
            #[cfg(target_os = "linux")]
            crate::audio::alsa_log::route_to_tracing();
            return;
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if journal {
        builder.event_format(JournalFormat).try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init()
    };
    // Third-party C libraries log through us, not onto stderr: whisper.cpp via whisper-rs's
    // tracing backend, ONNX Runtime via ort, libasound here.
    #[cfg(target_os = "linux")]
    crate::audio::alsa_log::route_to_tracing();
}

/// whisper.cpp and ONNX Runtime report every model load at info level; keep them at warn
/// unless the filter names them. The PulseAudio client logs every normal disconnect (each
/// utterance closes its stream) as an error; real output errors reach us through cpal.
fn quiet_libraries(filter: &str) -> String {
    let mut out = filter.to_string();
    // libasound's errors (`alsa`, see audio::alsa_log) are debug-level noise on a machine
    // without a sound card; the microphone's own warning says what is wrong.
    for (lib, level) in [
        ("whisper_rs", "warn"),
        ("ort", "warn"),
        ("pulseaudio", "off"),
        ("alsa", "info"),
    ] {
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
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let prio = priority(*event.metadata().level());
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

/// journald's native protocol socket.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// systemd sets `JOURNAL_STREAM=dev:inode` when it connects stderr to the journal; it stays in
/// the environment of children whose stderr was redirected, so the inode is compared.
fn stderr_is_the_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let stream = stream.to_string_lossy().into_owned();
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// Sends each event as one datagram of journal fields (the native protocol: `KEY=value`
/// lines, or `KEY\n<u64 LE length><bytes>\n` for values with a newline).
struct JournalLayer {
    socket: UnixDatagram,
}

/// The journal fields of a span, recorded when it is created.
struct SpanFields(Vec<(String, String)>);

impl JournalLayer {
    fn connect(path: &Path) -> Option<JournalLayer> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(path).ok()?;
        Some(JournalLayer { socket })
    }
}

/// A field name journald accepts: upper-case letters, digits and `_`, not starting with `_`
/// or a digit, at most 64 bytes.
fn journal_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c == '_' || c.is_ascii_digit()) {
        name.insert(0, 'F');
    }
    name.truncate(64);
    name
}

fn put(buf: &mut Vec<u8>, name: &str, value: &str) {
    buf.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
        buf.extend_from_slice(value.as_bytes());
    } else {
        buf.push(b'=');
        buf.extend_from_slice(value.as_bytes());
    }
    buf.push(b'\n');
}

/// Collects fields as (name, value); `message` apart.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(String, String)>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for JournalLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        // `turn{id}` → TURN_ID; a span's `name` field is the span itself: `stage{name}` → STAGE.
        let named = fields
            .fields
            .into_iter()
            .map(|(k, v)| {
                let key = if k == "name" {
                    span.name().to_string()
                } else {
                    format!("{}_{k}", span.name())
                };
                (journal_name(&key), v)
            })
            .collect();
        span.extensions_mut().insert(SpanFields(named));
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        let prio = priority(*meta.level());
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut buf = Vec::with_capacity(512);
        let mut message = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                message.push_str(span.name());
                message.push_str(": ");
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &f.0 {
                        put(&mut buf, k, v);
                    }
                }
            }
        }
        message.push_str(&fields.message);
        for (k, v) in &fields.fields {
            message.push_str(&format!(" {k}={v}"));
            put(&mut buf, &journal_name(k), v);
        }
        put(&mut buf, "MESSAGE", &message);
        put(&mut buf, "PRIORITY", &prio.to_string());
        put(&mut buf, "SYSLOG_IDENTIFIER", "skylark");
        put(&mut buf, "TARGET", meta.target());
        if let (Some(file), Some(line)) = (meta.file(), meta.line()) {
            put(&mut buf, "CODE_FILE", file);
            put(&mut buf, "CODE_LINE", &line.to_string());
        }
        if self.socket.send(&buf).is_err() {
            // Too big for a datagram, or journald is gone: the line still reaches stderr.
            let _ = writeln!(std::io::stderr(), "<{prio}>{message}");
        }
    }
}

fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn journal_datagram_carries_turn_stage_and_latency() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal");
        let journald = UnixDatagram::bind(&path).expect("bind");
        let layer = JournalLayer::connect(&path).expect("connect");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let turn = tracing::info_span!("turn", id = 7u64, kind = "ask");
            let _t = turn.enter();
            let stage = tracing::info_span!("stage", name = "transcribe");
            let _s = stage.enter();
            tracing::info!(latency_ms = 12.5, "stage done\nin two lines");
        });
        let mut buf = vec![0u8; 65536];
        let n = journald.recv(&mut buf).expect("a datagram");
        let got = &buf[..n];
        let text = String::from_utf8_lossy(got);
        for field in [
            "TURN_ID=7\n",
            "TURN_KIND=ask\n",
            "STAGE=transcribe\n",
            "LATENCY_MS=12.5\n",
            "PRIORITY=6\n",
            "SYSLOG_IDENTIFIER=skylark\n",
        ] {
            assert!(text.contains(field), "{field:?} missing from {text:?}");
        }
        // A message with a newline goes in the binary form: name, newline, length, bytes.
        let message = "turn: stage: stage done\nin two lines latency_ms=12.5";
        let mut binary = b"MESSAGE\n".to_vec();
        binary.extend_from_slice(&(message.len() as u64).to_le_bytes());
        binary.extend_from_slice(message.as_bytes());
        assert!(
            got.windows(binary.len()).any(|w| w == binary.as_slice()),
            "{text:?}"
        );
    }

    #[test]
    fn field_names_are_what_journald_accepts() {
        assert_eq!(journal_name("latency_ms"), "LATENCY_MS");
        assert_eq!(journal_name("_private"), "F_PRIVATE");
        assert_eq!(journal_name("2nd"), "F2ND");
        assert_eq!(journal_name("a.b"), "A_B");
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
            && self
                .last_ms
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
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
        assert_eq!(
            limit.suppressed.load(std::sync::atomic::Ordering::Relaxed),
            10_000
        );
    }
}
