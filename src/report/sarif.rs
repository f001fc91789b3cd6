//! SARIF 2.1.0 for code scanning (`kubeharden check --format sarif`): one rule per transform,
//! one result per finding of [`super::check`], suppressed findings with their `suppressions`,
//! and the edit `fix` would write as the `fixes` of the change it is nearest to. Output is
//! validated against `schema/sarif-schema-2.1.0.json` by the tests.

use std::ops::Range;

use serde_json::{Value, json};

use super::check::{Issue, Level, issues};
use super::{Report, Texts};
use crate::transform::{self, Profile, Safety, Transform};

/// Where a rule's documentation comes from: the report knows the transforms, not their docs.
pub struct RuleHelp<'h> {
    /// A transform's help text (`kubeharden explain`).
    pub text: &'h dyn Fn(&Transform) -> String,
    /// The address of a transform's documentation, from its id.
    pub url: &'h dyn Fn(&str) -> String,
}

/// The SARIF log of `report`, ending with a line break. `texts` is aligned with `report.files`;
/// `help` documents each rule.
pub fn to_sarif(report: &Report, texts: &[Option<Texts>], help: &RuleHelp<'_>) -> String {
    let issues = issues(report, texts);
    let mut fixes = vec![Vec::new(); issues.len()];
    for (file, text) in texts.iter().enumerate() {
        if let Some(Texts {
            original,
            new: Some(new),
        }) = text
        {
            for replacement in replacements(original, new) {
                if let Some(nearest) = nearest_change(&issues, file, replacement.line) {
                    fixes[nearest].push(replacement);
                }
            }
        }
    }
    let results: Vec<Value> = issues
        .iter()
        .zip(fixes)
        .map(|(issue, fix)| result(issue, &fix))
        .collect();
    let notifications: Vec<Value> = report
        .files
        .iter()
        .filter_map(|file| {
            let error = file.error.as_ref()?;
            Some(json!({
                "level": "error",
                "message": { "text": format!("{}: {}", file.path, error.message) },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": uri(&file.path) },
                    "region": { "startLine": error.position.map_or(1, |p| p.line) },
                }}],
            }))
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kubeharden/kubeharden",
                "rules": transform::all().iter().map(|t| rule(t, help)).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "properties": { "profile": report.profile },
            "results": results,
        }],
    });
    // Strings, numbers and lists only: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
    text.push('\n');
    text
}

/// How GitHub ranks a rule's alerts (7.0 and above is "high", 4.0 to 6.9 "medium"): the
/// transforms of the default profile guard against escapes to the node, those of the stricter
/// profiles and the opt-in ones harden further.
fn security_severity(transform: &Transform) -> &'static str {
    match transform.profile {
        Profile::Default => "7.0",
        Profile::Restricted | Profile::Strict | Profile::OptIn => "4.0",
    }
}

fn rule(transform: &Transform, help: &RuleHelp<'_>) -> Value {
    let level = match transform.safety {
        Safety::ReportOnly => "warning",
        Safety::Safe | Safety::NeedsReview => "error",
    };
    json!({
        "id": transform.id,
        "name": transform.id,
        "shortDescription": { "text": transform.title },
        "fullDescription": { "text": transform.why.trim() },
        "help": { "text": (help.text)(transform) },
        "helpUri": (help.url)(&transform.id),
        "defaultConfiguration": { "level": level },
        "properties": {
            "security-severity": security_severity(transform),
            "tags": ["security", "kubernetes"],
            "profile": transform.profile.to_string(),
            "safety": transform.safety.to_string(),
        },
    })
}

