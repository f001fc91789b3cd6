//! A folder holding kustomizations as one input of `fix`: its plain files fixed as usual
//! (resource files are ordinary manifests), the files its kustomizations use as patches left
//! out of that, and the whole verified by [`crate::source::kustomize`] building every
//! kustomization again; nothing is written for the tree unless every build comes out as
//! intended.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Outcome, Selection, Wanted, chart, files, inputs::Input, inputs::Tree};
use crate::config::Config;
use crate::fix::ChangeDetail;
use crate::report::{FileReport, FileStatus};
use crate::source::SourceEdit;
use crate::source::kustomize::{self, Kubectl};
use crate::transform::Finding;

/// Fixes the tree (in place when `wanted` writes): one outcome per file edited or with findings;
/// a single error outcome when the tree cannot be verified, with nothing written.
pub(super) fn process(
    tree: &Tree,
    wanted: Wanted,
    config: &Config,
    selection: &Selection,
    limit: u64,
) -> Vec<Outcome> {
    let named = selection.kubectl.as_deref().or(config.kubectl.as_deref());
    let named_helm = selection.helm.as_deref().or(config.helm.as_deref());
    let helm = crate::source::helm::Helm::find(named_helm).ok();
    let kubectl = match Kubectl::find(named) {
        Ok(kubectl) => kubectl.with_helm(helm.as_ref().map(|h| h.binary())),
        Err(e) => return unchecked(tree, wanted, config, limit, &e),
    };
    let identity = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let patches: HashSet<PathBuf> = tree
        .kustomizations
        .iter()
        .flat_map(|folder| kustomize::patch_files(folder))
        .map(|p| identity(&p))
        .collect();
    let mut outcomes = Vec::new();
    let mut edits: Vec<SourceEdit> = Vec::new();
    let mut findings: Vec<(PathBuf, Finding)> = Vec::new();
    // Each resource file as read, to be replaced only if it is still that version.
    let mut snapshots: Vec<(PathBuf, files::Snapshot)> = Vec::new();
    for file in &tree.files {
        if patches.contains(&identity(&file.path)) {
            continue;
        }
        let (snapshot, fixed) = match super::fix_input(
            &Input::Found(file.clone()),
            None,
            ChangeDetail::Listed,
            config,
            limit,
        ) {
            Ok(read_and_fixed) => read_and_fixed,
            Err(instead) => {
                // Excluded files and Helm templates are left out quietly, as in a walk.
                if matches!(instead.report.status, FileStatus::Error) {
                    outcomes.push(*instead);
                }
                continue;
            }
        };
        findings.extend(fixed.findings.into_iter().map(|f| (file.path.clone(), f)));
        if let Some(written) = fixed.output {
            let original = super::fixed_text_of(&snapshot.bytes).into_owned();
            edits.push(SourceEdit {
                path: file.path.clone(),
                new: written.text(&original),
                original,
                changes: fixed.changes,
                lifecycle: crate::source::Lifecycle::Changed,
            });
            snapshots.push((file.path.clone(), snapshot));
        }
    }
    let resource_edits: Vec<(PathBuf, String)> = edits
        .iter()
        .map(|e| (e.path.clone(), e.new.clone()))
        .collect();
    let checked = kustomize::fix_tree(
        &kubectl,
        &tree.root,
        &tree.kustomizations,
        &resource_edits,
        &config.settings,
    );
    match checked {
        Ok(tree_fix) => {
            edits.extend(tree_fix.edits);
            // The built output's findings on a resource file are often its plain fix's own.
            for finding in tree_fix.findings {
                if !kustomize::already_reported(&findings, &finding) {
                    findings.push(finding);
                }
            }
        }
        Err(e) => {
            outcomes.push(failed(tree.root.to_string_lossy().into_owned(), e, None));
            return outcomes;
        }
    }
    outcomes.extend(chart::edit_outcomes(
        &edits,
        &snapshots,
        findings,
        wanted.emit,
        limit,
    ));
    outcomes
}

/// Without kubectl: every file of the tree as a plain file, as before kustomizations were
/// known, and one warning that the overlays were not checked.
fn unchecked(tree: &Tree, wanted: Wanted, config: &Config, limit: u64, why: &str) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = tree
        .files
        .iter()
        .map(|file| super::process(&Input::Found(file.clone()), wanted, config, limit))
        .collect();
    let first = kustomize::kustomization_file(&tree.kustomizations[0]).unwrap_or_default();
    let mut report = FileReport::empty(first.to_string_lossy().into_owned(), FileStatus::Unchanged);
    report.findings.push(kustomize::warning(
        &tree.root,
        format!(
            "{} kustomization{} fixed as loose files; their overlays and patches were not checked: {why}",
            tree.kustomizations.len(),
            crate::report::plural(tree.kustomizations.len())
        ),
    ));
    outcomes.push(Outcome {
        report,
        stdout: Vec::new(),
        texts: None,
    });
    outcomes
}

fn failed(path: String, message: String, position: Option<crate::yaml::Position>) -> Outcome {
    Outcome {
        report: FileReport::failed(path, message, position),
        stdout: Vec::new(),
        texts: None,
    }
}
