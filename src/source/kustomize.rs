//! Kustomize trees as rendered sources: every kustomization is built by the real
//! `kubectl kustomize`, planned on its built output, and the changes its own resources do not
//! already bring are mapped onto the patches that undo them; the edited tree is built again
//! and must give the intended output.
//!
//! Resource files are ordinary manifests: they get the fix of plain files (the caller's), which
//! this module takes as given. Where a resource came from is not guessed: the tree is built in
//! a temporary copy whose kustomization files carry `buildMetadata: [originAnnotations]`, and the
//! user's files are never touched for it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use super::{
    Difference, Lifecycle, SourceEdit, SourceFix, apply, differences, first_mismatch, owned, within,
};
use crate::transform::{self, Change};
use crate::transform::{Finding, Settings};
use crate::yaml::{self, Node, NodeKind, Step, Text, path_to_string};

/// The names a kustomization file may have; a folder holding one is a kustomization.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The strategic-merge patch kubeharden writes into a kustomization for the resources it
/// builds from outside the tree (a remote base, a base above the tree, a `helmCharts`
/// generator), whose own files cannot be edited; listed in its `patches:`.
pub const OVERLAY_PATCH: &str = "kubeharden-patch.yaml";

/// The annotation in which `originAnnotations` names the file a built resource came from.
const ORIGIN: &str = "config.kubernetes.io/origin";

/// How to get kubectl, for the line saying that overlays were not checked.
pub const INSTALL_HINT: &str = "install kubectl (https://kubernetes.io/docs/tasks/tools/) or name it with --kubectl PATH, the configuration key `kubectl:` or KUBEHARDEN_KUBECTL";

/// The kustomization file of `folder`, when it is a kustomization.
pub fn kustomization_file(folder: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| folder.join(name))
        .find(|file| file.is_file())
}

/// The kubectl binary that builds kustomizations, and the helm it inflates `helmCharts:` with.
#[derive(Debug, Clone)]
pub struct Kubectl {
    binary: PathBuf,
    helm: Option<PathBuf>,
}

impl Kubectl {
    /// The kubectl named (by `--kubectl` or the configuration), else `$KUBEHARDEN_KUBECTL`,
    /// else `kubectl` on `PATH`; an error saying how to install it when there is none.
    pub fn find(named: Option<&Path>) -> Result<Kubectl, String> {
        super::find_tool(named, "KUBEHARDEN_KUBECTL", "kubectl", INSTALL_HINT)
            .map(|binary| Kubectl { binary, helm: None })
    }

    /// This kubectl, building with `--enable-helm` and `helm` for the kustomizations that
    /// inflate charts (`helmCharts:`).
    pub fn with_helm(self, helm: Option<&Path>) -> Kubectl {
        Kubectl {
            helm: helm.map(Path::to_path_buf),
            ..self
        }
    }

    /// `kubectl kustomize folder`: the built manifests, or kubectl's error in one line.
    fn build(&self, folder: &Path) -> Result<String, String> {
        let mut command = Command::new(&self.binary);
        command.arg("kustomize").arg(folder);
        if let Some(helm) = self.helm.as_ref().filter(|_| inflates_charts(folder)) {
            command.arg("--enable-helm").arg("--helm-command").arg(helm);
        }
        super::tool_output(&mut command, "kubectl kustomize")
    }
}

/// Whether the kustomization in `folder` inflates Helm charts (`helmCharts:`); the charts below
/// it are then part of its build, not inputs of their own.
pub fn inflates_charts(folder: &Path) -> bool {
    kustomization_file(folder)
        .and_then(|file| std::fs::read_to_string(file).ok())
        .is_some_and(|text| text.lines().any(|l| l.starts_with("helmCharts:")))
}

/// The files a kustomization uses as patches (`patches`, `patchesStrategicMerge`,
/// `patchesJson6902`), below `folder`; they are not resources, and are never fixed as such.
pub fn patch_files(folder: &Path) -> Vec<PathBuf> {
    let Some(file) = kustomization_file(folder) else {
        return Vec::new();
    };
    let Ok(source) = std::fs::read_to_string(&file) else {
        return Vec::new();
    };
    let text = Text::new(&source);
    let Ok(stream) = yaml::parse(&text, false) else {
        return Vec::new();
    };
    let Some(root) = stream.documents.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in ["patches", "patchesStrategicMerge", "patchesJson6902"] {
        for item in root.get(key).and_then(Node::items).unwrap_or_default() {
            let path = item.as_str().or_else(|| item.get("path")?.as_str());
            // An inline strategic-merge patch is a multi-line string, not a path.
            if let Some(path) = path.filter(|p| !p.contains('\n')) {
                out.push(folder.join(path));
            }
        }
    }
    out
}

/// Whether the kustomization in `folder` is a component (`kind: Component`): it is built only
/// as part of the kustomizations that take it, never on its own.
fn is_component(folder: &Path) -> bool {
    let source = kustomization_file(folder).and_then(|f| std::fs::read_to_string(f).ok());
    let source = source.unwrap_or_default();
    let text = Text::new(&source);
    yaml::parse(&text, false).is_ok_and(|stream| {
        stream
            .documents
            .first()
            .and_then(|d| d.get("kind"))
            .and_then(Node::as_str)
            == Some("Component")
    })
}

/// The patch files of the kustomization in `folder` and of the components it takes
/// (`components:`), whose patches apply to its resources as its own do.
fn patch_files_with_components(folder: &Path) -> Vec<PathBuf> {
    let mut files = patch_files(folder);
    let source = kustomization_file(folder).and_then(|f| std::fs::read_to_string(f).ok());
    let source = source.unwrap_or_default();
    let text = Text::new(&source);
    let Ok(stream) = yaml::parse(&text, false) else {
        return files;
    };
    let components = stream.documents.first().and_then(|d| d.get("components"));
    for component in components.and_then(Node::items).unwrap_or_default() {
        if let Some(named) = component.as_str() {
            files.extend(patch_files(&folder.join(named)));
        }
    }
    files
}

