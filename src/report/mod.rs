//! What a run did, file by file, and the two ways it is handed on: the JSON report for
//! machines ([`json`], its schema in `schema/report-v1.json`) and the Markdown body of a pull
//! request for reviewers ([`markdown`]); `kubeharden check` gives them as one finding per
//! change or warning ([`check`]), in the SARIF of code scanning too ([`sarif`]).

pub mod check;
pub mod json;
pub mod markdown;
pub mod sarif;

use crate::transform::{Change, ChangeCounts, Finding, FindingKind, Safety};
use crate::yaml::Position;

/// What became of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Nothing to change.
    Unchanged,
    /// Changed, or would be with `--dry-run`.
    Changed,
    /// A Helm template met while walking a folder, skipped.
    HelmSkipped,
    /// Excluded by the configuration's `exclude` globs.
    Excluded,
    /// Could not be processed; nothing was written.
    Error,
}

impl FileStatus {
    /// The name the report gives it.
    pub fn name(self) -> &'static str {
        match self {
            FileStatus::Unchanged => "unchanged",
            FileStatus::Changed => "changed",
            FileStatus::HelmSkipped => "helm-skipped",
            FileStatus::Excluded => "excluded",
            FileStatus::Error => "error",
        }
    }
}

/// Why an input could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// One line: what is wrong and what to do.
    pub message: String,
    /// Where, when the problem has a place in the text.
    pub position: Option<Position>,
}

/// One input: its name as given (or as found in a folder), what changed and what was found.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given on the command line or found under a folder; `-` for standard input.
    pub path: String,
    pub status: FileStatus,
    pub changes: Vec<Change>,
    /// The changes counted and not listed in `changes`, by transform: a run whose outputs
    /// show no change one by one keeps only their number.
    pub unlisted: ChangeCounts,
    /// Warnings, notes, skips and suppressions, in line order.
    pub findings: Vec<Finding>,
    /// Set when `status` is [`FileStatus::Error`].
    pub error: Option<FileError>,
}

impl FileReport {
    /// A report for an input that was not processed.
    pub fn failed(path: String, message: String, position: Option<Position>) -> FileReport {
        FileReport {
            path,
            status: FileStatus::Error,
            changes: Vec::new(),
            unlisted: ChangeCounts::default(),
            findings: Vec::new(),
            error: Some(FileError { message, position }),
        }
    }

    /// A report for an input left aside (`HelmSkipped`, `Excluded`) or with nothing found.
    pub fn empty(path: String, status: FileStatus) -> FileReport {
        FileReport {
            path,
            status,
            changes: Vec::new(),
            unlisted: ChangeCounts::default(),
            findings: Vec::new(),
            error: None,
        }
    }
}

/// An input's text before the fix and, when the fix changes it, after: kept by `check` for the
/// columns of its findings and the edits that SARIF `fixes` carry.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    /// The text as read.
    pub original: String,
    /// The text `fix` would write, when it would change the file.
    pub new: Option<String>,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether the run wrote nothing (`--dry-run`): `changed` then means "would change".
    pub dry_run: bool,
    /// The profile named on the command line or in the configuration of the first input.
    pub profile: String,
    /// Every input, in the order processed (paths as given, folders in path order).
    pub files: Vec<FileReport>,
}

/// The counts of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub files: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub errors: usize,
    pub helm_skipped: usize,
    pub excluded: usize,
    pub changes: usize,
    pub warnings: usize,
    pub notes: usize,
    pub skipped: usize,
    pub suppressed: usize,
    /// Changes of transforms that need review: held back from a merge until someone looked.
    pub held_for_review: usize,
}

impl Totals {
    /// Counts `findings` by kind.
    pub fn add_findings(&mut self, findings: &[Finding]) {
        for finding in findings {
            match finding.kind {
                FindingKind::Warning => self.warnings += 1,
                FindingKind::Note => self.notes += 1,
                FindingKind::Skipped => self.skipped += 1,
                FindingKind::Suppressed => self.suppressed += 1,
            }
        }
    }
}

impl Report {
    /// The counts over every file.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            files: self.files.len(),
            ..Totals::default()
        };
        for file in &self.files {
            match file.status {
                FileStatus::Unchanged => totals.unchanged += 1,
                FileStatus::Changed => totals.changed += 1,
                FileStatus::HelmSkipped => totals.helm_skipped += 1,
                FileStatus::Excluded => totals.excluded += 1,
                FileStatus::Error => totals.errors += 1,
            }
            let listed = file.changes.iter().map(|c| (c.transform, 1));
            for (transform, count) in listed.chain(file.unlisted.by_transform()) {
                totals.changes += count;
                if held_for_review(transform) {
                    totals.held_for_review += count;
                }
            }
            totals.add_findings(&file.findings);
        }
        totals
    }
}

/// Whether the changes of the transform `id` are held for review: it may break the workload
/// (`needs-review`), unlike the transforms whose changes are safe to merge as they are.
pub fn held_for_review(id: &str) -> bool {
    crate::transform::find(id).is_some_and(|t| t.safety == Safety::NeedsReview)
}

/// `"s"` unless `n` is 1: the plural ending for counts in messages.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The name of a finding's kind, as the report and the command line print it.
pub fn kind_name(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Warning => "warning",
        FindingKind::Note => "note",
        FindingKind::Skipped => "skipped",
        FindingKind::Suppressed => "suppressed",
    }
}
