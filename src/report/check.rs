//! The findings of `kubeharden check`: one per change `fix` would make and one per warning (and
//! one per suppression, which only SARIF shows), each with its place, rule and fingerprint,
//! and the two line formats for terminals (`FILE:LINE:COL: ID: message`) and GitHub workflow
//! commands.

use super::{FileReport, Report, Texts};
use crate::transform::{Change, FindingKind, describe};

/// How serious a finding is for the exit code and for SARIF's `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A change `fix` would make.
    Fix,
    /// A warning: a risk that was not fixed.
    Warning,
}

/// One finding of `check`.
#[derive(Debug, Clone)]
pub struct Issue<'r> {
    /// The file's index in the report.
    pub file: usize,
    /// The file's path, as the report names it.
    pub path: &'r str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters) of the line's first non-blank character; 1 when the
    /// text is unknown.
    pub column: usize,
    /// 1-based column just after the line's last character: the region ends there.
    pub end_column: usize,
    /// The transform, or [`crate::transform::WHOLE_WORKLOAD`].
    pub rule: &'r str,
    pub level: Level,
    /// What, on whom: `Deployment/web container app: set … to false (was true)`.
    pub message: String,
    /// The reason, when a suppression turned it off; `check` then does not count it.
    pub suppression: Option<String>,
    /// The change, for a finding of level [`Level::Fix`].
    pub change: Option<&'r Change>,
    /// A hash of what the finding is about, never of its place: the same finding keeps it when
    /// lines are added above it.
    pub fingerprint: String,
}

/// The findings of `report`, file by file in line order. `texts` is aligned with
/// `report.files` and gives columns where known.
pub fn issues<'r>(report: &'r Report, texts: &[Option<Texts>]) -> Vec<Issue<'r>> {
    let mut issues = Vec::new();
    for (index, file) in report.files.iter().enumerate() {
        let original = texts
            .get(index)
            .and_then(Option::as_ref)
            .map(|t| t.original.as_str());
        let lines: Vec<&str> = original.map_or_else(Vec::new, |text| text.lines().collect());
        let columns = |line: usize| columns(lines.get(line.wrapping_sub(1)).copied());
        let mut of_file = file_issues(index, file, columns);
        of_file.sort_by_key(|i| i.line);
        issues.extend(of_file);
    }
    issues
}

fn file_issues(
    index: usize,
    file: &FileReport,
    columns: impl Fn(usize) -> (usize, usize),
) -> Vec<Issue<'_>> {
    // The identity is the resource, the container, and what tells the finding from the others
    // there: a change's field, a warning's message (a warning has no field).
    let issue = |line: usize, rule, level, message, identity: [&str; 3]| Issue {
        file: index,
        path: &file.path,
        line,
        column: columns(line).0,
        end_column: columns(line).1,
        rule,
        level,
        message,
        suppression: None,
        change: None,
        fingerprint: fingerprint(&[&file.path, rule, identity[0], identity[1], identity[2]]),
    };
    let changes = file.changes.iter().map(|change| Issue {
        change: Some(change),
        ..issue(
            change.line,
            change.transform,
            Level::Fix,
            format!(
                "{}: {}",
                describe(&change.resource, change.container.as_deref()),
                what_changes(change)
            ),
            [
                &change.resource.label(),
                change.container.as_deref().unwrap_or(""),
                &change.path,
            ],
        )
    });
    let findings = file
        .findings
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::Warning | FindingKind::Suppressed))
        .map(|finding| Issue {
            suppression: (finding.kind == FindingKind::Suppressed).then(|| finding.message.clone()),
            ..issue(
                finding.line,
                finding.transform,
                Level::Warning,
                finding.to_string(),
                [
                    &finding.resource.label(),
                    finding.container.as_deref().unwrap_or(""),
                    &finding.message,
                ],
            )
        });
    changes.chain(findings).collect()
}

/// `set PATH to NEW (was OLD)`, `remove PATH (was OLD)`.
fn what_changes(change: &Change) -> String {
    let was = change
        .old
        .as_ref()
        .map_or(String::new(), |old| format!(" (was {old})"));
    match &change.new {
        Some(new) => format!("set {} to {new}{was}", change.path),
        None => format!("remove {}{was}", change.path),
    }
}

/// The 1-based columns of the first non-blank character of `line` and just after its last
/// one; 1 and 1 for an unknown line.
fn columns(line: Option<&str>) -> (usize, usize) {
    line.map_or((1, 1), |l| {
        let l = l.trim_end_matches('\r');
        let indent = l.chars().take_while(|c| *c == ' ' || *c == '\t').count();
        (indent + 1, l.chars().count() + 1)
    })
}

/// FNV-1a (64 bits) of the parts, each followed by a NUL, in hexadecimal: stable across runs,
/// platforms and Rust versions, unlike the standard library's hasher.
fn fingerprint(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `issue` counts (it is not suppressed).
pub fn counts(issue: &Issue<'_>) -> bool {
    issue.suppression.is_none()
}

/// The compiler-style line: `FILE:LINE:COL: ID: message`.
pub fn text_line(issue: &Issue<'_>) -> String {
    format!(
        "{}:{}:{}: {}: {}",
        issue.path, issue.line, issue.column, issue.rule, issue.message
    )
}

/// The GitHub workflow command that annotates the line: `::error file=…,line=…,col=…,title=ID::…`
/// for a change, `::warning …` for a warning.
pub fn github_line(issue: &Issue<'_>) -> String {
    let command = match issue.level {
        Level::Fix => "error",
        Level::Warning => "warning",
    };
    format!(
        "::{command} file={},line={},col={},title={}::{}",
        escape_property(issue.path),
        issue.line,
        issue.column,
        escape_property(issue.rule),
        escape_data(&issue.message)
    )
}

/// A workflow command's message, escaped as the runner reads it back.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: `:` and `,` separate properties, so they are escaped too.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_what_the_runner_reads_as_syntax() {
        assert_eq!(escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn fingerprints_depend_on_every_part_and_their_boundaries() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a"]), fingerprint(&["a"]));
        assert_eq!(fingerprint(&[]).len(), 16);
    }

    #[test]
    fn the_region_spans_the_line_from_its_first_non_blank_character() {
        assert_eq!(columns(Some("  b: é\r")), (3, 7));
        assert_eq!(columns(None), (1, 1));
    }
}