/// One kustomization's built output, planned.
struct Built {
    /// The kustomization folder, relative to the tree root.
    folder: PathBuf,
    /// The kustomization folder as given.
    given: PathBuf,
    /// The intended built documents, each with its kind, name and origin.
    intended: Vec<(String, Node<'static>)>,
    /// The planned changes of each intended document.
    changes: Vec<Vec<Change>>,
}

/// A warning about the kustomization in `folder` as a whole.
pub fn warning(folder: &Path, message: String) -> Finding {
    let kustomization = ("kustomize.config.k8s.io/v1beta1", "Kustomization");
    let name = folder.to_string_lossy();
    let mut finding = note(kustomization, &name, 1, message);
    finding.kind = crate::transform::FindingKind::Warning;
    finding
}

/// A note of the Kustomize layer about the resource `kind` (with its API version) named
/// `name`, at `line` of the file it goes with.
fn note((api_version, kind): (&str, &str), name: &str, line: usize, message: String) -> Finding {
    Finding {
        document: 0,
        resource: Arc::new(crate::k8s::Resource {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: Some(name.to_owned()),
            namespace: None,
            path: Vec::new(),
        }),
        container: None,
        line,
        reader: None,
        transform: "kustomize",
        kind: crate::transform::FindingKind::Note,
        message,
    }
}

/// Fixes the kustomizations in `folders` (inside `root`) given the resource edits already
/// planned (`resource_edits`: each file below `root` with its new text): builds each one before
/// and after, maps what the resource edits leave undone onto the kustomizations' patch files,
/// and verifies by building again. A kustomization that does not build before is left out, with a
/// warning. The
/// error is one line, and means nothing may be written for the tree.
pub fn fix_tree(
    kubectl: &Kubectl,
    root: &Path,
    folders: &[PathBuf],
    resource_edits: &[(PathBuf, String)],
    settings: &Settings,
) -> Result<SourceFix, String> {
    let mut fix = SourceFix::default();
    let before = TreeCopy::new(root, folders, &[])?;
    let mut built: Vec<Built> = Vec::new();
    for folder in folders.iter().filter(|f| !is_component(f)) {
        let relative = folder.strip_prefix(root).unwrap_or(folder).to_path_buf();
        let output = match kubectl.build(&before.path.join(&relative)) {
            Ok(output) => output,
            Err(e) => {
                let file = kustomization_file(folder).unwrap_or_else(|| folder.clone());
                let first_line = e.lines().next().unwrap_or_default();
                fix.findings.push((
                    file,
                    warning(
                        folder,
                        format!(
                            "does not build here ({first_line}), so its built output was not checked; its own files were fixed as plain files"
                        ),
                    ),
                ));
                continue;
            }
        };
        let text = Text::new(&output);
        let stream = yaml::parse(&text, false).map_err(|e| {
            format!(
                "{}: built output kubeharden cannot read: {e}",
                folder.display()
            )
        })?;
        let reading = transform::StreamReading::of(&text, &stream);
        let mut intended = Vec::new();
        let mut changes = Vec::new();
        for (number, document) in stream.documents.iter().enumerate() {
            if document.entries().is_none() {
                continue;
            }
            fix.workloads += crate::k8s::pod_specs(document, &settings.kinds).len();
            let plan = transform::plan(
                settings,
                &text,
                document,
                &stream.anchor_names,
                number,
                &reading,
            );
            // The same resource built by several kustomizations is reported once.
            for finding in attributed(folder, &text, document, &plan.findings) {
                if !already_reported(&fix.findings, &finding) {
                    fix.findings.push(finding);
                }
            }
            let node = plan.intended.as_ref().unwrap_or(document);
            intended.push((identity(document), owned(node)));
            changes.push(plan.changes);
        }
        built.push(Built {
            folder: relative,
            given: folder.clone(),
            intended,
            changes,
        });
    }
    let after_resources = TreeCopy::new(root, folders, resource_edits)?;
    let mut patch_edits: Vec<PatchEdit> = Vec::new();
    // Per kustomization: the fields below JSON 6902 operations that were taken out or given
    // the hardened value; what the base holds there comes back.
    let mut released: Vec<Vec<Vec<Step>>> = vec![Vec::new(); built.len()];
    // A kustomization after those it builds on: a resource from outside the tree that an
    // overlay takes through another overlay gets its patch in the innermost one only.
    let bases: Vec<Vec<PathBuf>> = built.iter().map(|k| included(&k.given)).collect();
    let mut order: Vec<usize> = (0..built.len()).collect();
    order.sort_by_key(|&number| bases[number].len());
    // Each resource given an overlay patch: the kustomization folder (canonical), the
    // resource's origin and kind, and the field.
    let mut overlaid: Vec<(PathBuf, String, Vec<Step>)> = Vec::new();
    for number in order {
        let kustomization = &built[number];
        let canonical = kustomization.given.canonicalize().unwrap_or_default();
        let output = kubectl
            .build(&after_resources.path.join(&kustomization.folder))
            .map_err(|e| {
                format!(
                    "{}: no longer builds after the resource edits: {e}; nothing written",
                    kustomization.given.display()
                )
            })?;
        let text = Text::new(&output);
        let stream = yaml::parse(&text, false).map_err(|e| e.to_string())?;
        let planned = documents(&stream)
            .zip(&kustomization.intended)
            .zip(&kustomization.changes);
        for ((got, (name, want)), changes) in planned {
            for difference in differences(got, want) {
                let folder = &kustomization.given;
                let changes: Vec<&Change> = changes
                    .iter()
                    .filter(|c| within(&c.path, &difference.path))
                    .collect();
                let mapped =
                    map_onto_json_ops(folder, name, want, &difference, &changes, &mut patch_edits);
                if !mapped.is_empty() {
                    released[number].extend(mapped);
                } else if !map_onto_patches(folder, got, &difference, &changes, &mut patch_edits)
                    && !built_inside(root, folder, got)
                {
                    let resource = format!("{} {}", kind_and_name(name).0, origin_key(folder, got));
                    let in_a_base = overlaid.iter().any(|(base, r, path)| {
                        bases[number].contains(base) && *r == resource && *path == difference.path
                    });
                    if in_a_base {
                        continue;
                    }
                    overlaid.push((canonical.clone(), resource, difference.path.clone()));
                    map_onto_overlay_patch(
                        folder,
                        got,
                        want,
                        &difference,
                        &changes,
                        &mut patch_edits,
                    )?;
                }
            }
        }
    }
    take_out_emptied_operation_files(&mut patch_edits);
    let mut all_edits = resource_edits.to_vec();
    // A file taken out stays in the copy, unread: its kustomization no longer lists it.
    for edit in patch_edits
        .iter()
        .filter(|e| e.lifecycle != Lifecycle::Deleted)
    {
        all_edits.push((edit.path.clone(), edit.render()?));
    }
    let after = TreeCopy::new(root, folders, &all_edits)?;
    for (kustomization, released) in built.iter().zip(&released) {
        let folder = &kustomization.given;
        let output = kubectl
            .build(&after.path.join(&kustomization.folder))
            .map_err(|e| {
                format!(
                    "{}: no longer builds after the edits: {e}; nothing written",
                    folder.display()
                )
            })?;
        let text = Text::new(&output);
        let stream = yaml::parse(&text, false).map_err(|e| e.to_string())?;
        let got: Vec<&Node<'_>> = documents(&stream).collect();
        if got.len() != kustomization.intended.len() {
            return Err(format!(
                "{}: builds other resources after the edits; nothing written",
                folder.display()
            ));
        }
        let reading = transform::StreamReading::of_documents(&stream.documents);
        for (number, (got, (name, want))) in got.iter().zip(&kustomization.intended).enumerate() {
            let (got, want) = (volumes_by_name(got), volumes_by_name(want));
            // Below a released field, the built output must need no change of its own.
            let unhardened = !released.is_empty()
                && !transform::plan(
                    settings,
                    &text,
                    &stream.documents[number],
                    &stream.anchor_names,
                    number,
                    &reading,
                )
                .changes
                .is_empty();
            let mismatch = match unhardened {
                true => Some(Vec::new()),
                false => first_mismatch(&got, &want, released),
            };
            if let Some(path) = mismatch {
                return Err(format!(
                    "{}: {name} builds `{}` other than intended: the change there maps onto no resource or patch file in the tree; nothing written",
                    folder.display(),
                    path_to_string(&path)
                ));
            }
        }
    }
    for mut edit in patch_edits {
        let new = match edit.lifecycle {
            Lifecycle::Deleted => String::new(),
            _ => edit.render()?,
        };
        edit.place_added(&new);
        fix.findings
            .extend(edit.notes.into_iter().map(|n| (edit.path.clone(), n)));
        fix.edits.push(SourceEdit {
            path: edit.path,
            original: edit.source,
            new,
            changes: edit.changes,
            lifecycle: edit.lifecycle,
        });
    }
    Ok(fix)
}

/// Marks for deletion each file of JSON 6902 operations left without any, and takes its entry
/// out of the kustomization listing it: an empty list of operations is noise (and an error
/// for some kustomize versions).
fn take_out_emptied_operation_files(edits: &mut Vec<PatchEdit>) {
    let mut entries = Vec::new();
    for edit in edits.iter_mut() {
        let Some(listed) = edit.listed.clone() else {
            continue;
        };
        let text = Text::new(&edit.source);
        let count = yaml::parse(&text, false)
            .ok()
            .and_then(|s| s.documents.first().and_then(Node::items).map(<[_]>::len))
            .unwrap_or(0);
        let mut removed: Vec<&Vec<Step>> = edit
            .made
            .iter()
            .filter(|(_, d)| d.new.is_none() && d.path.len() == 1)
            .map(|(_, d)| &d.path)
            .collect();
        removed.dedup();
        if count > 0 && removed.len() >= count {
            edit.lifecycle = Lifecycle::Deleted;
            if let Some(note) = edit.notes.last() {
                let mut note = note.clone();
                note.message = format!(
                    "no operation is left: the file is deleted and its entry taken out of {}",
                    listed.0.display()
                );
                edit.notes.push(note);
            }
            entries.push(listed);
        }
    }
    for (kustomization, key, entry) in entries {
        let index = match edits.iter().position(|e| e.path == kustomization) {
            Some(index) => index,
            None => {
                let Ok(source) = std::fs::read_to_string(&kustomization) else {
                    continue;
                };
                edits.push(PatchEdit::new(kustomization, source));
                edits.len() - 1
            }
        };
        edits[index].made.push((
            0,
            Difference {
                path: vec![Step::Key(key.to_owned().into()), Step::Index(entry)],
                new: None,
            },
        ));
    }
}

/// `node` with every list of volumes in name order: a patch's volumes merge into a pod's in an
/// order of kustomize's, which carries no meaning.
fn volumes_by_name<'a>(node: &Node<'a>) -> Node<'a> {
    let mut node = node.clone();
    sort_volumes(&mut node);
    node
}

