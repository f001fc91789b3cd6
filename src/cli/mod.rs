//! The command line: `kubeharden fix [--dry-run] [PATH...]`.

mod inputs;
mod output;

/// The unified diff `--dry-run` prints for one changed file; public for the throughput bench.
pub use output::unified_diff;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

use crate::fix;
use crate::transform::{self, Transform};
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
}

#[derive(Debug, Args)]
struct FixArgs {
    /// Write nothing; print a unified diff (apply it with `git apply` or `patch -p1`).
    #[arg(long)]
    dry_run: bool,
    /// When to colour the diff.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
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
    Failed,
}

struct Outcome {
    status: Status,
    /// The diff (dry run) or the fixed text (standard input) to print on stdout.
    stdout: Option<String>,
    /// Error and warning lines for stderr.
    stderr: Vec<String>,
}

/// Runs the command line and returns the exit code: 0 nothing left to change or all written,
/// 1 a dry run found changes, 2 some input could not be processed.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Fix(args) => run_fix(&args),
    }
}

fn run_fix(args: &FixArgs) -> ExitCode {
    let transforms: Vec<&'static Transform> = transform::all().iter().collect();
    let (inputs, walk_errors) = inputs::collect(&args.paths);
    let pool = rayon::ThreadPoolBuilder::new().stack_size(16 << 20).build();
    let process = |input: &Input| process(input, args.dry_run, &transforms);
    let outcomes: Vec<Outcome> = match &pool {
        Ok(pool) => pool.install(|| inputs.par_iter().map(process).collect()),
        Err(_) => inputs.iter().map(process).collect(),
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
    let (mut changed, mut failed, mut helm) = (0, walk_errors.len(), 0);
    for outcome in &outcomes {
        match outcome.status {
            Status::Unchanged => {}
            Status::Changed => changed += 1,
            Status::HelmSkipped => helm += 1,
            Status::Failed => failed += 1,
        }
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
    if helm > 0 {
        summary.push_str(&format!(", {helm} Helm template{} skipped", plural(helm)));
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

fn process(input: &Input, dry_run: bool, transforms: &[&'static Transform]) -> Outcome {
    let name = input.display();
    let failed = |message: String| Outcome {
        status: Status::Failed,
        stdout: None,
        stderr: vec![format!("error: {name}: {message}")],
    };
    let bytes = match read(input) {
        Ok(bytes) => bytes,
        Err(e) => return failed(e.to_string()),
    };
    let fixed = match fix::fix_bytes(&bytes, transforms) {
        Ok(fixed) => fixed,
        Err(e) if e.is_helm_template() && matches!(input, Input::Found(_)) => {
            return Outcome {
                status: Status::HelmSkipped,
                stdout: None,
                stderr: Vec::new(),
            };
        }
        Err(e) => {
            let place = e.position().map_or(String::new(), |p| format!(":{p}"));
            return Outcome {
                status: Status::Failed,
                stdout: None,
                stderr: vec![format!("error: {name}{place}: {e}")],
            };
        }
    };
    let stderr: Vec<String> = fixed
        .warnings
        .iter()
        .map(|w| format!("warning: {name}:{}: {}: {}", w.line, w.transform, w.message))
        .collect();
    // The input was valid UTF-8, or fixing it would have failed.
    let original = String::from_utf8_lossy(&bytes);
    let Some(new) = fixed.output else {
        let stdout = (*input == Input::Stdin && !dry_run).then(|| original.into_owned());
        return Outcome {
            status: Status::Unchanged,
            stdout,
            stderr,
        };
    };
    if dry_run {
        return Outcome {
            status: Status::Changed,
            stdout: Some(output::unified_diff(&name, &original, &new)),
            stderr,
        };
    }
    match input {
        Input::Stdin => Outcome {
            status: Status::Changed,
            stdout: Some(new),
            stderr,
        },
        Input::Named(path) | Input::Found(path) => match output::write_atomically(path, &new) {
            Ok(()) => Outcome {
                status: Status::Changed,
                stdout: None,
                stderr,
            },
            Err(e) => failed(format!("{e:#}; the file was left as it was")),
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