fn result(issue: &Issue<'_>, fix: &[Replacement]) -> Value {
    let mut result = json!({
        "ruleId": issue.rule,
        "level": match issue.level { Level::Fix => "error", Level::Warning => "warning" },
        "message": { "text": issue.message },
        "locations": [{ "physicalLocation": {
            "artifactLocation": { "uri": uri(issue.path) },
            "region": {
                "startLine": issue.line,
                "startColumn": issue.column,
                "endLine": issue.line,
                "endColumn": issue.end_column,
            },
        }}],
        "partialFingerprints": { "kubeharden/v1": issue.fingerprint },
    });
    if let Some(index) = transform::all().iter().position(|t| t.id == issue.rule) {
        result["ruleIndex"] = json!(index);
    }
    if let Some(reason) = &issue.suppression {
        result["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
    }
    if !fix.is_empty() {
        result["fixes"] = json!([{
            "description": { "text": "the edit kubeharden fix writes" },
            "artifactChanges": [{
                "artifactLocation": { "uri": uri(issue.path) },
                "replacements": fix.iter().map(|r| json!({
                    "deletedRegion": { "byteOffset": r.offset, "byteLength": r.length },
                    "insertedContent": { "text": r.text },
                })).collect::<Vec<_>>(),
            }],
        }]);
    }
    result
}

/// Bytes `offset..offset + length` of the original replaced by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Replacement {
    /// The 1-based line of the original where it starts.
    line: usize,
    offset: usize,
    length: usize,
    text: String,
}

/// The replacements that turn `original` into `new`: the changed runs of whole lines, as the
/// `--dry-run` diff shows them, so applied together they give exactly `new`.
fn replacements(original: &str, new: &str) -> Vec<Replacement> {
    let old_lines: Vec<&str> = original.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let starts = |lines: &[&str]| -> Vec<usize> {
        std::iter::once(0)
            .chain(lines.iter().scan(0, |at, line| {
                *at += line.len();
                Some(*at)
            }))
            .collect()
    };
    let (old_starts, new_starts) = (starts(&old_lines), starts(&new_lines));
    // Adjacent deletions and insertions make one replacement.
    let mut runs: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old_lines, &new_lines);
    for op in ops.iter().filter(|op| op.tag() != similar::DiffTag::Equal) {
        let (old, added) = (op.old_range(), op.new_range());
        match runs.last_mut() {
            Some((o, a)) if o.end == old.start && a.end == added.start => {
                o.end = old.end;
                a.end = added.end;
            }
            _ => runs.push((old, added)),
        }
    }
    runs.into_iter()
        .map(|(old, added)| Replacement {
            line: old.start + 1,
            offset: old_starts[old.start],
            length: old_starts[old.end] - old_starts[old.start],
            text: new[new_starts[added.start]..new_starts[added.end]].to_owned(),
        })
        .collect()
}

/// The change of file `file` whose line is nearest to `line` (the first of equals). `issues`
/// are in file order, so the file's own are found by bisection.
fn nearest_change(issues: &[Issue<'_>], file: usize, line: usize) -> Option<usize> {
    let start = issues.partition_point(|i| i.file < file);
    let end = issues.partition_point(|i| i.file <= file);
    (start..end)
        .filter(|&index| issues[index].change.is_some())
        .min_by_key(|&index| issues[index].line.abs_diff(line))
}

/// A path as a SARIF URI reference: relative paths stay relative (without `./`), absolute
/// ones become `file://` URIs; bytes outside the unreserved set and `/` are percent-encoded.
fn uri(path: &str) -> String {
    let relative = path.trim_start_matches("./");
    let mut out = String::from(if path.starts_with('/') { "file://" } else { "" });
    for byte in relative.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_applied_give_the_new_text() {
        let original = "a: 1\nb: 2\nc: 3\n";
        let new = "a: 1\nb: 5\nx: 0\nc: 3\nd: 4\n";
        let mut text = original.to_owned();
        for r in replacements(original, new).iter().rev() {
            text.replace_range(r.offset..r.offset + r.length, &r.text);
        }
        assert_eq!(text, new);
    }

    #[test]
    fn uris_are_relative_and_percent_encoded() {
        assert_eq!(uri("./a b/c.yaml"), "a%20b/c.yaml");
        assert_eq!(uri("/tmp/x.yaml"), "file:///tmp/x.yaml");
    }
}
