//! Rendered sources: inputs whose manifests are a tool's output rather than files of their own
//! (a Helm chart today; a kustomization is meant to plug in the same way). One pipeline serves
//! them all:
//!
//! 1. **render** the source into manifests, keeping for each rendered document where it came from;
//! 2. **plan** on the rendered manifests with the planner of plain files ([`crate::transform`]);
//! 3. **map back** each [`Difference`] between the rendered and the intended documents to an
//!    edit of a source file, or to a warning that says why it cannot be mapped;
//! 4. **edit** the source files with the lossless layer ([`crate::yaml`]);
//! 5. **verify** by rendering the edited source again: each rendered document must equal the
//!    original one with the mapped differences applied ([`first_mismatch`]); otherwise nothing
//!    is written.
//!
//! This module holds the steps that know nothing of the tool; [`helm`] holds the rest.

pub mod helm;
pub mod kustomize;
pub mod template;

use std::path::{Path, PathBuf};

use crate::transform::{Change, Finding};
use crate::yaml::{CollectionStyle, Node, NodeKind, Step, path_to_string};

/// One difference between a rendered document and its intended form: the value at `path` is
/// set to `new` (added, or replaced whole), or removed when `new` is `None`. An item appended
/// to a sequence is a difference at the new item's index.
#[derive(Debug, Clone)]
pub struct Difference<'a> {
    /// The field, from the document root.
    pub path: Vec<Step>,
    /// The intended value; `None` when the field or item goes.
    pub new: Option<Node<'a>>,
}

/// The differences that turn `original` into `intended`, each as high in the tree as it can be
/// stated: a key missing from `original` is one difference carrying its whole intended value.
pub fn differences<'a>(original: &Node<'_>, intended: &Node<'a>) -> Vec<Difference<'a>> {
    let mut out = Vec::new();
    collect_differences(original, intended, &mut Vec::new(), &mut out);
    out
}

fn collect_differences<'a>(
    original: &Node<'_>,
    intended: &Node<'a>,
    path: &mut Vec<Step>,
    out: &mut Vec<Difference<'a>>,
) {
    match (&original.kind, &intended.kind) {
        (NodeKind::Mapping { entries: old, .. }, NodeKind::Mapping { entries: new, .. }) => {
            for (key, value) in new {
                let Some(name) = key.as_str() else { continue };
                path.push(Step::Key(name.to_owned().into()));
                match original.get(name) {
                    Some(before) => collect_differences(before, value, path, out),
                    None => out.push(Difference {
                        path: path.clone(),
                        new: Some(value.clone()),
                    }),
                }
                path.pop();
            }
            for (key, _) in old {
                if let Some(name) = key.as_str()
                    && intended.get(name).is_none()
                {
                    path.push(Step::Key(name.to_owned().into()));
                    out.push(Difference {
                        path: path.clone(),
                        new: None,
                    });
                    path.pop();
                }
            }
        }
        (NodeKind::Sequence { items: old, .. }, NodeKind::Sequence { items: new, .. })
            if old.len() <= new.len() =>
        {
            for (index, value) in new.iter().enumerate() {
                path.push(Step::Index(index));
                match old.get(index) {
                    Some(before) => collect_differences(before, value, path, out),
                    None => out.push(Difference {
                        path: path.clone(),
                        new: Some(value.clone()),
                    }),
                }
                path.pop();
            }
        }
        _ if same_data_unordered(original, intended) => {}
        _ => out.push(Difference {
            path: path.clone(),
            new: Some(intended.clone()),
        }),
    }
}

/// Applies `difference` to `root`, creating missing mappings on the way; false when the path
/// does not lead anywhere in `root` (a parent that is not a collection).
pub fn apply<'a>(root: &mut Node<'a>, difference: &Difference<'a>) -> bool {
    let Some((last, parents)) = difference.path.split_last() else {
        return false;
    };
    let mut node = root;
    for step in parents {
        let next = match (&mut node.kind, step) {
            (NodeKind::Mapping { entries, .. }, Step::Key(key)) => {
                let index = match entries.iter().position(|(k, _)| k.as_str() == Some(key)) {
                    Some(index) => index,
                    None => {
                        entries.push((
                            Node::new_scalar(key.clone(), true),
                            Node::new(NodeKind::Mapping {
                                style: CollectionStyle::Block,
                                entries: Vec::new(),
                            }),
                        ));
                        entries.len() - 1
                    }
                };
                &mut entries[index].1
            }
            (NodeKind::Sequence { items, .. }, Step::Index(index)) => match items.get_mut(*index) {
                Some(item) => item,
                None => return false,
            },
            _ => return false,
        };
        node = next;
    }
    match (&mut node.kind, last, &difference.new) {
        (NodeKind::Mapping { entries, .. }, Step::Key(key), new) => {
            let at = entries.iter().position(|(k, _)| k.as_str() == Some(key));
            match (at, new) {
                (Some(at), Some(new)) => entries[at].1 = new.clone(),
                (None, Some(new)) => {
                    entries.push((Node::new_scalar(key.clone(), true), new.clone()))
                }
                (Some(at), None) => {
                    entries.remove(at);
                }
                (None, None) => {}
            }
            true
        }
        (NodeKind::Sequence { items, .. }, Step::Index(index), new) => {
            match new {
                Some(new) if *index < items.len() => items[*index] = new.clone(),
                Some(new) if *index == items.len() => items.push(new.clone()),
                None if *index < items.len() => {
                    items.remove(*index);
                }
                _ => return false,
            }
            true
        }
        _ => false,
    }
}

/// Whether two nodes hold the same data, mappings compared as sets of entries: renderers
/// such as Helm's `toYaml` sort keys, so key order carries no meaning here.
pub fn same_data_unordered(a: &Node<'_>, b: &Node<'_>) -> bool {
    first_mismatch(a, b, &[]).is_none()
}