fn sort_volumes(node: &mut Node<'_>) {
    match &mut node.kind {
        NodeKind::Mapping { entries, .. } => {
            for (key, value) in entries {
                if key.as_str() == Some("volumes")
                    && let NodeKind::Sequence { items, .. } = &mut value.kind
                {
                    items.sort_by(|a, b| {
                        let name =
                            |n: &Node<'_>| n.get("name").and_then(Node::as_str).map(str::to_owned);
                        name(a).cmp(&name(b))
                    });
                }
                sort_volumes(value);
            }
        }
        NodeKind::Sequence { items, .. } => items.iter_mut().for_each(sort_volumes),
        _ => {}
    }
}

/// The documents of a build that are objects.
fn documents<'s, 'a>(stream: &'s yaml::Stream<'a>) -> impl Iterator<Item = &'s Node<'a>> {
    stream.documents.iter().filter(|d| d.entries().is_some())
}

/// The kind and the name in an identity made by [`identity`].
fn kind_and_name(identity: &str) -> (&str, &str) {
    let (kind, rest) = identity.split_once('/').unwrap_or((identity, ""));
    (kind, rest.split(' ').next().unwrap_or(rest))
}

/// `Kind/name` of a built document, and the file it came from when the build says so, for
/// messages.
fn identity(document: &Node<'_>) -> String {
    let field = |node: Option<&Node<'_>>, key: &str| {
        node.and_then(|n| n.get(key))
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let origin = origin(document)
        .lines()
        .find_map(|l| l.strip_prefix("path: "))
        .map_or(String::new(), |path| format!(" (from {path})"));
    format!(
        "{}/{}{origin}",
        field(Some(document), "kind"),
        field(document.get("metadata"), "name")
    )
}

