//! `skylark daemon [--system]`: the engine served on D-Bus until SIGTERM / SIGINT.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use skylark::assistant::{Assistant, BuildOptions};
use skylark::dbus::{Bus, Service};
use skylark::engine::Engine;
use skylark::listen::{Listener, WakeLoop};
use skylark::systemd::Notifier;
use std::sync::Arc;

use super::Context;

/// How long running turns get to end at shutdown; the whole stop stays within 2 s.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1200);

pub fn run(ctx: &Context, system: bool) -> Result<ExitCode> {
    // Before the threads that run requests exist: memory returns after a request.
    skylark::alloc::tune();
    let config = ctx.config();
    let models_dir = ctx.models_dir.clone();
    let bus = if system || config.dbus.bus == "system" {
        Bus::System
    } else {
        Bus::Session
    };
    // systemd: READY=1 once the name is owned and the models are loaded, STATUS= on the way,
    // WATCHDOG=1 while the engine answers its probe (see skylark::systemd).
    let notifier = Notifier::from_env().unwrap_or_else(|e| {
        tracing::warn!("{e}; readiness and watchdog messages are not sent");
        Notifier::default()
    });
    notifier.status("loading the intent grammar and the speech models");
    // The lite LLM and the semantic tier load on threads of their own from now on, beside the
    // grammar and the speech models (on two cores the whole start then takes about as long as
    // its longest load, the LLM's, instead of the sum); until they are ready (or if they are
    // missing) the grammar answers alone. READY=1 waits for them.
    let language_models = skylark::assistant::LanguageModels::spawn(config, &models_dir);
    // The speech models load before the name is taken: a client that sees the name can use them.
    let assistant = skylark::assistant::build(config, &models_dir, BuildOptions::device())?;
    let limits = skylark::dbus::Limits::from_config(&config.dbus);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("skylark")
        .build()
        .context("cannot start the async runtime")?;
    let code = rt.block_on(async move {
        let Assistant { engine, listener, .. } = assistant;
        tracing::info!(intents = engine.intents().len(), language = %engine.language(), "intent grammar loaded");
        let _wake_loop = start_wake_word(&engine, ctx, listener);
        // The watchdog pings as soon as the engine exists: systemd enforces WatchdogSec= from
        // READY=1 on, and the engine can answer its probe from here.
        let _watchdog = skylark::systemd::watchdog_timeout().map(|timeout| {
            tracing::debug!(?timeout, "systemd watchdog on");
            AbortOnDrop(tokio::spawn(skylark::systemd::watchdog(engine.clone(), notifier.clone(), timeout)))
        });
        // The semantic tier builds its index for the engine's language as it is installed,
        // so the first request does not wait for it; off the reactor.
        let models_loaded = {
            let (engine, config) = (engine.clone(), config.clone());
            tokio::task::spawn_blocking(move || {
                language_models.join().install(&engine, &config);
                // The loads overlapped: scale their memory figures to what they added in all.
                engine.settle_memory();
            })
        };
        notifier.status(&format!("connecting to the {} bus", bus.as_str()));
        let service = match Service::start(engine.clone(), bus, limits).await {
            Ok(s) => s,
            Err(e) => {
                notifier.status(&format!("failed: {e}"));
                eprintln!("skylark daemon: {e}");
                return ExitCode::from(1);
            }
        };
        notifier.status("loading the language models");
        let _ = models_loaded.await;
        let serving = format!("serving on the {} bus", bus.as_str());
        notifier.ready(&format!("{serving}: {}", engine.state().as_str()));
        tracing::info!(
            llm = engine.has_llm(),
            notify = notifier.is_active(),
            "ready"
        );
        let _status = AbortOnDrop(tokio::spawn(skylark::systemd::report_status(
            engine.clone(),
            notifier.clone(),
            serving,
        )));
        let _stall = stall_hook(&engine, &notifier);
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
        notifier.stopping("stopping: cancelling the running turns");
        engine.shutdown(SHUTDOWN_GRACE).await;
        service.stop().await;
        code
    });
    // Blocking stages (speech) may still hold a thread; do not wait for them past the grace.
    rt.shutdown_timeout(Duration::from_millis(300));
    Ok(code)
}

/// Aborts a background task when the daemon's main future ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Test hook, outside the contract: with `SKYLARK_TEST_STALL_ENGINE=MS`, MS milliseconds after
/// READY=1 the engine's state is locked for good ([`Engine::stall`]) and `STATUS=` says so, so
/// tests/systemd_notify.rs can check that a hung engine stops the watchdog pings. Only whoever
/// sets the service's environment can use it, and they can stop the service anyway.
fn stall_hook(engine: &Engine, notifier: &Notifier) -> Option<AbortOnDrop> {
    let value = std::env::var(skylark::engine::STALL_HOOK).ok()?;
    let Ok(ms) = value.trim().parse::<u64>() else {
        tracing::warn!(
            "{}={value:?} is not a number of milliseconds; ignored",
            skylark::engine::STALL_HOOK
        );
        return None;
    };
    let (engine, notifier) = (engine.clone(), notifier.clone());
    Some(AbortOnDrop(tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let _ = tokio::task::spawn_blocking(move || {
            engine.stall();
            notifier.status(&format!(
                "engine stalled by {} (test hook)",
                skylark::engine::STALL_HOOK
            ));
        })
        .await;
    })))
}

/// Turns wake-word listening on when configured, and starts the loop that serves it (it idles
/// while `WakeWordEnabled` is off, so D-Bus clients can turn it on later).
pub(super) fn start_wake_word(
    engine: &Engine,
    ctx: &Context,
    listener: Option<Arc<Listener>>,
) -> Option<WakeLoop> {
    let listener = listener?;
    if ctx.config().wakeword.enabled {
        if let Err(e) = engine.set_wake_word_enabled(true) {
            tracing::warn!("wakeword.enabled is set but {e}");
        }
    }
    Some(WakeLoop::spawn(engine.clone(), listener))
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