/// The first path where `got` differs from `want`, mapping entries compared whatever their
/// order; paths in `volatile` (and below them) are not compared: they differ between two
/// renderings of the same source (generated passwords, certificates).
pub fn first_mismatch(
    got: &Node<'_>,
    want: &Node<'_>,
    volatile: &[Vec<Step>],
) -> Option<Vec<Step>> {
    let mut path = Vec::new();
    mismatch_at(got, want, volatile, &mut path).then_some(path)
}

fn mismatch_at(
    got: &Node<'_>,
    want: &Node<'_>,
    volatile: &[Vec<Step>],
    path: &mut Vec<Step>,
) -> bool {
    if volatile.iter().any(|v| path.starts_with(v)) {
        return false;
    }
    match (&got.kind, &want.kind) {
        (NodeKind::Mapping { entries: a, .. }, NodeKind::Mapping { entries: b, .. }) => {
            for (key, value) in b {
                let Some(name) = key.as_str() else { continue };
                path.push(Step::Key(name.to_owned().into()));
                let differs = match got.get(name) {
                    Some(other) => mismatch_at(other, value, volatile, path),
                    None => !volatile.iter().any(|v| path.starts_with(v)),
                };
                if differs {
                    return true;
                }
                path.pop();
            }
            for (key, _) in a {
                if let Some(name) = key.as_str()
                    && want.get(name).is_none()
                {
                    path.push(Step::Key(name.to_owned().into()));
                    if !volatile.iter().any(|v| path.starts_with(v)) {
                        return true;
                    }
                    path.pop();
                }
            }
            false
        }
        (NodeKind::Sequence { items: a, .. }, NodeKind::Sequence { items: b, .. }) => {
            if a.len() != b.len() {
                return true;
            }
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(Step::Index(index));
                if mismatch_at(x, y, volatile, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        (NodeKind::Scalar { .. }, NodeKind::Scalar { .. }) => !got.means_the_same_as(want),
        _ => true,
    }
}

/// One source file (a chart's values file, a kustomization's resource or patch) with its new
/// text and the changes it carries.
#[derive(Debug, Clone)]
pub struct SourceEdit {
    /// The file, as named from the input given.
    pub path: PathBuf,
    /// Its text before.
    pub original: String,
    /// Its text after, verified by rendering.
    pub new: String,
    /// The rendered changes it makes, each with the line of this file it edits.
    pub changes: Vec<Change>,
    /// Whether the file is changed, created (`original` is then empty) or deleted (`new` is
    /// then empty).
    pub lifecycle: Lifecycle,
}

/// What an edit does to its file as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifecycle {
    /// The file is there before and after.
    #[default]
    Changed,
    /// The file is new.
    Created,
    /// The file goes.
    Deleted,
}

/// What fixing a rendered source gave: the verified edits, and the findings, each with the
/// source file it is about.
#[derive(Debug, Clone, Default)]
pub struct SourceFix {
    /// Edited files, in path order.
    pub edits: Vec<SourceEdit>,
    /// Warnings (unmappable changes), notes, skips and suppressions, by source file.
    pub findings: Vec<(PathBuf, Finding)>,
    /// How many workloads the source renders, over every rendering.
    pub workloads: usize,
}

/// Whether the dotted change path `change` lies at or below the difference at `path`.
pub fn within(change: &str, path: &[Step]) -> bool {
    let prefix = path_to_string(path);
    change
        .strip_prefix(&prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// A difference whose nodes own their text, to outlive the rendering it was found in.
pub fn owned_difference(difference: &Difference<'_>) -> Difference<'static> {
    Difference {
        path: difference.path.clone(),
        new: difference.new.as_ref().map(owned),
    }
}

/// A copy of `node` that owns its text, as a new node: its spans point into the rendering, not
/// into the file it will be written to.
pub fn owned(node: &Node<'_>) -> Node<'static> {
    let kind = match &node.kind {
        NodeKind::Scalar { value, style } => NodeKind::Scalar {
            value: std::borrow::Cow::Owned(value.to_string()),
            style: *style,
        },
        NodeKind::Mapping { style, entries } => NodeKind::Mapping {
            style: *style,
            entries: entries.iter().map(|(k, v)| (owned(k), owned(v))).collect(),
        },
        NodeKind::Sequence { style, items } => NodeKind::Sequence {
            style: *style,
            items: items.iter().map(owned).collect(),
        },
        NodeKind::Alias(id) => NodeKind::Alias(*id),
    };
    Node {
        tag: node.tag.clone(),
        ..Node::new(kind)
    }
}

/// The binary of a rendering tool: the one `named` (by option or configuration), else the one
/// in the environment variable `env`, else `program` on `PATH`; an error ending in
/// `install_hint` when there is none.
pub fn find_tool(
    named: Option<&Path>,
    env: &str,
    program: &str,
    install_hint: &str,
) -> Result<PathBuf, String> {
    let from_env = std::env::var_os(env).map(PathBuf::from);
    if let Some(binary) = named.map(Path::to_path_buf).or(from_env) {
        return match binary.is_file() {
            true => Ok(binary),
            false => Err(format!(
                "{program} not found at {}; {install_hint}",
                binary.display()
            )),
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|folder| folder.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{program} not found on PATH; {install_hint}"))
}

/// What the rendering tool run by `command` printed; on failure, an error naming `what` ran
/// with the tool's own error line (`Error: …`, else its first line).
pub fn tool_output(command: &mut std::process::Command, what: &str) -> Result<String, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stderr
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("error:"))
            .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("no message");
        return Err(format!("{what} failed: {}", line.trim()));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("{program} printed invalid UTF-8"))
}
