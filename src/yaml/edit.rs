//! Edits on a document tree: set a value (creating missing mappings on the way), append an item,
//! remove a key or an item. They change the *intended* tree; `render` then turns the difference
//! from the original into text splices.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;
use std::fmt::{self, Write};

use super::node::{CollectionStyle, Node, NodeKind};

/// One step of a path from a document's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The value under a mapping key: borrowed when the key is kubeharden's own (`spec`,
    /// `containers`, a rule's path), so that paths are copied without copying their keys.
    Key(Cow<'static, str>),
    /// An item of a sequence.
    Index(usize),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Key(k) => write!(f, ".{k}"),
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Writes a path the way people read one: `spec.containers[0].securityContext`.
pub fn path_to_string(path: &[Step]) -> String {
    // A key takes its length and a dot; an index rarely more than four characters.
    let length = (path.iter())
        .map(|step| match step {
            Step::Key(k) => k.len() + 1,
            Step::Index(_) => 4,
        })
        .sum();
    let mut text = String::with_capacity(length);
    for (i, step) in path.iter().enumerate() {
        match step {
            // A leading key needs no dot before it.
            Step::Key(k) if i == 0 => text.push_str(k),
            Step::Key(k) => {
                text.push('.');
                text.push_str(k);
            }
            Step::Index(index) => {
                // Writing to a `String` cannot fail.
                let _ = write!(text, "[{index}]");
            }
        }
    }
    text
}

/// Why an edit was not made. The edit is skipped; the rest of the file is still fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where edits may not go: nodes reached through an alias, or whose anchor is aliased, since
/// changing them would change every other user of that anchor too.
pub struct Guard<'s> {
    root: &'s Node<'s>,
    /// The anchors that the document aliases, collected on the first edit of an anchored node:
    /// it walks the whole document, and most documents have no anchor.
    aliased: OnceCell<HashSet<usize>>,
    names: &'s std::collections::HashMap<usize, String>,
}

impl<'s> Guard<'s> {
    /// Guards the nodes of `root`, naming its anchors by `names`.
    pub fn new(root: &'s Node<'_>, names: &'s std::collections::HashMap<usize, String>) -> Self {
        Guard {
            root,
            aliased: OnceCell::new(),
            names,
        }
    }

    fn check(&self, node: &Node<'_>) -> Result<(), Refusal> {
        let name = |id: &usize| self.names.get(id).cloned().unwrap_or_default();
        match &node.kind {
            NodeKind::Alias(id) => Err(Refusal(format!(
                "the value is the alias *{}; editing it would change every user of &{}",
                name(id),
                name(id)
            ))),
            _ if node.anchor != 0 && self.aliased().contains(&node.anchor) => {
                Err(Refusal(format!(
                    "the value is shared through the anchor &{}; editing it would change its aliases too",
                    name(&node.anchor)
                )))
            }
            _ => Ok(()),
        }
    }

    fn aliased(&self) -> &HashSet<usize> {
        self.aliased.get_or_init(|| {
            let mut aliased = HashSet::new();
            collect_aliases(self.root, &mut aliased);
            aliased
        })
    }
}

fn collect_aliases(node: &Node<'_>, out: &mut HashSet<usize>) {
    match &node.kind {
        NodeKind::Alias(id) => {
            out.insert(*id);
        }
        NodeKind::Mapping { entries, .. } => entries.iter().for_each(|(k, v)| {
            collect_aliases(k, out);
            collect_aliases(v, out);
        }),
        NodeKind::Sequence { items, .. } => items.iter().for_each(|i| collect_aliases(i, out)),
        NodeKind::Scalar { .. } => {}
    }
}

/// The node at `path`, if every step exists; aliases are not followed.
pub fn lookup<'n, 'a>(root: &'n Node<'a>, path: &[Step]) -> Option<&'n Node<'a>> {
    path.iter().try_fold(root, |node, step| match step {
        Step::Key(k) => node.get(k),
        Step::Index(i) => node.items()?.get(*i),
    })
}

/// The node at `path`, to change it, found as [`lookup`] finds it; aliases are not followed.
pub fn lookup_mut<'n, 'a>(root: &'n mut Node<'a>, path: &[Step]) -> Option<&'n mut Node<'a>> {
    path.iter().try_fold(root, child_mut)
}

