//! The command line: `kubeharden fix [--dry-run] [PATH...]`.

pub mod docs;
mod inputs;
mod output;

/// The unified diff `--dry-run` prints for one changed file; public for the throughput bench.
pub use output::unified_diff;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config, Overrides};
use crate::fix;
use crate::transform::{FindingKind, Profile};
use inputs::Input;

/// Hardens Kubernetes manifests with minimal, reviewable edits.
#[derive(Debug, Parser)]
#[command(name = "kubeharden", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fix manifests in place, or print the fixes as a unified diff with --dry-run.
    Fix(FixArgs),
    /// List the transforms: id, profile, safety and title.
    Transforms,
    /// Explain a transform: why it matters, its references, options and an example.
    Explain {
        /// The transform's id, as `kubeharden transforms` lists it.
        id: String,
    },
}

#[derive(Debug, Args)]
struct FixArgs {
    /// Write nothing; print a unified diff (apply it with `git apply` or `patch -p1`).
    #[arg(long)]
    dry_run: bool,
    /// When to colour the diff.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// The set of transforms: `default`, or `restricted` for the Pod Security Standards
    /// restricted level [default: default, or the configuration file's].
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    /// Use this configuration file instead of the `.kubeharden.yaml` nearest to each input.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Run only these transforms (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Do not run these transforms (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Files, folders (walked for .yaml, .yml and .json, honouring .gitignore), or - for
    /// standard input to standard output.
    #[arg(default_value = ".")]
    paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    /// On a terminal only.
    Auto,
    Always,
    Never,
}

/// What became of one input.
enum Status {
    Unchanged,
    Changed,
    HelmSkipped,
    Excluded,
    Failed,
}

struct Outcome {
    status: Status,
    /// The diff (dry run) or the fixed text (standard input) to print on stdout.
    stdout: Option<String>,
    /// Error and warning lines for stderr.
    stderr: Vec<String>,
    /// How many warnings, notes, skips and suppressions were reported.
    counts: FindingCounts,
}

#[derive(Default, Clone, Copy)]
struct FindingCounts {
    warnings: usize,
    notes: usize,
    skipped: usize,
    suppressed: usize,
}

fn parse_profile(name: &str) -> Result<Profile, String> {
    Profile::named(name).ok_or_else(|| {
        let names: Vec<&str> = Profile::ALL.iter().map(|(n, _)| *n).collect();
        format!(
            "unknown profile `{name}`; the profiles are: {}",
            names.join(", ")
        )
    })
}

/// Runs the command line and returns the exit code: 0 nothing left to change or all written,
/// 1 a dry run found changes, 2 some input could not be processed.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Fix(args) => run_fix(&args),
        Command::Transforms => {
            print!("{}", docs::transform_table());
            ExitCode::SUCCESS
        }
        Command::Explain { id } => match crate::transform::find(&id) {
            Some(transform) => {
                print!("{}", docs::explain(transform));
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: {}", crate::transform::unknown_transform(&id));
                ExitCode::from(2)
            }
        },
    }
}

