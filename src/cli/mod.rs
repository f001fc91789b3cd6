//! The command line: `kubeharden fix [--dry-run] [PATH...]`, `kubeharden check`,
//! `kubeharden pr`, and the docs commands.

mod chart;
mod check;
pub mod docs;
mod files;
mod inputs;
mod kustomize;
mod network_policy;
mod output;
mod pr;
mod rbac;

/// The unified diff `--dry-run` prints for one changed file; public for the throughput bench.
pub use inputs::is_manifest_path;
pub use output::{unified_diff, written_diff};

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config, Overrides};
use crate::fix::{self, ChangeDetail};
use crate::folders::SameFolder;
use crate::k8s::rbac::FileBinding;
use crate::report::{self, FileReport, FileStatus, Report, Texts, Totals, plural};
use crate::transform::{Finding, FindingKind, Profile};
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
    /// Report what `fix` would change and warn about, for CI: text, JSON, SARIF or GitHub
    /// annotations; writes nothing.
    Check(check::CheckArgs),
    /// List the transforms: id, profile, safety and title.
    Transforms,
    /// Commit the fixes on a branch and open or update a GitHub pull request for them.
    Pr(pr::PrArgs),
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
    #[command(flatten)]
    selection: Selection,
    /// What stdout gets: the diff (with --dry-run) or nothing, or the JSON report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the JSON report to FILE (schema: schema/report-v1.json); `-` is standard
    /// output, when nothing else goes there. FILE must not be an input.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Also write a pull-request description in Markdown to FILE; `-` is standard output, when
    /// nothing else goes there. FILE must not be an input.
    #[arg(long, value_name = "FILE")]
    pr_body: Option<PathBuf>,
    /// Files, folders (walked for .yaml, .yml and .json files that git would list), or - for
    /// standard input to standard output.
    #[arg(default_value = ".")]
    paths: Vec<String>,
}

/// Which transforms run, with which configuration, on inputs up to which size: shared by `fix`
/// and `pr`.
#[derive(Debug, Args)]
struct Selection {
    /// The set of transforms: `default`, `restricted` for the Pod Security Standards
    /// restricted level, or `strict`: restricted, fixing explicit host access even where the
    /// workload shows evidence of needing it [default: default, or the configuration file's].
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
    /// Refuse inputs larger than SIZE: bytes, or with a unit K, M or G [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = files::parse_size)]
    max_file_size: Option<u64>,
    /// The helm binary that renders charts [default: the configuration's `helm:`, else
    /// $KUBEHARDEN_HELM, else helm on PATH].
    #[arg(long, value_name = "PATH")]
    helm: Option<PathBuf>,
    /// A values file charts are deployed with (repeatable): each one is a rendering that must
    /// come out hardened, besides the chart's defaults [default: the configuration's `values:`].
    #[arg(long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
    /// The kubectl binary that builds kustomizations [default: the configuration's
    /// `kubectl:`, else $KUBEHARDEN_KUBECTL, else kubectl on PATH].
    #[arg(long, value_name = "PATH")]
    kubectl: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The unified diff with --dry-run; findings and the summary on stderr.
    Text,
    /// The JSON report (schema: schema/report-v1.json) in place of the diff.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    /// On a terminal only.
    Auto,
    Always,
    Never,
}

/// What a run does with each input it fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// Writes the fixes in place (standard input's to standard output).
    Write,
    /// Writes nothing and prints a diff of each change (`fix --dry-run`).
    Diff,
    /// Writes nothing and keeps, for each input, the text read and the text `fix` would write,
    /// with which `check` places its findings and SARIF fixes. No diff is made.
    Texts,
}

impl Emit {
    /// `Write`, or `Diff` for a dry run.
    fn of_fix(dry_run: bool) -> Emit {
        if dry_run { Emit::Diff } else { Emit::Write }
    }

    /// Whether the run writes the fixes.
    fn writes(self) -> bool {
        self == Emit::Write
    }

    /// Whether the run keeps the texts read and fixed, for `check`.
    fn keeps_texts(self) -> bool {
        self == Emit::Texts
    }
}