/// A patch file (or kustomization file) being edited: its text, and the differences to make in
/// its documents and in the JSON 6902 patches it holds inline.
struct PatchEdit {
    path: PathBuf,
    source: String,
    /// Each difference with the number of the document it is made in.
    made: Vec<(usize, Difference<'static>)>,
    /// Edits of inline JSON 6902 patches: the index of the `patches` entry, and the
    /// differences to make in its list of operations.
    inline: Vec<(usize, Difference<'static>)>,
    changes: Vec<Change>,
    /// Notes on what was changed in a patch, and why.
    notes: Vec<Finding>,
    /// Strategic-merge patches added after the file's documents, one per resource built from
    /// outside the tree.
    added: Vec<Node<'static>>,
    /// The changes written into `added` documents, each with its number among them; its
    /// line is known once the file is rendered.
    added_changes: Vec<Change>,
    /// Notes on the `added` documents, numbered as the changes.
    added_notes: Vec<Finding>,
    /// Whether the file is new, or goes.
    lifecycle: Lifecycle,
    /// For a file of JSON 6902 operations: the kustomization file listing it, the list's key
    /// and the entry's index, to take out with the file when no operation is left.
    listed: Option<(PathBuf, &'static str, usize)>,
}

impl PatchEdit {
    fn new(path: PathBuf, source: String) -> PatchEdit {
        PatchEdit {
            path,
            source,
            made: Vec::new(),
            inline: Vec::new(),
            changes: Vec::new(),
            notes: Vec::new(),
            added: Vec::new(),
            added_changes: Vec::new(),
            added_notes: Vec::new(),
            lifecycle: Lifecycle::Changed,
            listed: None,
        }
    }

    /// Moves the changes and notes of the `added` documents among the others, with their
    /// document numbers and lines in the file's `new` text.
    fn place_added(&mut self, new: &str) {
        let count = |source: &str| {
            let text = Text::new(source);
            yaml::parse(&text, false).map_or(0, |s| {
                s.documents.iter().filter(|d| d.entries().is_some()).count()
            })
        };
        let before = count(&self.source);
        let text = Text::new(new);
        let Ok(stream) = yaml::parse(&text, false) else {
            return;
        };
        let line = |number: usize| {
            stream
                .documents
                .get(before + number)
                .map_or(1, |d| text.position(d.full_start()).line)
        };
        for change in std::mem::take(&mut self.added_changes) {
            self.changes.push(Change {
                document: before + change.document,
                line: line(change.document),
                ..change
            });
        }
        for note in std::mem::take(&mut self.added_notes) {
            self.notes.push(Finding {
                document: before + note.document,
                line: line(note.document),
                ..note
            });
        }
    }

    /// The file's new text, written losslessly: the inline patches' block scalars first (each
    /// edited as a document of its own and indented back), then the file's own documents; an
    /// inline patch left without operations is removed from `patches` whole.
    fn render(&self) -> Result<String, String> {
        let at = |e: String| format!("{}: {e}", self.path.display());
        let mut source = self.source.clone();
        let mut made = self.made.clone();
        let mut entries: Vec<usize> = self.inline.iter().map(|(entry, _)| *entry).collect();
        entries.sort_unstable();
        entries.dedup();
        // From the last entry back, so that earlier offsets stay valid.
        for entry in entries.into_iter().rev() {
            let text = Text::new(&source);
            let stream = yaml::parse(&text, true).map_err(|e| at(e.to_string()))?;
            let Some(scalar) = stream
                .documents
                .first()
                .and_then(|d| d.get("patches")?.items()?.get(entry)?.get("patch"))
            else {
                continue;
            };
            // The content's lines: after the `|-` header when the span starts there.
            let first = text.line_start(scalar.full_start());
            let start = match source[first..scalar.full_start()].trim().is_empty() {
                true => first,
                false => text.line_end(scalar.full_start()) + text.line_break().len(),
            };
            let end = scalar.end().max(start);
            let block = &source[start..end];
            let indent = block
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            let content: String = block
                .split_inclusive('\n')
                .map(|l| l.get(indent..).unwrap_or(l.trim_start_matches(' ')))
                .collect();
            let ops: Vec<(usize, Difference<'static>)> = self
                .inline
                .iter()
                .filter(|(e, _)| *e == entry)
                .map(|(_, d)| (0, d.clone()))
                .collect();
            let count = yaml::parse(&Text::new(&content), false)
                .ok()
                .and_then(|s| s.documents.first().and_then(Node::items).map(<[_]>::len))
                .unwrap_or(0);
            let removed = ops.iter().filter(|(_, d)| d.new.is_none()).count();
            if removed >= count {
                made.push((
                    0,
                    Difference {
                        path: vec![Step::Key("patches".into()), Step::Index(entry)],
                        new: None,
                    },
                ));
                continue;
            }
            let edited = write_edits(&content, &ops, None).map_err(at)?;
            let padding = " ".repeat(indent);
            let indented: String = edited
                .split_inclusive('\n')
                .map(|l| match l.trim().is_empty() {
                    true => l.to_owned(),
                    false => format!("{padding}{l}"),
                })
                .collect();
            source.replace_range(start..end, indented.trim_end_matches('\n'));
        }
        whole_lists_taken_out(&source, &mut made);
        let edited = match made.is_empty() {
            true => source,
            false => write_edits(&source, &made, None).map_err(at)?,
        };
        if self.added.is_empty() {
            return Ok(edited);
        }
        let beside = self.path.parent().and_then(kustomization_file);
        let added = added_documents(&self.added, beside.as_deref()).map_err(at)?;
        Ok(match edited.trim().is_empty() {
            true => added,
            false if edited.ends_with('\n') => format!("{edited}---\n{added}"),
            false => format!("{edited}\n---\n{added}"),
        })
    }
}

/// Replaces the removals of every item of a kustomization's list of patches in `made` with
/// the removal of the key: no `patches: []` is left behind.
fn whole_lists_taken_out(source: &str, made: &mut Vec<(usize, Difference<'static>)>) {
    let text = Text::new(source);
    let Ok(stream) = yaml::parse(&text, false) else {
        return;
    };
    let Some(root) = stream.documents.first() else {
        return;
    };
    for key in ["patches", "patchesStrategicMerge", "patchesJson6902"] {
        let Some(items) = root.get(key).and_then(Node::items) else {
            continue;
        };
        let removes_item = |d: &Difference<'_>| {
            d.new.is_none()
                && matches!(d.path.as_slice(), [Step::Key(k), Step::Index(_)] if k == key)
        };
        let mut removed: Vec<&Vec<Step>> = made
            .iter()
            .filter(|(n, d)| *n == 0 && removes_item(d))
            .map(|(_, d)| &d.path)
            .collect();
        removed.sort_by_key(|p| format!("{p:?}"));
        removed.dedup();
        if !items.is_empty() && removed.len() == items.len() {
            made.retain(|(n, d)| !(*n == 0 && removes_item(d)));
            made.push((
                0,
                Difference {
                    path: vec![Step::Key(key.to_owned().into())],
                    new: None,
                },
            ));
        }
    }
}

/// The text of new strategic-merge patch documents: each starts from its `apiVersion` and
/// `kind`, the rest written by the lossless layer as any edit is.
fn added_documents(
    documents: &[Node<'static>],
    kustomization: Option<&Path>,
) -> Result<String, String> {
    let field = |document: &Node<'_>, key: &str| {
        document
            .get(key)
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let seed: Vec<String> = documents
        .iter()
        .map(|d| {
            format!(
                "apiVersion: {}\nkind: {}\n",
                field(d, "apiVersion"),
                field(d, "kind")
            )
        })
        .collect();
    let mut made = Vec::new();
    for (number, document) in documents.iter().enumerate() {
        for (key, value) in document.entries().unwrap_or_default() {
            let Some(key) = key.as_str().filter(|k| !["apiVersion", "kind"].contains(k)) else {
                continue;
            };
            made.push((
                number,
                Difference {
                    path: vec![Step::Key(key.to_owned().into())],
                    new: Some(value.clone()),
                },
            ));
        }
    }
    write_edits(&seed.join("---\n"), &made, layout_of(kustomization))
}

/// Whether the built `document` of the kustomization in `folder` came from a file inside the
/// tree `root`, by its origin annotation: resources of a remote base, of a base outside the
/// tree, or made by a generator (`helmCharts`) did not.
fn built_inside(root: &Path, folder: &Path, document: &Node<'_>) -> bool {
    let (Ok(folder), Ok(root)) = (folder.canonicalize(), root.canonicalize()) else {
        return false;
    };
    origin_file(&folder, document).is_some_and(|file| file.starts_with(root))
}

/// The local file the built `document` of the kustomization in `folder` came from, by its
/// origin annotation, as a path below `folder`'s own start (`..` resolved by name): none for a
/// resource of a remote base or made by a generator.
fn origin_file(folder: &Path, document: &Node<'_>) -> Option<PathBuf> {
    let origin = origin(document);
    if origin.lines().any(|l| l.starts_with("repo:")) {
        return None;
    }
    let path = origin.lines().find_map(|l| l.strip_prefix("path: "))?;
    let mut file = PathBuf::new();
    for part in folder.join(path).components() {
        match part {
            std::path::Component::ParentDir
                if file.file_name().is_some() && !file.ends_with("..") =>
            {
                file.pop();
            }
            std::path::Component::CurDir if file.as_os_str().is_empty() => file.push("."),
            std::path::Component::CurDir => {}
            other => file.push(other),
        }
    }
    Some(file)
}

/// The planner's `findings` on the built `document` (of the build `text`) of the kustomization
/// in `folder`, each on the file the document came from, in the terms of that file's own
/// document: its line, document number and resource, so that a finding its plain-file fix
/// gives, or another kustomization's build of it, is the same finding. A resource with no file
/// here (a remote base's, a generator's) has its findings on the kustomization file.
fn attributed(
    folder: &Path,
    text: &Text<'_>,
    document: &Node<'_>,
    findings: &[Finding],
) -> Vec<(PathBuf, Finding)> {
    let file = origin_file(folder, document).filter(|f| f.is_file());
    let source = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
    let source = source.unwrap_or_default();
    let origin_text = Text::new(&source);
    let stream = yaml::parse(&origin_text, false).ok();
    let own = stream
        .as_ref()
        .and_then(|s| own_document(&s.documents, document));
    let (Some(file), Some((number, own))) = (file, own) else {
        let file = kustomization_file(folder).unwrap_or_else(|| folder.to_path_buf());
        return findings
            .iter()
            .map(|f| {
                let at_top = Finding {
                    document: 0,
                    line: 1,
                    ..f.clone()
                };
                (file.clone(), at_top)
            })
            .collect();
    };
    let resources = crate::k8s::resources(own);
    findings
        .iter()
        .map(|finding| {
            let path = path_at_line(text, document, finding.line).unwrap_or_default();
            let resource = resources
                .iter()
                .find(|r| r.path == finding.resource.path && r.kind == finding.resource.kind)
                .map(|r| Arc::new(r.clone()))
                .unwrap_or_else(|| finding.resource.clone());
            let own_finding = Finding {
                document: number,
                line: transform::line_of_closest(&origin_text, own, &path),
                resource,
                ..finding.clone()
            };
            (file.clone(), own_finding)
        })
        .collect()
}

/// The document of a resource file that the built `document` was made from, with its number:
/// of the same kind, under the longest name the built name holds (kustomize adds prefixes and
/// suffixes).
fn own_document<'d, 'a>(
    documents: &'d [Node<'a>],
    document: &Node<'_>,
) -> Option<(usize, &'d Node<'a>)> {
    let field = |node: &Node<'_>, path: &[&str]| {
        path.iter()
            .try_fold(node, |n, key| n.get(key))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let kind = field(document, &["kind"]);
    let name = field(document, &["metadata", "name"]).unwrap_or_default();
    documents
        .iter()
        .enumerate()
        .filter(|(_, d)| field(d, &["kind"]) == kind)
        .filter_map(|(number, d)| {
            let own = field(d, &["metadata", "name"])?;
            name.contains(&own).then_some((own.len(), number, d))
        })
        .max_by_key(|(length, _, _)| *length)
        .map(|(_, number, d)| (number, d))
}

/// The path of the deepest node of `node` (in `text`) that starts on `line`, from `node`: the
/// field a finding there is about (a container's first key, kustomize's sorted one, says
/// nothing of where the container's own file has it).
fn path_at_line(text: &Text<'_>, node: &Node<'_>, line: usize) -> Option<Vec<Step>> {
    let below = yaml::children(node).into_iter().find_map(|(step, child)| {
        let mut path = path_at_line(text, child, line)?;
        path.insert(0, step);
        Some(path)
    });
    let starts_there = || {
        node.span
            .as_ref()
            .is_some_and(|s| text.position(s.start).line == line)
    };
    below.or_else(|| starts_there().then(Vec::new))
}

/// Whether `finding` is among `findings` already, at whatever line: the line of a finding
/// attributed from a built resource to its file is the closest field there, and may differ
/// from the line its plain-file fix gave it.
pub fn already_reported(findings: &[(PathBuf, Finding)], finding: &(PathBuf, Finding)) -> bool {
    let lineless = |(path, f): &(PathBuf, Finding)| {
        (
            path.clone(),
            Finding {
                line: 0,
                ..f.clone()
            },
        )
    };
    let wanted = lineless(finding);
    findings.iter().any(|f| lineless(f) == wanted)
}

/// Writes `difference` (between the built document `got` and its intended form `want`) into
/// the overlay patch ([`OVERLAY_PATCH`]) of the kustomization in `folder`, in the document
/// that targets the resource (made with its `apiVersion`, `kind`, and `metadata.name` as the
/// kustomization's patches see it, before its own name prefix and suffix); the file is added
/// to the kustomization's `patches:` when it is not listed yet.
fn map_onto_overlay_patch(
    folder: &Path,
    got: &Node<'_>,
    want: &Node<'_>,
    difference: &Difference<'_>,
    changes: &[&Change],
    edits: &mut Vec<PatchEdit>,
) -> Result<(), String> {
    let file = folder.join(OVERLAY_PATCH);
    let kustomization_path = kustomization_file(folder)
        .ok_or_else(|| format!("{}: no kustomization file", folder.display()))?;
    let kustomization_source = std::fs::read_to_string(&kustomization_path)
        .map_err(|e| format!("{}: {e}", kustomization_path.display()))?;
    let kustomization_text = Text::new(&kustomization_source);
    let kustomization = yaml::parse(&kustomization_text, false)
        .map_err(|e| format!("{}: {e}", kustomization_path.display()))?;
    let setting = |key: &str| {
        kustomization
            .documents
            .first()
            .and_then(|d| d.get(key))
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_owned()
    };
    if !patch_files(folder).contains(&file) && !edits.iter().any(|e| e.path == file) {
        let entry = Node::new(NodeKind::Mapping {
            style: yaml::CollectionStyle::Block,
            entries: vec![(
                Node::new_scalar("path", true),
                Node::new_scalar(OVERLAY_PATCH, true),
            )],
        });
        let listed = kustomization
            .documents
            .first()
            .and_then(|d| d.get("patches"))
            .and_then(Node::items);
        let (path, new) = match listed {
            Some(items) => (
                vec![Step::Key("patches".into()), Step::Index(items.len())],
                entry,
            ),
            None => (
                vec![Step::Key("patches".into())],
                Node::new(NodeKind::Sequence {
                    style: yaml::CollectionStyle::Block,
                    items: vec![entry],
                }),
            ),
        };
        let index = match edits.iter().position(|e| e.path == kustomization_path) {
            Some(index) => index,
            None => {
                edits.push(PatchEdit::new(
                    kustomization_path.clone(),
                    kustomization_source.clone(),
                ));
                edits.len() - 1
            }
        };
        edits[index].made.push((
            0,
            Difference {
                path,
                new: Some(new),
            },
        ));
        let mut edit = match std::fs::read_to_string(&file) {
            Ok(source) => PatchEdit::new(file.clone(), source),
            Err(_) => PatchEdit::new(file.clone(), String::new()),
        };
        if !file.exists() {
            edit.lifecycle = Lifecycle::Created;
        }
        edits.push(edit);
    }
    let edit = edits
        .iter_mut()
        .find(|e| e.path == file)
        .expect("the overlay patch's edit was just made");
    let metadata = got.get("metadata");
    let text_of = |node: Option<&Node<'_>>, key: &str| {
        node.and_then(|n| n.get(key))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let built_name = text_of(metadata, "name").unwrap_or_default();
    let (prefix, suffix) = (setting("namePrefix"), setting("nameSuffix"));
    let name = built_name
        .strip_prefix(prefix.as_str())
        .and_then(|n| n.strip_suffix(suffix.as_str()))
        .unwrap_or(&built_name)
        .to_owned();
    // The kustomization's own `namespace:` is set after its patches apply.
    let namespace = text_of(metadata, "namespace").filter(|_| setting("namespace").is_empty());
    let api_version = text_of(Some(got), "apiVersion").unwrap_or_default();
    let kind = text_of(Some(got), "kind").unwrap_or_default();
    let targets = |d: &Node<'_>| {
        text_of(Some(d), "apiVersion").as_ref() == Some(&api_version)
            && text_of(Some(d), "kind").as_ref() == Some(&kind)
            && text_of(d.get("metadata"), "name").as_ref() == Some(&name)
            && text_of(d.get("metadata"), "namespace") == namespace
    };
    let index = match edit.added.iter().position(targets) {
        Some(index) => index,
        None => {
            let scalar = |value: &str| Node::new_scalar(value.to_owned(), true);
            let mut identity = vec![(scalar("name"), scalar(&name))];
            if let Some(namespace) = &namespace {
                identity.push((scalar("namespace"), scalar(namespace)));
            }
            let mapping = |entries| {
                Node::new(NodeKind::Mapping {
                    style: yaml::CollectionStyle::Block,
                    entries,
                })
            };
            edit.added.push(mapping(vec![
                (scalar("apiVersion"), scalar(&api_version)),
                (scalar("kind"), scalar(&kind)),
                (scalar("metadata"), mapping(identity)),
            ]));
            let mut added = note(
                (&api_version, &kind),
                &built_name,
                1,
                format!(
                    "built from outside the tree ({}), so its hardening is written into this patch of {}",
                    origin_of(got),
                    folder.display()
                ),
            );
            added.document = edit.added.len() - 1;
            edit.added_notes.push(added);
            edit.added.len() - 1
        }
    };
    merge_into_patch(
        &mut edit.added[index],
        want,
        &difference.path,
        difference.new.as_ref(),
    );
    edit.added_changes.extend(changes.iter().map(|c| Change {
        document: index,
        ..(*c).clone()
    }));
    Ok(())
}

/// The origin annotation of a built document (empty when there is none): `path:` of the file
/// it came from, `repo:` and `ref:` for a remote one, `configuredBy:` for a generator's.
fn origin<'n>(document: &'n Node<'_>) -> &'n str {
    document
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(ORIGIN))
        .and_then(Node::as_str)
        .unwrap_or("")
}

/// Where a built document of the kustomization in `folder` came from, the same whichever
/// kustomization builds it: its file, else its origin annotation (a remote base's, a
/// generator's).
fn origin_key(folder: &Path, document: &Node<'_>) -> String {
    let file = origin_file(folder, document).and_then(|f| f.canonicalize().ok());
    file.map_or_else(|| origin(document).to_owned(), |f| f.display().to_string())
}

/// Where a built document came from, as its origin annotation says, for messages.
fn origin_of(document: &Node<'_>) -> String {
    let origin = origin(document);
    let field = |key: &str| {
        origin
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
            .map(str::to_owned)
    };
    match (field("repo"), field("path"), field("  kind")) {
        (Some(repo), path, _) => format!("{repo} {}", path.unwrap_or_default())
            .trim()
            .to_owned(),
        (None, Some(path), _) => path,
        (None, None, Some(generator)) => format!("made by {generator}"),
        (None, None, None) => "no origin given".to_owned(),
    }
}

/// Sets the field at `path` of the intended built document `want` to `new` (removes it when
/// `None`) in the strategic-merge patch `patch`, creating the way there: list items are found
/// by their merge key (`name`, or `mountPath` for volume mounts), and a list whose items have
/// none is set whole, as a strategic merge replaces such lists.
fn merge_into_patch(
    patch: &mut Node<'static>,
    want: &Node<'_>,
    path: &[Step],
    new: Option<&Node<'_>>,
) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    let empty = |next: Option<&Step>| match next {
        Some(Step::Index(_)) => Node::new(NodeKind::Sequence {
            style: yaml::CollectionStyle::Block,
            items: Vec::new(),
        }),
        _ => Node::new(NodeKind::Mapping {
            style: yaml::CollectionStyle::Block,
            entries: Vec::new(),
        }),
    };
    match step {
        Step::Key(key) => {
            let NodeKind::Mapping { entries, .. } = &mut patch.kind else {
                return;
            };
            let at = match entries.iter().position(|(k, _)| k.as_str() == Some(key)) {
                Some(at) => at,
                None => {
                    entries.push((Node::new_scalar(key.clone(), true), empty(rest.first())));
                    entries.len() - 1
                }
            };
            if rest.is_empty() {
                // A strategic merge removes a field set to null.
                entries[at].1 = new.map_or_else(|| Node::new_scalar("null", false), owned);
                return;
            }
            if let Some(below) = want.get(key) {
                merge_into_patch(&mut entries[at].1, below, rest, new);
            }
        }
        Step::Index(index) => {
            let Some(item) = want.items().and_then(|items| items.get(*index)) else {
                return;
            };
            let merge_key = ["name", "mountPath"]
                .into_iter()
                .find_map(|k| Some((k, item.get(k)?)));
            let Some((key, value)) = merge_key else {
                *patch = owned(want);
                return;
            };
            let NodeKind::Sequence { items, .. } = &mut patch.kind else {
                return;
            };
            let same = |i: &Node<'_>| i.get(key).is_some_and(|v| v.same_data(value));
            let at = match items.iter().position(same) {
                Some(at) => at,
                None => {
                    items.push(Node::new(NodeKind::Mapping {
                        style: yaml::CollectionStyle::Block,
                        entries: vec![(Node::new_scalar(key, true), owned(value))],
                    }));
                    items.len() - 1
                }
            };
            match (rest.is_empty(), new) {
                (true, Some(new)) => items[at] = owned(new),
                (true, None) => {
                    let NodeKind::Mapping { entries, .. } = &mut items[at].kind else {
                        return;
                    };
                    entries.push((
                        Node::new_scalar("$patch", true),
                        Node::new_scalar("delete", true),
                    ));
                }
                (false, _) => merge_into_patch(&mut items[at], item, rest, new),
            }
        }
    }
}

/// `source` with the differences `made` (each in the document it names) written losslessly;
/// items removed from one list go from the last one back.
fn write_edits(
    source: &str,
    made: &[(usize, Difference<'static>)],
    layout: Option<yaml::Layout>,
) -> Result<String, String> {
    let text = Text::new(source);
    let stream = yaml::parse(&text, true).map_err(|e| e.to_string())?;
    let mut made = made.to_vec();
    let removed_index = |d: &Difference<'_>| match (d.new.is_none(), d.path.last()) {
        (true, Some(Step::Index(i))) => Some(*i),
        _ => None,
    };
    made.sort_by_key(|(_, d)| std::cmp::Reverse(removed_index(d)));
    made.dedup_by(|a, b| a.0 == b.0 && a.1.path == b.1.path);
    let mut documents: Vec<Option<Node<'_>>> = vec![None; stream.documents.len()];
    for (number, difference) in &made {
        let Some(original) = stream.documents.get(*number) else {
            continue;
        };
        apply(
            documents[*number].get_or_insert_with(|| original.clone()),
            difference,
        );
    }
    let writer = yaml::Writer::new(&text);
    let writer = match layout {
        Some(layout) => writer.with_layout(layout),
        None => writer,
    };
    writer
        .write(&stream, &documents)
        .map(|w| w.text(source))
        .map_err(|e| e.to_string())
}

/// The writing habits of the kustomization file `kustomization` (its indentation, of lists
/// under keys too), for the patch kubeharden writes beside it.
fn layout_of(kustomization: Option<&Path>) -> Option<yaml::Layout> {
    let source = std::fs::read_to_string(kustomization?).ok()?;
    let text = Text::new(&source);
    let stream = yaml::parse(&text, false).ok()?;
    Some(yaml::Layout::detect(&text, stream.documents.first()?))
}

/// Maps `difference` (between the built document `got`, named `name`, and its intended form
/// `want`) onto the JSON 6902 operations of the kustomization in `folder` that remove or
/// replace the field or a field above it: a `remove` is taken out, a `replace` gets the
/// intended value; inline (`patch: |-`) or in a patch file. The paths of the operations found.
fn map_onto_json_ops(
    folder: &Path,
    name: &str,
    want: &Node<'_>,
    difference: &Difference<'_>,
    changes: &[&Change],
    edits: &mut Vec<PatchEdit>,
) -> Vec<Vec<Step>> {
    let (kind, built_name) = kind_and_name(name);
    let mut found = Vec::new();
    let Some(file) = kustomization_file(folder) else {
        return found;
    };
    let Ok(source) = std::fs::read_to_string(&file) else {
        return found;
    };
    let text = Text::new(&source);
    let Ok(stream) = yaml::parse(&text, false) else {
        return found;
    };
    let Some(root) = stream.documents.first() else {
        return found;
    };
    for key in ["patches", "patchesJson6902"] {
        for (entry, item) in root
            .get(key)
            .and_then(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let target = item.get("target");
            let field = |f: &str| target.and_then(|t| t.get(f)).and_then(Node::as_str);
            let selector = Selector {
                group: field("group"),
                version: field("version"),
                kind: field("kind"),
                name: field("name"),
                namespace: field("namespace"),
            };
            if !selector.selects(root, want) {
                continue;
            }
            let (ops_file, ops_source, line) = match (item.get("patch"), item.get("path")) {
                (Some(inline), _) if key == "patches" => match inline.as_str() {
                    Some(ops) => (
                        None,
                        ops.to_owned(),
                        text.position(inline.full_start()).line,
                    ),
                    None => continue,
                },
                (_, Some(path)) => {
                    let Some(path) = path.as_str() else { continue };
                    let path = folder.join(path);
                    match std::fs::read_to_string(&path) {
                        Ok(ops) => (Some(path), ops, 1),
                        Err(_) => continue,
                    }
                }
                _ => continue,
            };
            let ops_text = Text::new(&ops_source);
            let Ok(ops_stream) = yaml::parse(&ops_text, false) else {
                continue;
            };
            let Some(ops) = ops_stream.documents.first().and_then(Node::items) else {
                continue;
            };
            for (number, op) in ops.iter().enumerate() {
                let verb = op.get("op").and_then(Node::as_str).unwrap_or("");
                let Some(pointer) = op.get("path").and_then(Node::as_str) else {
                    continue;
                };
                let steps = pointer_steps(pointer);
                let touches =
                    difference.path.starts_with(&steps) || steps.starts_with(&difference.path);
                if !touches || !matches!(verb, "remove" | "replace") {
                    continue;
                }
                let change = match verb {
                    "remove" => Difference {
                        path: vec![Step::Index(number)],
                        new: None,
                    },
                    _ => {
                        let Some(value) = node_at(want, &steps) else {
                            continue;
                        };
                        Difference {
                            path: vec![Step::Index(number), Step::Key("value".into())],
                            new: Some(owned(value)),
                        }
                    }
                };
                let edit_path = ops_file.clone().unwrap_or_else(|| file.clone());
                let index = match edits.iter().position(|e| e.path == edit_path) {
                    Some(index) => index,
                    None => {
                        let mut edit = match &ops_file {
                            Some(_) => PatchEdit::new(edit_path.clone(), ops_source.clone()),
                            None => PatchEdit::new(edit_path.clone(), source.clone()),
                        };
                        if ops_file.is_some() {
                            edit.listed = Some((file.clone(), key, entry));
                        }
                        edits.push(edit);
                        edits.len() - 1
                    }
                };
                let edit = &mut edits[index];
                let already = edit
                    .made
                    .iter()
                    .chain(&edit.inline)
                    .any(|(n, d)| d.path == change.path && (ops_file.is_some() || *n == entry));
                found.push(steps.clone());
                if already {
                    continue;
                }
                let what = match verb {
                    "remove" => "taken out",
                    _ => "given the hardened value",
                };
                edit.notes.push(note(
                    ("", kind),
                    built_name,
                    line,
                    format!(
                        "the JSON 6902 operation `{verb} {pointer}` undid the hardening of `{}`; it was {what}",
                        path_to_string(&difference.path)
                    ),
                ));
                edit.changes.extend(changes.iter().map(|c| Change {
                    line,
                    ..(*c).clone()
                }));
                match ops_file {
                    Some(_) => edit.made.push((0, change)),
                    None => edit.inline.push((entry, change)),
                }
            }
        }
    }
    found
}

/// What a patch selects, as kustomize reads it: from a `target:` of the kustomization, or from
/// a strategic-merge patch's own `apiVersion`, `kind` and `metadata`. A field not given
/// selects anything.
struct Selector<'s> {
    group: Option<&'s str>,
    version: Option<&'s str>,
    kind: Option<&'s str>,
    name: Option<&'s str>,
    namespace: Option<&'s str>,
}

impl<'s> Selector<'s> {
    /// The selector of a strategic-merge patch document.
    fn of_patch(patch: &'s Node<'_>) -> Selector<'s> {
        let field = |node: Option<&'s Node<'_>>, key: &str| node?.get(key)?.as_str();
        let (group, version) = split_api_version(field(Some(patch), "apiVersion"));
        Selector {
            group,
            version,
            kind: field(Some(patch), "kind"),
            name: field(patch.get("metadata"), "name"),
            namespace: field(patch.get("metadata"), "namespace"),
        }
    }

