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
pub mod template;

use crate::yaml::{CollectionStyle, Node, NodeKind, Step};

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
                path.push(Step::Key(name.to_owned()));
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
                    path.push(Step::Key(name.to_owned()));
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
                path.push(Step::Key(name.to_owned()));
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
                    path.push(Step::Key(name.to_owned()));
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