/// What a run asks of each input: what to emit, and how much of its changes to keep.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    emit: Emit,
    changes: ChangeDetail,
}

impl Wanted {
    /// `emit`, with each change listed: for the reports, `check` and pull requests.
    fn listed(emit: Emit) -> Wanted {
        Wanted {
            emit,
            changes: ChangeDetail::Listed,
        }
    }
}

/// What became of one input, and what to print for it on stdout.
struct Outcome {
    report: FileReport,
    /// The diff (dry run) or the fixed text (standard input), in pieces printed one after
    /// the other; none when nothing is printed.
    stdout: Vec<String>,
    /// For `check`, the text read and the text `fix` would write: it places its findings and
    /// SARIF fixes with them.
    texts: Option<Texts>,
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
        Command::Check(args) => check::run(&args),
        Command::Pr(args) => pr::run(&args),
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

/// What fixing a list of paths gave: the paths that could not be read, and each input's
/// outcome, in order.
struct Run {
    unreadable: Vec<FileReport>,
    outcomes: Vec<Outcome>,
    /// The symbolic links and special files that walks left alone.
    skipped: inputs::Skipped,
    /// The profile of the run, for the report.
    profile: Profile,
}

/// Fixes `paths` (in place when `wanted` writes) with the transforms `selection` picks, the inputs
/// in parallel; an error for an unknown transform, a bad configuration file, standard input
/// named twice, or one of the `outputs` (each with its option's name) that is also an input.
/// With `within`, symbolic links named on the command line must lead inside it. Plain files
/// and loose kustomization files keep the changes `wanted` asks for.
fn fix_paths(
    paths: &[String],
    selection: &Selection,
    wanted: Wanted,
    outputs: &[(&str, &Path)],
    within: Option<&Path>,
) -> Result<Run, String> {
    if let Some(unknown) = selection
        .only
        .iter()
        .chain(&selection.skip)
        .find(|id| crate::transform::find(id).is_none())
    {
        return Err(crate::transform::unknown_transform(unknown));
    }
    let overrides = Overrides {
        profile: selection.profile,
        only: selection.only.clone(),
        skip: selection.skip.clone(),
    };
    let inputs::Collected {
        inputs,
        unreadable,
        skipped,
    } = inputs::collect(paths, within)?;
    refuse_outputs_among(&inputs, outputs)?;
    let limit = selection
        .max_file_size
        .unwrap_or(files::DEFAULT_MAX_FILE_SIZE);
    let pool = rayon::ThreadPoolBuilder::new().stack_size(16 << 20).build();
    // Read on first need: only a configuration that runs the RBAC rules needs another pass
    // over the run's files. What it reads is kept, within a bound, for fixing them.
    let read_first: std::cell::OnceCell<rbac::FilesRead> = std::cell::OnceCell::new();
    let read_bindings = || -> Arc<[FileBinding]> {
        read_first
            .get_or_init(|| match &pool {
                Ok(pool) => pool.install(|| rbac::read_files(&inputs, limit)),
                Err(_) => rbac::read_files(&inputs, limit),
            })
            .bindings
            .clone()
    };
    let configs = configs_for(
        &inputs,
        selection.config.as_deref(),
        &overrides,
        &read_bindings,
    )?;
    let mut kept = read_first
        .into_inner()
        .map(|read| read.kept)
        .unwrap_or_default()
        .into_iter();
    let work: Vec<(&Input, &Config, Option<files::Snapshot>)> = inputs
        .iter()
        .zip(configs.iter().map(Arc::as_ref))
        .map(|(input, config)| (input, config, kept.next().flatten()))
        .collect();
    let unseen = |outcomes: Vec<Outcome>| -> Vec<(Outcome, Option<network_policy::Seen>)> {
        outcomes.into_iter().map(|o| (o, None)).collect()
    };
    let process = |(input, config, read): (&Input, &Config, Option<files::Snapshot>)| match input {
        Input::Chart(chart) => unseen(chart::process(chart, wanted.emit, config, selection, limit)),
        Input::Kustomize(tree) => {
            unseen(kustomize::process(tree, wanted, config, selection, limit))
        }
        _ => vec![process_seen(input, read, wanted, config, limit)],
    };
    let processed: Vec<(Outcome, Option<network_policy::Seen>)> = match &pool {
        Ok(pool) => pool.install(|| work.into_par_iter().flat_map_iter(process).collect()),
        Err(_) => work.into_iter().flat_map(process).collect(),
    };
    let (mut outcomes, seen): (Vec<Outcome>, Vec<_>) = processed.into_iter().unzip();
    network_policy::write_policies(&mut outcomes, seen, wanted.emit);
    Ok(Run {
        unreadable: unreadable
            .into_iter()
            .map(|(path, message)| FileReport::failed(path, message, None))
            .collect(),
        outcomes,
        skipped,
        profile: selection
            .profile
            .or_else(|| configs.first().map(|c| c.settings.profile))
            .unwrap_or(Profile::Default),
    })
}

fn run_fix(args: &FixArgs) -> ExitCode {
    if args.format == Format::Json && !args.dry_run && args.paths.iter().any(|p| p == "-") {
        eprintln!(
            "error: `-` writes the fixed text on standard output, where --format json would print the report; use --report FILE instead"
        );
        return ExitCode::from(2);
    }
    if let Err(e) = check_stdout_outputs(args) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let outputs: Vec<(&str, &Path)> = [("--report", &args.report), ("--pr-body", &args.pr_body)]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
        .filter(|(_, path)| *path != Path::new(STDOUT))
        .collect();
    // The summary line counts the changes; only the reports show each one.
    let changes =
        match args.format == Format::Text && args.report.is_none() && args.pr_body.is_none() {
            true => ChangeDetail::Counted,
            false => ChangeDetail::Listed,
        };
    let wanted = Wanted {
        emit: Emit::of_fix(args.dry_run),
        changes,
    };
    let run = match fix_paths(&args.paths, &args.selection, wanted, &outputs, None) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let colour = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal(),
    };
    let mut stdout = std::io::stdout().lock();
    // Standard error is unbuffered: a line per finding would be several writes each; a
    // file's lines are written at once.
    let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
    let walked = run.unreadable.len();
    let skipped = run.skipped;
    let mut files = run.unreadable;
    for line in files.iter().flat_map(stderr_lines) {
        let _ = writeln!(stderr, "{line}");
    }
    for outcome in run.outcomes {
        for text in outcome
            .stdout
            .iter()
            .filter(|_| args.format == Format::Text)
        {
            let _ = match colour && args.dry_run {
                true => stdout.write_all(output::colorize(text).as_bytes()),
                false => stdout.write_all(text.as_bytes()),
            };
        }
        for line in stderr_lines(&outcome.report) {
            let _ = writeln!(stderr, "{line}");
        }
        // A file's findings follow its diff on a terminal.
        let _ = stderr.flush();
        files.push(outcome.report);
    }
    let report = Report {
        dry_run: args.dry_run,
        profile: run.profile.to_string(),
        files,
    };
    if args.format == Format::Json {
        let _ = stdout.write_all(report::json::to_json(&report).as_bytes());
    }
    let _ = stdout.flush();
    let mut write_failed = false;
    for (path, text) in [
        (&args.report, report::json::to_json as fn(&Report) -> String),
        (&args.pr_body, report::markdown::pr_body),
    ] {
        let Some(path) = path else { continue };
        let written = if path == Path::new(STDOUT) {
            stdout
                .write_all(text(&report).as_bytes())
                .and_then(|()| stdout.flush())
        } else {
            std::fs::write(path, text(&report))
        };
        if let Err(e) = written {
            let _ = writeln!(stderr, "error: cannot write {}: {e}", path.display());
            write_failed = true;
        }
    }
    let totals = report.totals();
    let _ = writeln!(
        stderr,
        "{}",
        summary(&totals, walked, skipped, args.dry_run)
    );
    if totals.files == 0 {
        let _ = writeln!(stderr, "{}", nothing_found_hint(&args.paths));
    }
    let _ = stderr.flush();
    // Freeing every change and finding one by one takes longer than the end of the process.
    std::mem::forget(report);
    if totals.errors > 0 || write_failed {
        ExitCode::from(2)
    } else if args.dry_run && totals.changed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The lines stderr gets for one input: its error, or its findings but suppressions.
fn stderr_lines(file: &FileReport) -> Vec<String> {
    if let Some(error) = &file.error {
        let place = error.position.map_or(String::new(), |p| format!(":{p}"));
        return vec![format!("error: {}{place}: {}", file.path, error.message)];
    }
    let shown = |f: &&Finding| f.kind != FindingKind::Suppressed;
    let line = |f: &Finding| {
        format!(
            "{}: {}:{}: {}: {f}",
            report::kind_name(f.kind),
            file.path,
            f.line,
            f.transform
        )
    };
    // A large stream has tens of thousands of findings, printed once all its work is done:
    // they are formatted on every core. Each file's lines are asked for from the main thread,
    // outside the walk's pool, so a file with few findings is not worth a task.
    match file.findings.len() >= PARALLEL_FINDINGS {
        true => file.findings.par_iter().filter(shown).map(line).collect(),
        false => file.findings.iter().filter(shown).map(line).collect(),
    }
}

/// From how many findings a file's stderr lines are formatted on every core: handing each
/// file's lines to the pool cost the 14,460-file tree 7% of its time.
const PARALLEL_FINDINGS: usize = 4096;

/// The last line: how many files, what became of them, what was found, what walks left
/// alone. `walked` of the errors are paths that could not be read at all, not scanned.
fn summary(totals: &Totals, walked: usize, skipped: inputs::Skipped, dry_run: bool) -> String {
    let verb = if dry_run { "would change" } else { "changed" };
    let scanned = totals.files - walked;
    let mut summary = format!(
        "kubeharden: {scanned} file{} scanned, {} {verb}, {} error{}",
        plural(scanned),
        totals.changed,
        totals.errors,
        plural(totals.errors)
    );
    for (n, what) in [
        (totals.helm_skipped, "Helm template{} skipped"),
        (totals.excluded, "excluded by configuration"),
        (skipped.links, "symbolic link{} skipped"),
        (skipped.special, "special file{} skipped"),
        (totals.warnings, "warning{}"),
        (totals.notes, "note{}"),
        (totals.skipped, "fix{} skipped"),
        (totals.suppressed, "suppressed"),
        (totals.held_for_review, "change{} held for review"),
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
    summary
}

/// The line after a summary of no file at all: where manifests are looked for.
pub(crate) fn nothing_found_hint(paths: &[String]) -> String {
    format!(
        "hint: no manifest found in {}: folders are walked for .yaml, .yml and .json files that git tracks or does not ignore (outside git, that no .gitignore inside the folder excludes); name a file to fix it regardless",
        paths.join(" ")
    )
}

/// The configuration of each input: the one named with `--config`, or the nearest
/// `.kubeharden.yaml` (standard input looks from the current folder), each file read once;
/// each that runs the RBAC rules with the `bindings` of the run's files.
fn configs_for(
    inputs: &[Input],
    named: Option<&Path>,
    overrides: &Overrides,
    bindings: &dyn Fn() -> Arc<[FileBinding]>,
) -> Result<Vec<Arc<Config>>, String> {
    let with_bindings = |mut config: Config| {
        let runs_rbac_rules = config
            .settings
            .transforms
            .iter()
            .any(|t| t.scope == crate::transform::Scope::Rbac);
        if runs_rbac_rules {
            config.settings.bindings = bindings();
        }
        Arc::new(config)
    };
    if let Some(path) = named {
        let config = with_bindings(Config::load(path, overrides)?);
        return Ok(vec![config; inputs.len()]);
    }
    let mut loaded: HashMap<Option<PathBuf>, Arc<Config>> = HashMap::new();
    let mut discovery = config::Discovery::default();
    let mut folders = SameFolder::default();
    inputs
        .iter()
        .map(|input| {
            let found = match input {
                Input::Chart(chart) => discovery.discover(chart),
                Input::Kustomize(tree) => discovery.discover(&tree.root),
                _ => match input.file() {
                    Some(file) => folders.answer(file, |file| discovery.discover_for_file(file)),
                    None => discovery.discover(Path::new(".")),
                },
            };
            if let Some(config) = loaded.get(&found) {
                return Ok(config.clone());
            }
            let config = with_bindings(match &found {
                Some(path) => Config::load(path, overrides)?,
                None => Config::from_overrides(overrides)?,
            });
            loaded.insert(found, config.clone());
            Ok(config)
        })
        .collect()
}

/// What `--report` and `--pr-body` take to mean standard output.
const STDOUT: &str = "-";

/// An error when `--report -` or `--pr-body -` would print on a standard output that already
/// carries something: the diff of `--dry-run`, the report of `--format json`, the fixed text of
/// a `-` input, or the other of the two.
fn check_stdout_outputs(args: &FixArgs) -> Result<(), String> {
    let to_stdout = |path: &Option<PathBuf>| path.as_deref() == Some(Path::new(STDOUT));
    let mut taken = if args.format == Format::Json {
        Some("the JSON report of --format json")
    } else if args.dry_run {
        Some("the diff of --dry-run (use --format json for the report in its place)")
    } else if args.paths.iter().any(|p| p == "-") {
        Some("the fixed text of the `-` input")
    } else {
        None
    };
    for (flag, path, what) in [
        ("--report", &args.report, "the JSON report of --report -"),
        ("--pr-body", &args.pr_body, "the description of --pr-body -"),
    ] {
        if !to_stdout(path) {
            continue;
        }
        if let Some(taken) = taken {
            return Err(format!(
                "{flag} - would print on standard output, which already carries {taken}; write it to a FILE"
            ));
        }
        taken = Some(what);
    }
    Ok(())
}

/// An error naming the first of `outputs` (each with its option's name) that is the same file
/// as one of `inputs`, or as another output: writing it would destroy what was read.
fn refuse_outputs_among(inputs: &[Input], outputs: &[(&str, &Path)]) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let identity = |path: &Path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    for (at, (flag, output)) in outputs.iter().enumerate() {
        let Some(written) = identity(output) else {
            continue;
        };
        if let Some(input) = inputs.iter().find(|input| {
            input
                .file()
                .is_some_and(|path| identity(path) == Some(written))
        }) {
            return Err(format!(
                "{flag} {} is the input {}; writing it would replace the manifest, so nothing was done: choose another file",
                output.display(),
                input.display()
            ));
        }
        if let Some((other, _)) = outputs[..at]
            .iter()
            .find(|(_, earlier)| identity(earlier) == Some(written))
        {
            return Err(format!(
                "{flag} {} is also the file of {other}; choose two files",
                output.display()
            ));
        }
    }
    Ok(())
}

/// Fixes one plain input as `wanted`.
fn process(input: &Input, wanted: Wanted, config: &Config, limit: u64) -> Outcome {
    process_seen(input, None, wanted, config, limit).0
}

/// Fixes one plain input as `wanted`, `read` already or read now; with it, what the input holds for
/// `default-deny-network-policy` when its configuration runs that transform.
fn process_seen(
    input: &Input,
    read: Option<files::Snapshot>,
    wanted: Wanted,
    config: &Config,
    limit: u64,
) -> (Outcome, Option<network_policy::Seen>) {
    let emit = wanted.emit;
    let name = input.display();
    let outcome = |report: FileReport, stdout: Vec<String>| Outcome {
        report,
        stdout,
        texts: None,
    };
    let failed = |message: String, position| {
        outcome(
            FileReport::failed(name.clone(), message, position),
            Vec::new(),
        )
    };
    let (snapshot, fixed) = match fix_input(input, read, wanted.changes, config, limit) {
        Ok(read_and_fixed) => read_and_fixed,
        Err(instead) => return (*instead, None),
    };
    let fix::Fixed {
        output: fixed_text,
        changes,
        unlisted,
        findings,
    } = fixed;
    // Each way out reports once: the changes and findings move into the report.
    let report = |status| FileReport {
        path: name.clone(),
        status,
        changes,
        unlisted,
        findings,
        error: None,
    };
    let original = fixed_text_of(&snapshot.bytes);
    let seen = network_policy::Seen::of(input, &original, &config.settings);
    let Some(new) = fixed_text else {
        let stdout = (input.file().is_none() && emit.writes())
            .then(|| original.clone().into_owned())
            .into_iter()
            .collect();
        let texts = emit.keeps_texts().then(|| Texts {
            original: original.into_owned(),
            new: None,
        });
        let outcome = Outcome {
            texts,
            ..outcome(report(FileStatus::Unchanged), stdout)
        };
        return (outcome, seen);
    };
    if !emit.writes() {
        let diff = match emit {
            Emit::Diff => output::written_diff(&input.diff_path(), &original, &new),
            _ => Vec::new(),
        };
        let outcome = Outcome {
            texts: emit.keeps_texts().then(|| Texts {
                new: Some(new.text(&original)),
                original: original.into_owned(),
            }),
            ..outcome(report(FileStatus::Changed), diff)
        };
        return (outcome, seen);
    }
    let outcome = match input.file() {
        None => outcome(report(FileStatus::Changed), vec![new.text(&original)]),
        // In pieces: the new text of a large stream need not be built whole.
        Some(path) => match files::write_atomically(path, &snapshot, new.pieces(&original)) {
            Ok(()) => outcome(report(FileStatus::Changed), Vec::new()),
            Err(e) => failed(format!("{e:#}; the file was left as it was"), None),
        },
    };
    (outcome, seen)
}

/// Reads `input` (unless it was `read` already) and fixes it as a plain file, keeping `changes`
/// as asked: what was read and the fix, or the outcome to report instead (excluded,
/// unreadable, a Helm template met in a walk, not fixable).
fn fix_input(
    input: &Input,
    read: Option<files::Snapshot>,
    changes: ChangeDetail,
    config: &Config,
    limit: u64,
) -> Result<(files::Snapshot, fix::Fixed), Box<Outcome>> {
    let name = input.display();
    let outcome = |report: FileReport| {
        Box::new(Outcome {
            report,
            stdout: Vec::new(),
            texts: None,
        })
    };
    if let Some(path) = input.file()
        && config.excludes(path)
    {
        return Err(outcome(FileReport::empty(name, FileStatus::Excluded)));
    }
    let snapshot = match read {
        Some(snapshot) => snapshot,
        None => read_input(input, limit)
            .map_err(|e| outcome(FileReport::failed(name.clone(), e.to_string(), None)))?,
    };
    match fix::fix_bytes(&snapshot.bytes, &config.settings, changes) {
        Ok(fixed) => Ok((snapshot, fixed)),
        Err(e) if e.is_helm_template() && matches!(input, Input::Found(_)) => {
            Err(outcome(FileReport::empty(name, FileStatus::HelmSkipped)))
        }
        Err(e) => {
            let hint = match input {
                Input::Named(file) if e.is_helm_template() => chart::template_hint(&file.path),
                _ => None,
            };
            let message = hint.unwrap_or_else(|| e.to_string());
            Err(outcome(FileReport::failed(name, message, e.position())))
        }
    }
}

/// The text of an input that was fixed, so valid UTF-8 (or fixing it would have failed):
/// `from_utf8` checks it a word at a time, where `from_utf8_lossy` looks at every byte.
fn fixed_text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    std::str::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Into::into)
}

/// Reads `input`, at most `limit` bytes.
fn read_input(input: &Input, limit: u64) -> std::io::Result<files::Snapshot> {
    match input {
        Input::Stdin => files::read_stdin(limit),
        Input::Stream(path) => files::read_file(path, limit),
        Input::Named(file) | Input::Found(file) => files::read_file(&file.path, limit),
        // A chart is rendered as a whole (`chart::process`), never read as one file.
        Input::Chart(path) => files::read_file(path, limit),
        // A tree is fixed file by file (`kustomize::process`).
        Input::Kustomize(tree) => files::read_file(&tree.root, limit),
    }
}