    /// Whether a patch of the kustomization `kustomization` with this selector applies to the
    /// resource built as `built`: group, version, kind and namespace (unless the kustomization
    /// sets its own `namespace:`, after its patches) must be equal; the name must be the
    /// built one, or the built one without the kustomization's `namePrefix` and `nameSuffix`
    /// (they are added after its patches). A patch naming a resource by a name a base gave it
    /// before its own prefix is not taken, and verification then reports the change; a name
    /// written as a regular expression is not read and selects anything (verification by
    /// building again is the guard there).
    fn selects(&self, kustomization: &Node<'_>, built: &Node<'_>) -> bool {
        let field = |node: Option<&Node<'_>>, key: &str| {
            node.and_then(|n| n.get(key))
                .and_then(Node::as_str)
                .map(str::to_owned)
        };
        let metadata = built.get("metadata");
        let (group, version) = split_api_version(built.get("apiVersion").and_then(Node::as_str));
        let equal = |wanted: Option<&str>, have: Option<&str>| {
            wanted.is_none_or(|w| Some(w) == have.or(Some("")))
        };
        let setting = |key: &str| field(Some(kustomization), key).unwrap_or_default();
        let namespace = field(metadata, "namespace");
        let namespace_checked = setting("namespace").is_empty();
        let built_name = field(metadata, "name").unwrap_or_default();
        let (prefix, suffix) = (setting("namePrefix"), setting("nameSuffix"));
        let stripped = built_name
            .strip_prefix(prefix.as_str())
            .and_then(|n| n.strip_suffix(suffix.as_str()))
            .unwrap_or(&built_name);
        let name_matches = self.name.is_none_or(|n| {
            n.contains(['*', '(', '[', '|', '^', '$', '+', '?']) || stripped == n || built_name == n
        });
        equal(self.group, group)
            && equal(self.version, version)
            && equal(self.kind, built.get("kind").and_then(Node::as_str))
            && (!namespace_checked
                || self.namespace.is_none_or(|n| {
                    let have = namespace.as_deref().unwrap_or("default");
                    n == have || (n == "default" && have.is_empty())
                }))
            && name_matches
    }
}