/// The child of `node` that `step` leads to, to change it.
fn child_mut<'n, 'a>(node: &'n mut Node<'a>, step: &Step) -> Option<&'n mut Node<'a>> {
    match (&mut node.kind, step) {
        (NodeKind::Mapping { entries, .. }, Step::Key(key)) => entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some(&**key))
            .map(|(_, v)| v),
        (NodeKind::Sequence { items, .. }, Step::Index(i)) => items.get_mut(*i),
        _ => None,
    }
}

/// The children of `node`, each with the step from `node` to it: a mapping's values under
/// their (scalar) keys, a sequence's items; none for a scalar or an alias.
pub fn children<'n, 'a>(node: &'n Node<'a>) -> Vec<(Step, &'n Node<'a>)> {
    match &node.kind {
        NodeKind::Mapping { entries, .. } => entries
            .iter()
            .filter_map(|(k, v)| Some((Step::Key(k.as_str()?.to_owned().into()), v)))
            .collect(),
        NodeKind::Sequence { items, .. } => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Step::Index(i), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// Sets the value at `path` to `value`, creating mappings for missing keys and replacing a null
/// or empty value on the way.
pub fn set<'a>(
    root: &mut Node<'a>,
    path: &[Step],
    value: Node<'a>,
    guard: &Guard<'_>,
) -> Result<(), Refusal> {
    let Some((Step::Key(last), parent_path)) = path.split_last() else {
        return Err(Refusal(
            "a value can only be set under a mapping key".into(),
        ));
    };
    let parent = walk_creating(root, parent_path, guard)?;
    let entries = mapping_entries(parent, last)?;
    match entries
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(&**last))
    {
        Some((_, existing)) => {
            guard.check(existing)?;
            *existing = keep_properties(existing, value)?;
        }
        None => entries.push((Node::new_scalar(last.clone(), true), value)),
    }
    Ok(())
}

/// `value` with the anchor and tag of the node it replaces, so that the text keeps them. A tag
/// that would change what the new value means (`!!str` on a boolean) refuses the edit.
fn keep_properties<'a>(existing: &Node<'a>, mut value: Node<'a>) -> Result<Node<'a>, Refusal> {
    value.anchor = existing.anchor;
    if let Some(tag) = &existing.tag {
        let mut tagged = value.clone();
        tagged.tag = Some(tag.clone());
        if !tagged.means_the_same_as(&value) {
            let tag = match tag.strip_prefix("tag:yaml.org,2002:") {
                Some(core) => format!("!!{core}"),
                None => tag.to_string(),
            };
            return Err(Refusal(format!(
                "the value carries the tag {tag}, which would change the meaning of the new value; edit it by hand"
            )));
        }
        value = tagged;
    }
    Ok(value)
}

/// Appends `value` to the sequence at `path`, creating it when missing.
pub fn append<'a>(
    root: &mut Node<'a>,
    path: &[Step],
    value: Node<'a>,
    guard: &Guard<'_>,
) -> Result<(), Refusal> {
    let Some((Step::Key(last), parent_path)) = path.split_last() else {
        return Err(Refusal(
            "a list can only be found under a mapping key".into(),
        ));
    };
    let parent = walk_creating(root, parent_path, guard)?;
    let list = child_or_new(parent, last, guard, || NodeKind::Sequence {
        style: CollectionStyle::Block,
        items: Vec::new(),
    })?;
    match &mut list.kind {
        NodeKind::Sequence { items, .. } => {
            items.push(value);
            Ok(())
        }
        _ => Err(Refusal("the value is not a list".into())),
    }
}

/// Removes the key or item at `path`; a missing one is not an error.
pub fn remove(root: &mut Node<'_>, path: &[Step], guard: &Guard<'_>) -> Result<(), Refusal> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(Refusal("the document root cannot be removed".into()));
    };
    let Some(parent) = walk_existing(root, parent_path, guard)? else {
        return Ok(());
    };
    match (&mut parent.kind, last) {
        (NodeKind::Mapping { entries, .. }, Step::Key(k)) => {
            entries.retain(|(key, _)| key.as_str() != Some(&**k))
        }
        (NodeKind::Sequence { items, .. }, Step::Index(i)) if *i < items.len() => {
            items.remove(*i);
        }
        _ => {}
    }
    Ok(())
}

