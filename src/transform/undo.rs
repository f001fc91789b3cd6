//! Undoing the edits of [`super::planner::Planner::all_or_none`]: before each edit, what puts back
//! the part of the intended tree it changes, so that a refused fix is withdrawn without a copy
//! of the whole pod spec taken in case one is.

use std::borrow::Cow;

use crate::yaml::{self, Node, NodeKind, Step};

/// What an edit at a path does, which tells what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Edit {
    /// Sets the value at the path, creating the mappings on the way.
    Set,
    /// Appends an item to the list at the path, creating it when missing.
    Append,
    /// Removes the key or item at the path.
    Remove,
}

/// What puts back one node of the intended tree as it was before an edit.
#[derive(Debug)]
pub(super) enum Undo<'a> {
    /// The node at the path was this.
    Restore(Vec<Step>, Node<'a>),
    /// The mapping at the path did not have this key.
    Forget(Vec<Step>, Cow<'static, str>),
    /// The list at the path had this many items.
    Truncate(Vec<Step>, usize),
}

impl<'a> Undo<'a> {
    /// What undoes `edit` at `path` in `root`: a removal changes the parent; a set or an append
    /// changes the deepest node of the path that exists (a scalar replaced, an item added) or
    /// adds the path's next key to it. `None` when the edit can change nothing.
    pub(super) fn of(root: &Node<'a>, path: &[Step], edit: Edit) -> Option<Undo<'a>> {
        if edit == Edit::Remove {
            let (_, parent) = path.split_last()?;
            let node = yaml::lookup(root, parent)?;
            return Some(Undo::Restore(parent.to_vec(), node.clone()));
        }
        let (mut node, mut depth) = (root, 0);
        while let Some(next) = path
            .get(depth)
            .and_then(|step| yaml::lookup(node, std::slice::from_ref(step)))
        {
            node = next;
            depth += 1;
        }
        let at = path[..depth].to_vec();
        Some(match (&node.kind, path.get(depth)) {
            (NodeKind::Sequence { items, .. }, None) if edit == Edit::Append => {
                Undo::Truncate(at, items.len())
            }
            (NodeKind::Mapping { .. }, Some(Step::Key(key))) => Undo::Forget(at, key.clone()),
            _ => Undo::Restore(at, node.clone()),
        })
    }

    /// Puts the node back in `root`, as the tree stands once the later edits were undone.
    pub(super) fn apply(self, root: &mut Node<'a>) {
        match self {
            Undo::Restore(path, node) => {
                if let Some(slot) = yaml::lookup_mut(root, &path) {
                    *slot = node;
                }
            }
            Undo::Forget(path, key) => {
                if let Some(NodeKind::Mapping { entries, .. }) =
                    yaml::lookup_mut(root, &path).map(|n| &mut n.kind)
                {
                    entries.retain(|(k, _)| k.as_str() != Some(&*key));
                }
            }
            Undo::Truncate(path, len) => {
                if let Some(NodeKind::Sequence { items, .. }) =
                    yaml::lookup_mut(root, &path).map(|n| &mut n.kind)
                {
                    items.truncate(len);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{Edit, Undo};
    use crate::transform::mapping;
    use crate::yaml::{self, CollectionStyle, Guard, Node, NodeKind, Step};

    fn path(dotted: &'static str) -> Vec<Step> {
        dotted
            .split('.')
            .map(|s| match s.parse() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Key(s.into()),
            })
            .collect()
    }

    fn list(items: Vec<Node<'static>>) -> Node<'static> {
        Node::new(NodeKind::Sequence {
            style: CollectionStyle::Block,
            items,
        })
    }

    fn text(value: &'static str) -> Node<'static> {
        Node::new_scalar(value, true)
    }

    #[test]
    fn undoing_each_edit_in_reverse_gives_back_the_tree_as_it_was() {
        let container = mapping(vec![
            ("name", text("app")),
            ("env", Node::new_scalar("null", false)),
        ]);
        let pod = mapping(vec![
            ("volumes", list(vec![text("a")])),
            ("containers", list(vec![container])),
        ]);
        let before = mapping(vec![("spec", pod), ("replicas", text("1"))]);
        let names = HashMap::new();
        let guard = Guard::new(&before, &names);
        let mut root = before.clone();
        let mut undos = Vec::new();
        let edits = [
            ("spec.volumes", Edit::Append),
            ("spec.containers.0.volumeMounts", Edit::Append),
            ("spec.containers.0.env.FOO", Edit::Set),
            ("replicas", Edit::Set),
            ("spec.containers.0.name", Edit::Remove),
            ("spec.securityContext.runAsNonRoot", Edit::Set),
            ("spec.volumes.0", Edit::Remove),
        ];
        for (dotted, edit) in edits {
            let at = path(dotted);
            undos.extend(Undo::of(&root, &at, edit));
            let made = match edit {
                Edit::Set => yaml::set(&mut root, &at, text("x"), &guard),
                Edit::Append => yaml::append(&mut root, &at, text("x"), &guard),
                Edit::Remove => yaml::remove(&mut root, &at, &guard),
            };
            assert_eq!(made, Ok(()), "{dotted}");
        }
        let shown = |node: &Node<'_>| format!("{node:?}");
        assert_ne!(shown(&root), shown(&before));
        assert!(matches!(undos[0], Undo::Truncate(_, 1)));
        assert!(matches!(undos[1], Undo::Forget(..)));
        undos.into_iter().rev().for_each(|u| u.apply(&mut root));
        assert_eq!(shown(&root), shown(&before));
    }
}