/// The group and the version of an `apiVersion` (`apps/v1`; the core group is empty: `v1`).
fn split_api_version(api_version: Option<&str>) -> (Option<&str>, Option<&str>) {
    match api_version.map(|a| a.split_once('/')) {
        Some(Some((group, version))) => (Some(group), Some(version)),
        Some(None) => (Some(""), api_version),
        None => (None, None),
    }
}

/// The steps of a JSON pointer (`/spec/containers/0`): numbers are list indexes.
fn pointer_steps(pointer: &str) -> Vec<Step> {
    pointer
        .split('/')
        .skip(1)
        .map(|part| match part.parse::<usize>() {
            Ok(index) => Step::Index(index),
            Err(_) => Step::Key(part.replace("~1", "/").replace("~0", "~").into()),
        })
        .collect()
}

/// The node at `path` below `node`.
fn node_at<'n, 'a>(node: &'n Node<'a>, path: &[Step]) -> Option<&'n Node<'a>> {
    path.iter().try_fold(node, |node, step| match step {
        Step::Key(key) => node.get(key),
        Step::Index(index) => node.items()?.get(*index),
    })
}

/// Maps `difference` (between the built document `got` and its intended form) onto the
/// strategic-merge patch file of the kustomization in `folder` that holds most of its
/// path: a patch that sets the field sets a value contradicting the intended one, changed
/// there; a patch that brings the parent (a container the patch adds) gets the field added.
/// False when no patch reaches the difference.
fn map_onto_patches(
    folder: &Path,
    got: &Node<'_>,
    difference: &Difference<'_>,
    changes: &[&Change],
    edits: &mut Vec<PatchEdit>,
) -> bool {
    let kustomization_source = kustomization_file(folder)
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    let kustomization_text = Text::new(&kustomization_source);
    let kustomization = yaml::parse(&kustomization_text, false)
        .ok()
        .and_then(|s| s.documents.into_iter().next());
    // The best place so far: file, document, path in the patch, how much of it the patch has.
    let mut best: Option<(PathBuf, String, usize, Vec<Step>, usize)> = None;
    for file in patch_files_with_components(folder) {
        let source = match edits.iter().find(|e| e.path == file) {
            Some(edit) => edit.source.clone(),
            None => match std::fs::read_to_string(&file) {
                Ok(source) => source,
                Err(_) => continue,
            },
        };
        let text = Text::new(&source);
        let Ok(stream) = yaml::parse(&text, true) else {
            continue;
        };
        for (number, patch) in stream.documents.iter().enumerate() {
            let selector = Selector::of_patch(patch);
            if selector.kind.is_none()
                || selector.name.is_none()
                || !kustomization
                    .as_ref()
                    .is_some_and(|k| selector.selects(k, got))
            {
                continue;
            }
            let Some((path, reached)) = patch_path(got, patch, &difference.path) else {
                continue;
            };
            if best.as_ref().is_none_or(|(.., depth)| reached > *depth) {
                best = Some((file.clone(), source.clone(), number, path, reached));
            }
        }
    }
    let Some((file, source, number, mut path, reached)) = best else {
        return false;
    };
    let text = Text::new(&source);
    let Ok(stream) = yaml::parse(&text, true) else {
        return false;
    };
    let line = text
        .position(field_start(&stream.documents[number], &path))
        .line;
    let index = match edits.iter().position(|e| e.path == file) {
        Some(index) => index,
        None => {
            edits.push(PatchEdit::new(file, source.clone()));
            edits.len() - 1
        }
    };
    let edit = &mut edits[index];
    // Items appended to one list go one after the other.
    if let Some((Step::Index(at), parent)) = path.split_last() {
        let before = edit
            .made
            .iter()
            .filter(|(n, d)| {
                *n == number
                    && matches!(d.path.split_last(), Some((Step::Index(i), p)) if p == parent && i >= at)
            })
            .count();
        let last = path.len() - 1;
        path[last] = Step::Index(at + before);
    }
    // A field the built output must lose that the patch does not set (a base's hardening
    // that a suppression in the patch keeps out) is set to null: a strategic merge removes it.
    let new = match &difference.new {
        None if reached < path.len() => Some(Node::new_scalar("null", false)),
        new => new.as_ref().map(owned),
    };
    edit.made.push((number, Difference { path, new }));
    edit.changes.extend(changes.iter().map(|c| Change {
        document: number,
        line,
        ..(*c).clone()
    }));
    true
}

