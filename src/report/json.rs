//! The JSON report (`fix --format json`, `--report FILE`). Its shape is versioned: the schema
//! is `schema/report-v1.json`, a test validates reports against it, and a change that breaks
//! a consumer raises [`SCHEMA_VERSION`].

use serde::Serialize;

use super::{FileReport, Report, Totals, held_for_review, kind_name};
use crate::k8s::Resource;
use crate::transform::{Change, Finding};

/// The version of the report's shape; consumers check it before reading the rest.
pub const SCHEMA_VERSION: u32 = 1;

/// The report as pretty-printed JSON, ending with a line break.
pub fn to_json(report: &Report) -> String {
    let document = ReportJson {
        schema_version: SCHEMA_VERSION,
        tool: ToolJson {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        dry_run: report.dry_run,
        profile: &report.profile,
        files: report.files.iter().map(FileJson::from).collect(),
        totals: report.totals(),
    };
    // Every field is a string, a number, a bool or a list of them: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(Serialize)]
struct ReportJson<'r> {
    schema_version: u32,
    tool: ToolJson,
    dry_run: bool,
    profile: &'r str,
    files: Vec<FileJson<'r>>,
    totals: Totals,
}

#[derive(Serialize)]
struct ToolJson {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct FileJson<'r> {
    path: &'r str,
    status: &'static str,
    changes: Vec<ChangeJson<'r>>,
    findings: Vec<FindingJson<'r>>,
    error: Option<ErrorJson<'r>>,
}

impl<'r> From<&'r FileReport> for FileJson<'r> {
    fn from(file: &'r FileReport) -> Self {
        FileJson {
            path: &file.path,
            status: file.status.name(),
            changes: file.changes.iter().map(ChangeJson::from).collect(),
            findings: file.findings.iter().map(FindingJson::from).collect(),
            error: file.error.as_ref().map(|e| ErrorJson {
                message: &e.message,
                line: e.position.map(|p| p.line),
                column: e.position.map(|p| p.column),
            }),
        }
    }
}

#[derive(Serialize)]
struct ResourceJson<'r> {
    api_version: &'r str,
    kind: &'r str,
    namespace: Option<&'r str>,
    name: Option<&'r str>,
}

impl<'r> From<&'r Resource> for ResourceJson<'r> {
    fn from(resource: &'r Resource) -> Self {
        ResourceJson {
            api_version: &resource.api_version,
            kind: &resource.kind,
            namespace: resource.namespace.as_deref(),
            name: resource.name.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ChangeJson<'r> {
    document: usize,
    resource: ResourceJson<'r>,
    container: Option<&'r str>,
    transform: &'r str,
    path: &'r str,
    old: Option<&'r str>,
    new: Option<&'r str>,
    line: usize,
    held_for_review: bool,
}

impl<'r> From<&'r Change> for ChangeJson<'r> {
    fn from(change: &'r Change) -> Self {
        ChangeJson {
            document: change.document,
            resource: ResourceJson::from(&*change.resource),
            container: change.container.as_deref(),
            transform: change.transform,
            path: &change.path,
            old: change.old.as_deref(),
            new: change.new.as_deref(),
            line: change.line,
            held_for_review: held_for_review(change.transform),
        }
    }
}

#[derive(Serialize)]
struct FindingJson<'r> {
    kind: &'static str,
    document: usize,
    resource: ResourceJson<'r>,
    container: Option<&'r str>,
    transform: &'r str,
    line: usize,
    message: &'r str,
}

impl<'r> From<&'r Finding> for FindingJson<'r> {
    fn from(finding: &'r Finding) -> Self {
        FindingJson {
            kind: kind_name(finding.kind),
            document: finding.document,
            resource: ResourceJson::from(&*finding.resource),
            container: finding.container.as_deref(),
            transform: finding.transform,
            line: finding.line,
            message: &finding.message,
        }
    }
}

#[derive(Serialize)]
struct ErrorJson<'r> {
    message: &'r str,
    line: Option<usize>,
    column: Option<usize>,
}
