//! `skylark daemon [--system]`: the engine served on D-Bus until SIGTERM / SIGINT.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use skylark::dbus::{Bus, Service};
use skylark::engine::{Engine, EngineConfig};

use super::Context;

/// How long running turns get to end at shutdown; the whole stop stays within 2 s.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1200);

pub fn run(ctx: &Context, system: bool) -> Result<ExitCode> {
    let config = ctx.config();
    let bus = if system || config.dbus.bus == "system" {
        Bus::System
    } else {
        Bus::Session
    };
    let recognizer = super::recognize::load_recognizer(
        &config
            .nlu
            .intents
            .iter()
            .map(Into::into)
            .collect::<Vec<_>>(),
        true,
    )?;
    let engine_config = EngineConfig::from_config(config).context("config")?;
    let max_pending = config.dbus.max_pending_calls;
    // Models load before the name is taken: a client that sees the name can use them.
    let stages = skylark::speech::load_stages(config, &ctx.models_dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("skylark")
        .build()
        .context("cannot start the async runtime")?;
    let code = rt.block_on(async move {
        if !recognizer.supports(&engine_config.language) {
            tracing::warn!(language = %engine_config.language, "no intent grammar for the configured language; using the first one loaded");
        }
        let engine = Engine::new(engine_config, recognizer, stages);
        tracing::info!(intents = engine.intents().len(), language = %engine.language(), "intent grammar loaded");
        let service = match Service::start(engine.clone(), bus, max_pending).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skylark daemon: {e}");
                return ExitCode::from(1);
            }
        };
        let code = tokio::select! {
            why = shutdown_signal() => {
                tracing::info!("{why}: stopping");
                ExitCode::SUCCESS
            }
            _ = service.closed() => {
                eprintln!("skylark daemon: lost the connection to the D-Bus {} bus; stopping", bus.as_str());
                ExitCode::from(1)
            }
        };
        engine.shutdown(SHUTDOWN_GRACE).await;
        service.stop().await;
        code
    });
    // Blocking stages (speech) may still hold a thread; do not wait for them past the grace.
    rt.shutdown_timeout(Duration::from_millis(300));
    Ok(code)
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