/// The path in the strategic-merge patch `patch` of the built field at `path` of `built`, and
/// how many of its steps the patch already has, when the patch sets the field or a mapping
/// above it that the rest of the path can be added to (an item appended to a list the patch
/// holds counts too). List items are matched as Kubernetes merges them, by `name` (or
/// `mountPath`, for volume mounts).
fn patch_path(built: &Node<'_>, patch: &Node<'_>, path: &[Step]) -> Option<(Vec<Step>, usize)> {
    let mut built = Some(built);
    let mut patch = patch;
    let mut out = Vec::new();
    for (depth, step) in path.iter().enumerate() {
        match step {
            Step::Key(key) => match patch.get(key) {
                Some(next) => {
                    patch = next;
                    built = built.and_then(|b| b.get(key));
                    out.push(step.clone());
                }
                None => {
                    let rest = &path[depth..];
                    let addable =
                        patch.entries().is_some() && rest.iter().all(|s| matches!(s, Step::Key(_)));
                    return addable
                        .then(|| (out.into_iter().chain(rest.to_vec()).collect(), depth));
                }
            },
            Step::Index(index) => {
                let items = patch.items()?;
                let Some(item) = built.and_then(|b| b.items()).and_then(|i| i.get(*index)) else {
                    // An item appended to the list: appended to the patch's list.
                    return (depth + 1 == path.len()).then(|| {
                        (
                            out.into_iter().chain([Step::Index(items.len())]).collect(),
                            depth,
                        )
                    });
                };
                let (merge_key, value) = ["name", "mountPath"]
                    .iter()
                    .find_map(|k| Some((*k, item.get(k)?.as_str()?)))?;
                let (at, found) = items
                    .iter()
                    .enumerate()
                    .find(|(_, p)| p.get(merge_key).and_then(Node::as_str) == Some(value))?;
                patch = found;
                built = Some(item);
                out.push(Step::Index(at));
            }
        }
    }
    Some((out, path.len()))
}

