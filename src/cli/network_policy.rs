//! The step across inputs of `default-deny-network-policy`: once every plain input is fixed,
//! each namespace with workloads and no NetworkPolicy in any of them gets one, in a new file
//! beside its first workload (under `--dry-run`, the diff of a new file).

use std::path::{Path, PathBuf};

use crate::k8s::Resource;
use crate::report::{FileReport, FileStatus};
use crate::source::Lifecycle;
use crate::transform::network_policy::{self, ID, Inventory, POLICY_NAME, PolicyOptions};
use crate::transform::{self, Change, Finding, FindingKind, Settings};

use super::inputs::{Input, git_relative};
use super::{Emit, Outcome, files, output};

/// What one plain input holds for the transform, under the options of its configuration.
pub(super) struct Seen {
    /// The file; `None` for standard input and streams, which have no folder for a new file.
    file: Option<PathBuf>,
    inventory: Inventory,
    options: PolicyOptions,
}

impl Seen {
    /// What `input`, read as `source`, holds, when `settings` run the transform.
    pub(super) fn of(input: &Input, source: &str, settings: &Settings) -> Option<Seen> {
        let options = PolicyOptions::of(settings)?;
        Some(Seen {
            file: input.file().map(Path::to_path_buf),
            inventory: Inventory::of(source, &settings.kinds),
            options,
        })
    }
}

/// A workload standing for its namespace: the index of its input's outcome, the workload and
/// its line.
type Standing<'s> = (usize, &'s Resource, usize);

/// Adds the outcome of each new file to `outcomes` (whose inputs `seen` describes, index for
/// index), and the findings about namespaces left without a policy to their inputs' outcomes.
pub(super) fn write_policies(outcomes: &mut Vec<Outcome>, seen: Vec<Option<Seen>>, emit: Emit) {
    let present: Vec<(usize, &Seen)> = seen
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.as_ref()?)))
        .collect();
    let Some(transform) = transform::find(ID) else {
        return;
    };
    let id: &'static str = &transform.id;
    let inventories: Vec<&Inventory> = present.iter().map(|(_, s)| &s.inventory).collect();
    // The new files, each with whether it denies egress and the namespaces it covers.
    let mut planned: Vec<(PathBuf, bool, Vec<Standing<'_>>)> = Vec::new();
    for (index, workload, line) in network_policy::namespaces_without_policy(&inventories) {
        let (outcome, seen) = present[index];
        let report = |outcomes: &mut Vec<Outcome>, kind, message: String| {
            outcomes[outcome]
                .report
                .findings
                .push(finding(id, workload, line, kind, message));
        };
        let Some(file) = &seen.file else {
            let message = format!(
                "{} has no NetworkPolicy in the input; {ID} writes one into a new file beside the workloads, and standard input has no folder: name the files instead, or add the policy yourself",
                namespace_name(workload)
            );
            report(outcomes, FindingKind::Skipped, message);
            continue;
        };
        let name = &seen.options.file_name;
        if Path::new(name).file_name() != Some(name.as_ref()) {
            let message = format!(
                "the option file-name of {ID} is `{name}`, not a file name: no NetworkPolicy written for {}",
                namespace_name(workload)
            );
            report(outcomes, FindingKind::Warning, message);
            continue;
        }
        let target = file.parent().unwrap_or(Path::new("")).join(name);
        let standing = (outcome, workload, line);
        match planned.iter_mut().find(|(t, ..)| *t == target) {
            Some((_, _, namespaces)) => namespaces.push(standing),
            None => planned.push((target, seen.options.egress, vec![standing])),
        }
    }
    for (target, egress, namespaces) in planned {
        write_one(outcomes, id, &target, egress, &namespaces, emit);
    }
}

