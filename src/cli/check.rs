//! `kubeharden check [PATH...]`: the run of `fix --dry-run`, told as findings for CI (one per
//! change and per warning) in text, JSON, SARIF or GitHub workflow commands; writes nothing.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{Emit, Selection, Wanted, docs, fix_paths, nothing_found_hint, stderr_lines, summary};
use crate::report::check::{self, Issue, Level};
use crate::report::{self, Report, Texts};

#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    #[command(flatten)]
    selection: Selection,
    /// How the findings are printed on standard output.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// Which findings make the exit code 1: any (`warning`), only changes `fix` would make
    /// (`fix`), or none (`never`: 0 unless an input could not be processed).
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    fail_on: FailOn,
    /// Files, folders (walked for .yaml, .yml and .json files that git would list), or - for
    /// standard input.
    #[arg(default_value = ".")]
    paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    /// `FILE:LINE:COL: ID: message`, one finding a line.
    Text,
    /// The JSON report (schema: schema/report-v1.json).
    Json,
    /// SARIF 2.1.0, for code scanning, with the edits of `fix` as fixes.
    Sarif,
    /// GitHub workflow commands (`::error file=…`) that annotate the lines in a pull request.
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// Any change `fix` would make, and any warning.
    Warning,
    /// Only changes `fix` would make.
    Fix,
    /// Nothing: only errors fail.
    Never,
}

/// Runs `check`: 0 nothing to report, 1 findings (as `--fail-on` counts them), 2 an input
/// could not be processed.
pub(super) fn run(args: &CheckArgs) -> ExitCode {
    let run = match fix_paths(
        &args.paths,
        &args.selection,
        Wanted::listed(Emit::Texts),
        &[],
        None,
    ) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let walked = run.unreadable.len();
    let mut texts: Vec<Option<Texts>> = vec![None; walked];
    let mut files = run.unreadable;
    for outcome in run.outcomes {
        texts.push(outcome.texts);
        files.push(outcome.report);
    }
    let report = Report {
        dry_run: true,
        profile: run.profile.to_string(),
        files,
    };
    let mut stderr = std::io::stderr().lock();
    for line in report.files.iter().flat_map(errors_only) {
        let _ = writeln!(stderr, "{line}");
    }
    let issues = check::issues(&report, &texts);
    let counted: Vec<&Issue<'_>> = issues.iter().filter(|i| check::counts(i)).collect();
    let output = match args.format {
        CheckFormat::Text => lines(&counted, check::text_line),
        CheckFormat::Github => lines(&counted, check::github_line),
        CheckFormat::Json => report::json::to_json(&report),
        CheckFormat::Sarif => {
            let help = report::sarif::RuleHelp {
                text: &docs::explain,
                url: &docs::reference_url,
            };
            report::sarif::to_sarif(&report, &texts, &help)
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(output.as_bytes());
    let _ = stdout.flush();
    let totals = report.totals();
    let _ = writeln!(stderr, "{}", summary(&totals, walked, run.skipped, true));
    if totals.files == 0 {
        let _ = writeln!(stderr, "{}", nothing_found_hint(&args.paths));
    }
    let fails = |issue: &&&Issue<'_>| match args.fail_on {
        FailOn::Warning => true,
        FailOn::Fix => issue.level == Level::Fix,
        FailOn::Never => false,
    };
    if totals.errors > 0 {
        ExitCode::from(2)
    } else if counted.iter().any(|issue| fails(&issue)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The error line of a file that could not be processed; its findings go to stdout.
fn errors_only(file: &report::FileReport) -> Vec<String> {
    match file.error {
        Some(_) => stderr_lines(file),
        None => Vec::new(),
    }
}

fn lines(issues: &[&Issue<'_>], line: fn(&Issue<'_>) -> String) -> String {
    issues.iter().map(|i| line(i) + "\n").collect()
}