fn run_fix(args: &FixArgs) -> ExitCode {
    let overrides = Overrides {
        profile: args.profile,
        only: args.only.clone(),
        skip: args.skip.clone(),
    };
    if let Some(unknown) = args
        .only
        .iter()
        .chain(&args.skip)
        .find(|id| crate::transform::find(id).is_none())
    {
        eprintln!("error: {}", crate::transform::unknown_transform(unknown));
        return ExitCode::from(2);
    }
    let (inputs, walk_errors) = inputs::collect(&args.paths);
    let configs = match configs_for(&inputs, args.config.as_deref(), &overrides) {
        Ok(configs) => configs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let pool = rayon::ThreadPoolBuilder::new().stack_size(16 << 20).build();
    let work: Vec<(&Input, &Config)> = inputs.iter().zip(configs.iter().map(Arc::as_ref)).collect();
    let process = |(input, config): &(&Input, &Config)| process(input, args.dry_run, config);
    let outcomes: Vec<Outcome> = match &pool {
        Ok(pool) => pool.install(|| work.par_iter().map(process).collect()),
        Err(_) => work.iter().map(process).collect(),
    };

    let colour = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal(),
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    for line in &walk_errors {
        let _ = writeln!(stderr, "error: {line}");
    }
    let (mut changed, mut failed, mut helm, mut excluded) = (0, walk_errors.len(), 0, 0);
    let mut counts = FindingCounts::default();
    for outcome in &outcomes {
        match outcome.status {
            Status::Unchanged => {}
            Status::Changed => changed += 1,
            Status::HelmSkipped => helm += 1,
            Status::Excluded => excluded += 1,
            Status::Failed => failed += 1,
        }
        counts.warnings += outcome.counts.warnings;
        counts.notes += outcome.counts.notes;
        counts.skipped += outcome.counts.skipped;
        counts.suppressed += outcome.counts.suppressed;
        if let Some(text) = &outcome.stdout {
            let text = if colour && args.dry_run {
                output::colorize(text)
            } else {
                text.clone()
            };
            let _ = stdout.write_all(text.as_bytes());
        }
        for line in &outcome.stderr {
            let _ = writeln!(stderr, "{line}");
        }
    }
    let _ = stdout.flush();
    let verb = if args.dry_run {
        "would change"
    } else {
        "changed"
    };
    let mut summary = format!(
        "kubeharden: {} file{} scanned, {changed} {verb}, {failed} error{}",
        outcomes.len(),
        plural(outcomes.len()),
        plural(failed)
    );
    for (n, what) in [
        (helm, "Helm template{} skipped"),
        (excluded, "excluded by configuration"),
        (counts.warnings, "warning{}"),
        (counts.notes, "note{}"),
        (counts.skipped, "fix{} skipped"),
        (counts.suppressed, "suppressed"),
    ] {
        if n > 0 {
            let what = what.replace(
                "{}",
                if what.starts_with("fix") && n != 1 {
                    "es"
                } else {
                    plural(n)
                },
            );
            summary.push_str(&format!(", {n} {what}"));
        }
    }
    let _ = writeln!(stderr, "{summary}");
    if failed > 0 {
        ExitCode::from(2)
    } else if args.dry_run && changed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The configuration of each input: the one named with `--config`, or the nearest
/// `.kubeharden.yaml` (standard input looks from the current folder), each file read once.
fn configs_for(
    inputs: &[Input],
    named: Option<&Path>,
    overrides: &Overrides,
) -> Result<Vec<Arc<Config>>, String> {
    if let Some(path) = named {
        let config = Arc::new(Config::load(path, overrides)?);
        return Ok(vec![config; inputs.len()]);
    }
    let mut loaded: HashMap<Option<PathBuf>, Arc<Config>> = HashMap::new();
    inputs
        .iter()
        .map(|input| {
            let found = match input {
                Input::Stdin => config::discover(Path::new(".")),
                Input::Named(path) | Input::Found(path) => config::discover(path),
            };
            if let Some(config) = loaded.get(&found) {
                return Ok(config.clone());
            }
            let config = Arc::new(match &found {
                Some(path) => Config::load(path, overrides)?,
                None => Config::from_overrides(overrides)?,
            });
            loaded.insert(found, config.clone());
            Ok(config)
        })
        .collect()
}

fn process(input: &Input, dry_run: bool, config: &Config) -> Outcome {
    let name = input.display();
    if let Input::Named(path) | Input::Found(path) = input
        && config.excludes(path)
    {
        return Outcome {
            status: Status::Excluded,
            stdout: None,
            stderr: Vec::new(),
            counts: FindingCounts::default(),
        };
    }
    let settings = &config.settings;
    // `place` is `:LINE:COL` when the problem has a position.
    let failed = |place: String, message: String| Outcome {
        status: Status::Failed,
        stdout: None,
        stderr: vec![format!("error: {name}{place}: {message}")],
        counts: FindingCounts::default(),
    };
    let bytes = match read(input) {
        Ok(bytes) => bytes,
        Err(e) => return failed(String::new(), e.to_string()),
    };
    let fixed = match fix::fix_bytes(&bytes, settings) {
        Ok(fixed) => fixed,
        Err(e) if e.is_helm_template() && matches!(input, Input::Found(_)) => {
            return Outcome {
                status: Status::HelmSkipped,
                stdout: None,
                stderr: Vec::new(),
                counts: FindingCounts::default(),
            };
        }
        Err(e) => {
            let place = e.position().map_or(String::new(), |p| format!(":{p}"));
            return failed(place, e.to_string());
        }
    };
    let mut counts = FindingCounts::default();
    let mut stderr = Vec::new();
    for finding in &fixed.findings {
        let label = match finding.kind {
            FindingKind::Warning => {
                counts.warnings += 1;
                "warning"
            }
            FindingKind::Note => {
                counts.notes += 1;
                "note"
            }
            FindingKind::Skipped => {
                counts.skipped += 1;
                "skipped"
            }
            FindingKind::Suppressed => {
                counts.suppressed += 1;
                continue;
            }
        };
        stderr.push(format!(
            "{label}: {name}:{}: {}: {}",
            finding.line, finding.transform, finding
        ));
    }
    // The input was valid UTF-8, or fixing it would have failed.
    let original = String::from_utf8_lossy(&bytes);
    let outcome = |status, stdout| Outcome {
        status,
        stdout,
        stderr: stderr.clone(),
        counts,
    };
    let Some(new) = fixed.output else {
        let stdout = (*input == Input::Stdin && !dry_run).then(|| original.into_owned());
        return outcome(Status::Unchanged, stdout);
    };
    if dry_run {
        return outcome(
            Status::Changed,
            Some(output::unified_diff(&name, &original, &new)),
        );
    }
    match input {
        Input::Stdin => outcome(Status::Changed, Some(new)),
        Input::Named(path) | Input::Found(path) => match output::write_atomically(path, &new) {
            Ok(()) => outcome(Status::Changed, None),
            Err(e) => failed(String::new(), format!("{e:#}; the file was left as it was")),
        },
    }
}

fn read(input: &Input) -> std::io::Result<Vec<u8>> {
    match input {
        Input::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes)?;
            Ok(bytes)
        }
        Input::Named(path) | Input::Found(path) => std::fs::read(path),
    }
}