fn walk_existing<'n, 'a>(
    mut node: &'n mut Node<'a>,
    path: &[Step],
    guard: &Guard<'_>,
) -> Result<Option<&'n mut Node<'a>>, Refusal> {
    guard.check(node)?;
    for step in path {
        let Some(next) = child_mut(node, step) else {
            return Ok(None);
        };
        guard.check(next)?;
        node = next;
    }
    Ok(Some(node))
}

fn walk_creating<'n, 'a>(
    mut node: &'n mut Node<'a>,
    path: &[Step],
    guard: &Guard<'_>,
) -> Result<&'n mut Node<'a>, Refusal> {
    guard.check(node)?;
    for step in path {
        node = match step {
            Step::Key(k) => child_or_new(node, k, guard, || NodeKind::Mapping {
                style: CollectionStyle::Block,
                entries: Vec::new(),
            })?,
            Step::Index(i) => match &mut node.kind {
                NodeKind::Sequence { items, .. } if *i < items.len() => {
                    guard.check(&items[*i])?;
                    &mut items[*i]
                }
                _ => return Err(Refusal(format!("there is no item [{i}]"))),
            },
        };
    }
    Ok(node)
}

/// The value under `key` in the mapping `node`, created as `empty()` when the key is missing
/// and put in place of a null (`key:`, keeping an anchor written on it).
fn child_or_new<'n, 'a>(
    node: &'n mut Node<'a>,
    key: &str,
    guard: &Guard<'_>,
    empty: impl Fn() -> NodeKind<'a>,
) -> Result<&'n mut Node<'a>, Refusal> {
    let entries = mapping_entries(node, key)?;
    let index = match entries.iter().position(|(k, _)| k.as_str() == Some(key)) {
        Some(i) => i,
        None => {
            entries.push((Node::new_scalar(key.to_owned(), true), Node::new(empty())));
            entries.len() - 1
        }
    };
    let child = &mut entries[index].1;
    guard.check(child)?;
    if child.is_null() {
        let anchor = child.anchor;
        *child = Node::new(empty());
        child.anchor = anchor;
    }
    Ok(child)
}

/// The entries of `node` as a mapping about to receive `key`: a null becomes an empty mapping;
/// a merge key (`<<`) is refused, since the key may come from the merged mapping.
fn mapping_entries<'n, 'a>(
    node: &'n mut Node<'a>,
    key: &str,
) -> Result<&'n mut Vec<(Node<'a>, Node<'a>)>, Refusal> {
    if node.is_null() {
        *node = Node::new(NodeKind::Mapping {
            style: CollectionStyle::Block,
            entries: Vec::new(),
        });
    }
    match &mut node.kind {
        NodeKind::Mapping { entries, .. } => {
            let copies = entries
                .iter()
                .filter(|(k, _)| k.as_str() == Some(key))
                .count();
            if copies > 1 {
                return Err(Refusal(format!(
                    "`{key}` appears {copies} times in one mapping; Kubernetes rejects duplicate keys, remove the extra ones"
                )));
            }
            let has_key = copies == 1;
            if !has_key && entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
                return Err(Refusal(format!(
                    "the mapping merges another one with `<<`, which may already set `{key}`"
                )));
            }
            Ok(entries)
        }
        _ => Err(Refusal(format!(
            "`{key}` cannot be set: its parent is not a mapping"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{Step, path_to_string};

    #[test]
    fn a_path_reads_with_dots_between_keys_and_brackets_around_indexes() {
        let key = |k: &str| Step::Key(k.to_owned().into());
        let path = [key("spec"), key("containers"), Step::Index(0), key("image")];
        assert_eq!(path_to_string(&path), "spec.containers[0].image");
        assert_eq!(path_to_string(&[Step::Index(2), key("a")]), "[2].a");
        assert_eq!(path_to_string(&[key(""), key("b")]), ".b");
        assert_eq!(path_to_string(&[]), "");
    }
}