/// Writes the new file `target` with the policies of `namespaces`, or, when a file of that
/// name exists, warns about each namespace it holds no policy for.
fn write_one(
    outcomes: &mut Vec<Outcome>,
    id: &'static str,
    target: &Path,
    egress: bool,
    namespaces: &[Standing<'_>],
    emit: Emit,
) {
    let name = target.to_string_lossy().into_owned();
    if std::fs::symlink_metadata(target).is_ok() {
        // Named files alone do not show a policy written by an earlier run: it is there.
        let existing = std::fs::read_to_string(target)
            .map(|text| Inventory::of(&text, &[]).policies)
            .unwrap_or_default();
        for (outcome, workload, line) in namespaces {
            if existing.contains(&workload.namespace) {
                continue;
            }
            let message = format!(
                "{} has no NetworkPolicy in the input, and {name} exists already: {ID} writes only new files; add the policy there, or name another file with its option file-name",
                namespace_name(workload)
            );
            outcomes[*outcome].report.findings.push(finding(
                id,
                workload,
                *line,
                FindingKind::Warning,
                message,
            ));
        }
        return;
    }
    let wanted: Vec<Option<&str>> = namespaces
        .iter()
        .map(|(_, workload, _)| workload.namespace.as_deref())
        .collect();
    let text = network_policy::render(&wanted, egress);
    if !network_policy::verify(&text, &wanted) {
        let message = "internal error, nothing was written: the NetworkPolicies do not read back as intended; please report it".to_owned();
        outcomes.push(Outcome {
            report: FileReport::failed(name, message, None),
            stdout: Vec::new(),
            texts: None,
        });
        return;
    }
    let types = if egress {
        "[Ingress, Egress]"
    } else {
        "[Ingress]"
    };
    let denied = if egress {
        "all traffic to and from its pods is denied"
    } else {
        "all incoming traffic to its pods is denied"
    };
    let starts: Vec<usize> = text
        .match_indices("apiVersion: ")
        .map(|(offset, _)| text[..offset].matches('\n').count() + 1)
        .collect();
    let mut report = FileReport::empty(name.clone(), FileStatus::Changed);
    for (document, ((_, workload, _), line)) in namespaces.iter().zip(starts).enumerate() {
        let policy = Resource {
            api_version: "networking.k8s.io/v1".to_owned(),
            kind: "NetworkPolicy".to_owned(),
            name: Some(POLICY_NAME.to_owned()),
            namespace: workload.namespace.clone(),
            path: Vec::new(),
        };
        report.changes.push(Change {
            document,
            resource: policy.clone().into(),
            container: None,
            transform: id,
            path: "spec".to_owned(),
            old: None,
            new: Some(format!("{{podSelector: {{}}, policyTypes: {types}}}")),
            line,
        });
        let message = format!(
            "a new policy for {} (where {} runs): {denied} until NetworkPolicies allow it; add those for the traffic the services need before merging",
            namespace_name(workload),
            workload.label()
        );
        report
            .findings
            .push(finding(id, &policy, line, FindingKind::Note, message));
    }
    let stdout = if !emit.writes() {
        let path = git_relative(target).to_string_lossy().into_owned();
        vec![output::file_diff(&path, "", &text, Lifecycle::Created)]
    } else {
        if let Err(e) = files::create_new(target, &text) {
            report = FileReport::failed(name, format!("{e:#}; nothing was written"), None);
        }
        Vec::new()
    };
    outcomes.push(Outcome {
        report,
        stdout,
        texts: None,
    });
}

/// `namespace NAME`, or the namespace of a workload that names none.
fn namespace_name(workload: &Resource) -> String {
    match &workload.namespace {
        Some(namespace) => format!("namespace {namespace}"),
        None => "the namespace of the workloads that name none".to_owned(),
    }
}

fn finding(
    id: &'static str,
    resource: &Resource,
    line: usize,
    kind: FindingKind,
    message: String,
) -> Finding {
    Finding {
        document: 0,
        resource: resource.clone().into(),
        container: None,
        line,
        transform: id,
        kind,
        message,
        reader: None,
    }
}
