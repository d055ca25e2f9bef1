//! Subcommands: each translates arguments into library calls and prints results. stdout
//! carries results (parsable where asked), stderr carries logs and errors.

mod ask;
mod bench;
mod daemon;
mod install;
mod listen;
mod models;
mod recognize;
mod speech;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use skylark::config::{self, Config};

use crate::{Cli, Command, ConfigAction};

pub struct Context {
    pub loaded: config::Loaded,
    pub models_dir: PathBuf,
}

impl Context {
    pub fn config(&self) -> &Config {
        &self.loaded.config
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let loaded = config::load(cli.config.as_deref())?;
    skylark::logging::init(&loaded.config.log.level, &loaded.config.log.format);
    let models_dir = cli
        .models_dir
        .clone()
        .unwrap_or_else(|| loaded.config.models_dir());
    let ctx = Context { loaded, models_dir };
    match cli.command {
        Command::Models { action } => models::run(&ctx, action),
        Command::Doctor => doctor(&ctx),
        Command::Config {
            action: ConfigAction::Show,
        } => {
            if let Some(p) = &ctx.loaded.path {
                println!("# from {}", p.display());
            } else {
                println!("# built-in defaults (no config file found)");
            }
            print!("{}", ctx.config().to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon { system } => daemon::run(&ctx, system),
        Command::Install(args) => install::install(&args),
        Command::Uninstall(args) => install::uninstall(&args),
        Command::Recognize(args) => recognize::run(&ctx, args),
        Command::Transcribe { file, lang } => speech::transcribe(&ctx, &file, lang.as_deref()),
        Command::Say { text, lang, out } => {
            speech::say(&ctx, &text, lang.as_deref(), out.as_deref())
        }
        Command::Ask {
            text,
            lang,
            no_speak,
        } => ask::run(&ctx, &text, lang.as_deref(), no_speak),
        Command::Listen => listen::run(&ctx),
        Command::Stats { json, system } => stats::run(json, system),
        Command::Bench {
            json,
            quick,
            out,
            chart,
        } => bench::run(
            &ctx,
            bench::BenchArgs {
                json,
                quick,
                out,
                chart,
            },
        ),
    }
}

/// The async runtime of an in-process subcommand (`ask`, `listen`).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn doctor(ctx: &Context) -> Result<ExitCode> {
    use skylark::doctor::Status;
    let manifest = skylark::models::Manifest::builtin()?;
    let mut loaded = ctx.loaded.clone();
    loaded.config.models.dir = ctx.models_dir.display().to_string();
    let findings = skylark::doctor::run(&loaded, &manifest);
    let mut failed = false;
    for f in &findings {
        let tag = match f.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => {
                failed = true;
                "FAIL"
            }
        };
        println!("{tag}  {:<28} {}", f.what, f.detail);
        if let Some(fix) = &f.fix {
            println!("      {:<28} fix: {fix}", "");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
