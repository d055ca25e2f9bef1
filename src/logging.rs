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
    let wanted = std::env::var("SKYLARK_LOG")
        .ok()
        .filter(|f| EnvFilter::try_new(f).is_ok());
    let filter = EnvFilter::try_new(quiet_libraries(wanted.as_deref().unwrap_or(level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = match format {
        "journal" => true,
        "human" => false,
        // systemd sets JOURNAL_STREAM when stderr is connected to the journal.
        _ => std::env::var_os("JOURNAL_STREAM").is_some(),
    };
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
}

/// whisper.cpp and ONNX Runtime report every model load at info level; keep them at warn
/// unless the filter names them. The PulseAudio client logs every normal disconnect (each
/// utterance closes its stream) as an error; real output errors reach us through cpal.
fn quiet_libraries(filter: &str) -> String {
    let mut out = filter.to_string();
    for (lib, level) in [
        ("whisper_rs", "warn"),
        ("ort", "warn"),
        ("pulseaudio", "off"),
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