/// Where the field at `path` of `node` starts in its text (the node itself when absent).
fn field_start(node: &Node<'_>, path: &[Step]) -> usize {
    (0..=path.len())
        .rev()
        .find_map(|depth| node_at(node, &path[..depth]))
        .unwrap_or(node)
        .full_start()
}

/// A temporary copy of a tree, with some files replaced and every kustomization file asking
/// for origin annotations. The copy stands at the tree's own absolute path below a temporary
/// folder, and each base a kustomization names outside the tree is linked in at its own
/// absolute path there, so that `../` paths leading out of the tree still reach it.
struct TreeCopy {
    /// Kept for its removal on drop.
    _dir: tempfile::TempDir,
    /// The copy of the tree root.
    path: PathBuf,
}

impl TreeCopy {
    fn new(
        root: &Path,
        folders: &[PathBuf],
        replaced: &[(PathBuf, String)],
    ) -> Result<TreeCopy, String> {
        let dir =
            tempfile::tempdir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
        let absolute = root
            .canonicalize()
            .map_err(|e| format!("cannot read {}: {e}", root.display()))?;
        let mirrored = |path: &Path| dir.path().join(path.strip_prefix("/").unwrap_or(path));
        let path = mirrored(&absolute);
        copy_folder(root, &path).map_err(|e| format!("cannot copy {}: {e}", root.display()))?;
        for outside in outside_bases(folders, &absolute) {
            let link = mirrored(&outside);
            if link.exists() {
                continue;
            }
            let made = link
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::os::unix::fs::symlink(&outside, &link));
            made.map_err(|e| format!("cannot link {}: {e}", outside.display()))?;
        }
        for (file, text) in replaced {
            let relative = file.strip_prefix(root).unwrap_or(file);
            let text = match is_kustomization_file(file) {
                true => with_origin_annotations(text.clone()),
                false => text.clone(),
            };
            std::fs::write(path.join(relative), text)
                .map_err(|e| format!("cannot write a temporary copy of {}: {e}", file.display()))?;
        }
        Ok(TreeCopy { _dir: dir, path })
    }
}

/// The folders outside the tree (whose absolute path is `absolute`) that the kustomizations
/// in `folders` name as `resources`, `bases` or `components`, absolute.
fn outside_bases(folders: &[PathBuf], absolute: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for target in folders.iter().flat_map(|folder| local_bases(folder)) {
        if !target.starts_with(absolute) && !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// The local folders the kustomization in `folder` builds on (`resources`, `bases`,
/// `components` naming a folder), canonical.
fn local_bases(folder: &Path) -> Vec<PathBuf> {
    let source = kustomization_file(folder).and_then(|f| std::fs::read_to_string(f).ok());
    let source = source.unwrap_or_default();
    let text = Text::new(&source);
    let Ok(stream) = yaml::parse(&text, false) else {
        return Vec::new();
    };
    let Some(kustomization) = stream.documents.first() else {
        return Vec::new();
    };
    ["resources", "bases", "components"]
        .iter()
        .flat_map(|key| {
            kustomization
                .get(key)
                .and_then(Node::items)
                .unwrap_or_default()
        })
        .filter_map(|item| item.as_str().filter(|n| !n.contains("://")))
        .filter_map(|named| folder.join(named).canonicalize().ok())
        .filter(|target| target.is_dir())
        .collect()
}

/// Every kustomization folder the one in `folder` builds on, through its bases' bases too,
/// canonical.
fn included(folder: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut next = local_bases(folder);
    while let Some(base) = next.pop() {
        if !out.contains(&base) {
            next.extend(local_bases(&base));
            out.push(base);
        }
    }
    out
}

/// Whether `path` is named as a kustomization file.
fn is_kustomization_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| KUSTOMIZATION_FILES.iter().any(|k| name == *k))
}

/// A kustomization file's `text` asking for origin annotations, unless it names build
/// metadata of its own.
fn with_origin_annotations(mut text: String) -> String {
    if !text.lines().any(|l| l.starts_with("buildMetadata:")) {
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        text.push_str("buildMetadata: [originAnnotations]\n");
    }
    text
}

/// Copies the folder `from` to `to`, leaving out `.git`; kustomization files get
/// `buildMetadata: [originAnnotations]` when they name no build metadata.
fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        if source.is_dir() {
            copy_folder(&source, &target)?;
        } else if is_kustomization_file(&source) {
            let text = std::fs::read_to_string(&source)?;
            std::fs::write(&target, with_origin_annotations(text))?;
        } else if source.is_file() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the strategic-merge `patch` of the kustomization `kustomization` selects the
    /// built resource `built`.
    fn selects(kustomization: &str, patch: &str, built: &str) -> bool {
        let parsed = |source: &str| {
            let text = Text::new(source);
            owned(&yaml::parse(&text, false).unwrap().documents[0])
        };
        let (kustomization, patch, built) = (parsed(kustomization), parsed(patch), parsed(built));
        Selector::of_patch(&patch).selects(&kustomization, &built)
    }

    const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";

    #[test]
    fn a_patch_selects_as_kustomize_does_by_group_version_kind_name_and_namespace() {
        let built = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dev-web-worker\n  namespace: shop\n";
        let overlay = "namePrefix: dev-\n";
        let worker = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-worker\n";
        assert!(selects(overlay, worker, built));
        assert!(selects(
            overlay,
            &worker.replace("web-worker", "dev-web-worker"),
            built
        ));
        // A name within the built one is another resource's.
        assert!(!selects(overlay, WEB, built));
        assert!(!selects(
            overlay,
            &worker.replace("apps/v1", "apps/v1beta1"),
            built
        ));
        assert!(!selects(
            overlay,
            &worker.replace("Deployment", "StatefulSet"),
            built
        ));
        let elsewhere = format!("{worker}  namespace: test\n");
        assert!(!selects(overlay, &elsewhere, built));
        // The overlay's own namespace is set after its patches: not compared.
        assert!(selects(
            "namespace: prod\nnamePrefix: dev-\n",
            &elsewhere,
            built
        ));
    }
}
