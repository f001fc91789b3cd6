//! A Helm chart as one input of `fix`: rendered and fixed by [`crate::source::helm`], its
//! edited files diffed or written like plain files, one report per chart file it touches.

use std::path::{Path, PathBuf};

use super::{Emit, Outcome, Selection, files, inputs, output};
use crate::config::Config;
use crate::report::{FileReport, FileStatus, Texts};
use crate::source::helm::{self, Helm};
use crate::source::{Lifecycle, SourceEdit};
use crate::transform::Finding;

/// Fixes the chart in `chart` (in place when `emit` writes): one outcome per edited file, one
/// per template with findings, or one for the chart when there is neither; a single error
/// outcome when the chart cannot be fixed, with nothing written.
pub(super) fn process(
    chart: &Path,
    emit: Emit,
    config: &Config,
    selection: &Selection,
    limit: u64,
) -> Vec<Outcome> {
    let name = chart.to_string_lossy().into_owned();
    if config.excludes(chart) {
        return vec![Outcome {
            report: FileReport::empty(name, FileStatus::Excluded),
            stdout: Vec::new(),
            texts: None,
        }];
    }
    let values: &[PathBuf] = match selection.values.is_empty() {
        true => &config.values,
        false => &selection.values,
    };
    let named = selection.helm.as_deref().or(config.helm.as_deref());
    let fixed = Helm::find(named).and_then(|helm| {
        helm::fix_chart(&helm, chart, values, &config.settings)
            .map_err(|e| format!("chart {}", e.trim_end()))
    });
    let fix = match fixed {
        Ok(fix) => fix,
        Err(e) => {
            return vec![Outcome {
                report: FileReport::failed(name, e, None),
                stdout: Vec::new(),
                texts: None,
            }];
        }
    };
    let mut outcomes = edit_outcomes(&fix.edits, &[], fix.findings, emit, limit);
    if outcomes.is_empty() {
        outcomes.push(Outcome {
            report: FileReport::empty(name, FileStatus::Unchanged),
            stdout: Vec::new(),
            texts: None,
        });
    }
    outcomes
}

/// The outcomes of a rendered source's verified `edits` (each diffed, or written when still
/// as read) and of its `findings`, one report per file with findings but no edit.
pub(super) fn edit_outcomes(
    edits: &[SourceEdit],
    snapshots: &[(PathBuf, files::Snapshot)],
    findings: Vec<(PathBuf, Finding)>,
    emit: Emit,
    limit: u64,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for edit in edits {
        let path = edit.path.to_string_lossy().into_owned();
        let mut report = FileReport::empty(path.clone(), FileStatus::Changed);
        report.changes = edit.changes.clone();
        let shown = inputs::git_relative(&edit.path);
        let shown = shown.to_string_lossy();
        let written = match (emit.writes(), edit.lifecycle) {
            (false, _) => Ok(()),
            (true, Lifecycle::Created) => files::create_new(&edit.path, &edit.new),
            (true, Lifecycle::Deleted) => {
                delete_unchanged_since_read(&edit.path, &edit.original, limit)
            }
            (true, Lifecycle::Changed) => match snapshots.iter().find(|(p, _)| *p == edit.path) {
                Some((_, snapshot)) => {
                    files::write_atomically(&edit.path, snapshot, [edit.new.as_str()])
                }
                None => write_unchanged_since_read(&edit.path, &edit.original, &edit.new, limit),
            },
        };
        let stdout = if emit == Emit::Diff {
            vec![output::file_diff(
                &shown,
                &edit.original,
                &edit.new,
                edit.lifecycle,
            )]
        } else if let Err(e) = written {
            report = FileReport::failed(path, format!("{e:#}; the file was left as it was"), None);
            Vec::new()
        } else {
            Vec::new()
        };
        let texts = emit.keeps_texts().then(|| Texts {
            original: edit.original.clone(),
            new: Some(edit.new.clone()),
        });
        outcomes.push(Outcome {
            report,
            stdout,
            texts,
        });
    }
    let mut by_file: Vec<FileReport> = Vec::new();
    for (path, finding) in findings {
        let path = path.to_string_lossy().into_owned();
        if let Some(edited) = outcomes.iter_mut().find(|o| o.report.path == path) {
            edited.report.findings.push(finding);
            continue;
        }
        match by_file.iter_mut().find(|r| r.path == path) {
            Some(report) => report.findings.push(finding),
            None => {
                let mut report = FileReport::empty(path, FileStatus::Unchanged);
                report.findings.push(finding);
                by_file.push(report);
            }
        }
    }
    for mut report in by_file {
        report.findings.sort_by_key(|f| f.line);
        outcomes.push(Outcome {
            report,
            stdout: Vec::new(),
            texts: None,
        });
    }
    outcomes
}

/// Replaces the chart file at `path` with `new`, as plain files are replaced, provided it still
/// holds the `original` the chart was fixed from.
fn write_unchanged_since_read(
    path: &Path,
    original: &str,
    new: &str,
    limit: u64,
) -> anyhow::Result<()> {
    let snapshot = files::read_file(path, limit)?;
    if snapshot.bytes != original.as_bytes() {
        anyhow::bail!("it changed while kubeharden was working on it; run again");
    }
    files::write_atomically(path, &snapshot, [new])
}

/// Deletes the file at `path`, provided it still holds the `original` it was fixed from.
fn delete_unchanged_since_read(path: &Path, original: &str, limit: u64) -> anyhow::Result<()> {
    let snapshot = files::read_file(path, limit)?;
    if snapshot.bytes != original.as_bytes() {
        anyhow::bail!("it changed while kubeharden was working on it; run again");
    }
    std::fs::remove_file(path).map_err(anyhow::Error::from)
}

/// For a template named on its own: the chart holding it, to name instead.
pub(super) fn template_hint(template: &Path) -> Option<String> {
    let chart = template
        .ancestors()
        .skip(1)
        // A relative path's last ancestor is empty: the current folder.
        .map(|folder| match folder.as_os_str().is_empty() {
            true => Path::new("."),
            false => folder,
        })
        .find(|folder| helm::is_chart(folder))?
        .display();
    Some(format!(
        "a template of the Helm chart {chart}, not YAML; name the chart instead: kubeharden fix {chart}"
    ))
}
