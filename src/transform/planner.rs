//! The planner of one document: what declarative rules and custom steps do through it. It
//! reads the document as edited so far, makes an edit once suppressions and the kind's
//! restrictions allow it, records each change and finding, and undoes a group of edits that
//! cannot all be made.

use std::sync::Arc;

use crate::k8s::rbac::Binding;
use crate::k8s::{Container, PodSpec, Resource};
use crate::yaml::{self, Guard, Node, NodeKind, Step, Text};

use super::undo::{Edit, Undo};
use super::{Literal, Settings, Suppressions, Transform};

/// One field changed by a transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The document, 0-based.
    pub document: usize,
    /// The object changed, shared with the other changes and findings about it (a large
    /// stream has hundreds of thousands).
    pub resource: Arc<Resource>,
    /// The container, for container-scoped rules.
    pub container: Option<String>,
    /// The transform.
    pub transform: &'static str,
    /// The field, from the document root.
    pub path: String,
    /// The value before, when the field existed and was a scalar.
    pub old: Option<String>,
    /// The value written; `None` when the field or item was removed.
    pub new: Option<String>,
    /// 1-based line of the field, or of the closest existing parent.
    pub line: usize,
}

/// How many changes each transform made: what is kept of changes that are counted and not
/// listed one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeCounts(std::collections::BTreeMap<&'static str, usize>);

impl ChangeCounts {
    /// Counts `changes`.
    pub fn add(&mut self, changes: &[Change]) {
        for change in changes {
            *self.0.entry(change.transform).or_default() += 1;
        }
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: ChangeCounts) {
        for (transform, count) in other.0 {
            *self.0.entry(transform).or_default() += count;
        }
    }

    /// How many changes, of every transform.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// How many changes each transform made, by transform id.
    pub fn by_transform(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.0.iter().map(|(&transform, &count)| (transform, count))
    }
}

/// What a finding reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// Something to look at: an edit refused, or a risk no fix can remove safely.
    Warning,
    /// What a reviewer must know about a change that was made: where a Secret's keys now
    /// live, a comment that went with the lines a fix removed.
    Note,
    /// A rule that stood aside, with its reason.
    Skipped,
    /// A change or warning that a suppression turned off.
    Suppressed,
}

/// A warning, a note, a skip or a suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The document, 0-based.
    pub document: usize,
    /// The object it is about, shared like a change's.
    pub resource: Arc<Resource>,
    /// The container, when it is about one.
    pub container: Option<String>,
    /// 1-based line.
    pub line: usize,
    /// The transform, or [`super::WHOLE_WORKLOAD`] for a finding that kept every transform
    /// from the workload.
    pub transform: &'static str,
    /// Which kind.
    pub kind: FindingKind,
    /// What and why.
    pub message: String,
    /// For a note that a secret is now read from a file: the program that reads it there, how,
    /// and the source saying so; the PR body groups these notes by it.
    pub reader: Option<String>,
}

/// The resource and container, then the message: `Deployment/web container app: …`.
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = describe(&self.resource, self.container.as_deref());
        write!(f, "{who}: {}", self.message)
    }
}

/// The edits planned for one document.
pub struct Plan<'a> {
    /// The intended tree, when any edit was made.
    pub intended: Option<Node<'a>>,
    /// What changed.
    pub changes: Vec<Change>,
    /// What was reported.
    pub findings: Vec<Finding>,
}

/// Where one rule runs: a workload, a pod spec or a container; or an object that is no pod (a
/// default ServiceAccount, an RBAC object), which then stands in `pod` (its path is the object's).
pub(super) struct Target<'t> {
    pub pod: &'t PodSpec,
    pub containers: &'t [Container],
    pub container: Option<&'t Container>,
    /// The path the rule's paths start from.
    pub base: &'t [Step],
}

/// `base` followed by the keys of a dotted path, kubeharden's own (a rule's path, a field it
/// names): the keys are borrowed.
pub(super) fn join(base: &[Step], dotted: &'static str) -> Vec<Step> {
    let steps = dotted.bytes().filter(|&b| b == b'.').count() + 1;
    let mut path = Vec::with_capacity(base.len() + steps);
    path.extend_from_slice(base);
    path.extend(
        dotted
            .split('.')
            .filter(|k| !k.is_empty())
            .map(|k| Step::Key(k.into())),
    );
    path
}

/// `node`, or the node it is an alias of, anchored in `root`.
fn resolved<'n, 'a>(root: &'n Node<'a>, node: &'n Node<'a>) -> &'n Node<'a> {
    match node.kind {
        NodeKind::Alias(id) => anchored(root, id).unwrap_or(node),
        _ => node,
    }
}

/// The planner of one document: the document as read and as edited so far, and what the
/// edits and reports made on it gave.
pub(super) struct Planner<'p, 'a> {
    pub settings: &'p Settings,
    text: &'p Text<'p>,
    /// The document as read.
    pub root: &'p Node<'a>,
    /// The bindings of every document of the stream: where RBAC steps look for what grants a
    /// role.
    pub bindings: &'p [Binding],
    guard: Option<Guard<'p>>,
    suppressions: &'p Suppressions,
    document: usize,
    /// The document as edited so far.
    intended: Option<Node<'a>>,
    changes: Vec<Change>,
    findings: Vec<Finding>,
    /// Inside [`Planner::all_or_none`], how to undo each edit made so far, in order.
    undo: Option<Vec<Undo<'a>>>,
}

impl<'p, 'a> Planner<'p, 'a> {
    /// A planner for document number `document` of a stream, read from `text` as `root`;
    /// `bindings` and `suppressions` are the whole stream's. Without a `guard` nothing is edited.
    pub fn new(
        settings: &'p Settings,
        text: &'p Text<'p>,
        root: &'p Node<'a>,
        bindings: &'p [Binding],
        suppressions: &'p Suppressions,
        document: usize,
        guard: Option<Guard<'p>>,
    ) -> Self {
        Planner {
            settings,
            text,
            root,
            bindings,
            guard,
            suppressions,
            document,
            intended: None,
            changes: Vec::new(),
            findings: Vec::new(),
            undo: None,
        }
    }

    /// What was planned: the intended tree, the changes and the findings.
    pub fn into_plan(self) -> Plan<'a> {
        Plan {
            intended: self.intended,
            changes: self.changes,
            findings: self.findings,
        }
    }

    /// The document with the edits made so far: what later rules judge.
    pub fn current(&self) -> &Node<'a> {
        self.intended.as_ref().unwrap_or(self.root)
    }

    /// The node at `path` in the current document, each alias on the way (`securityContext:
    /// *shared`) and at the end read as the node it stands for.
    pub fn read(&self, path: &[Step]) -> Option<&Node<'a>> {
        let root = self.current();
        path.iter().try_fold(resolved(root, root), |node, step| {
            let next = match step {
                Step::Key(k) => node.get(k),
                Step::Index(i) => node.items()?.get(*i),
            }?;
            Some(resolved(root, next))
        })
    }

    /// The node at the dotted path `dotted` below `base`, read as [`Planner::read`] reads
    /// their [`join`], without building it (most paths a rule reads are only read).
    pub fn read_at(&self, base: &[Step], dotted: &str) -> Option<&Node<'a>> {
        let root = self.current();
        let mut keys = dotted.split('.').filter(|key| !key.is_empty());
        keys.try_fold(self.read(base)?, |node, key| {
            Some(resolved(root, node.get(key)?))
        })
    }

    /// Warns of every key written twice in one mapping of the workload holding `pod`, and
    /// whether there was any: then no transform may judge or edit it, since which copy holds is
    /// up to the reader (as for an edit through a duplicated key, which the editor refuses).
    pub fn refuse_duplicate_keys(&mut self, pod: &PodSpec) -> bool {
        let Some(workload) = yaml::lookup(self.root, &pod.resource.path) else {
            return false;
        };
        let duplicates = workload.duplicate_keys();
        for copies in &duplicates {
            let lines: Vec<String> = copies
                .iter()
                .map(|k| self.text.position(k.full_start()).line.to_string())
                .collect();
            let name = copies[0].as_str().unwrap_or_default();
            self.findings.push(Finding {
                document: self.document,
                resource: pod.resource.clone(),
                container: None,
                line: self.text.position(copies[1].full_start()).line,
                transform: super::WHOLE_WORKLOAD,
                kind: super::FindingKind::Warning,
                message: format!(
                    "`{name}` appears {} times in one mapping (lines {}); Kubernetes rejects duplicate keys and readers disagree on which value holds, so nothing in this workload was changed: remove the extra ones",
                    copies.len(),
                    lines.join(", ")
                ),
                reader: None,
            });
        }
        !duplicates.is_empty()
    }
    /// Why this place is suppressed for `transform`, if it is.
    fn suppressed(
        &self,
        transform: &Transform,
        target: &Target<'_>,
        path: &[Step],
    ) -> Option<String> {
        let resource = &target.pod.resource;
        let mut lines = Vec::new();
        // Finding the lines costs lookups: only a file with suppression comments needs them.
        if self.suppressions.has_comments() {
            lines.extend(key_line(self.text, self.root, path));
            if let Some(container) = target.container {
                lines.extend(
                    yaml::lookup(self.root, &container.path)
                        .map(|n| self.text.position(n.full_start()).line),
                );
            }
            lines.extend(key_line(
                self.text,
                self.root,
                &join(&resource.path, "kind"),
            ));
        }
        self.suppressions.reason(
            &transform.id,
            self.root,
            resource,
            target.container.and_then(|c| c.name.as_deref()),
            &lines,
        )
    }

    /// Records a finding about `path`, or its suppression.
    pub fn report(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        kind: super::FindingKind,
        message: &str,
    ) {
        let line = line_of_closest(self.text, self.root, path);
        let (kind, message) = match self.suppressed(transform, target, path) {
            Some(reason) => (
                super::FindingKind::Suppressed,
                format!("{message} ({reason})"),
            ),
            None => (kind, message.to_owned()),
        };
        self.push_finding(transform, target, line, kind, message);
    }

    fn push_finding(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        line: usize,
        kind: super::FindingKind,
        message: String,
    ) {
        self.findings.push(Finding {
            document: self.document,
            resource: target.pod.resource.clone(),
            container: target.container.and_then(|c| c.name.clone()),
            line,
            transform: &transform.id,
            kind,
            message,
            reader: None,
        });
    }

    /// How many findings were recorded so far: the index the next one gets.
    pub fn findings_made(&self) -> usize {
        self.findings.len()
    }

    /// Withdraws finding number `index`, one that no longer holds.
    pub fn withdraw_finding(&mut self, index: usize) {
        self.findings.remove(index);
    }

    /// Records a note that a secret is now read from a file by `reader`, or its suppression.
    pub fn report_secret_reader(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        message: &str,
        reader: &str,
    ) {
        self.report(transform, target, path, super::FindingKind::Note, message);
        if let Some(finding) = self.findings.last_mut()
            && finding.kind == super::FindingKind::Note
        {
            finding.reader = Some(reader.to_owned());
        }
    }

    /// Whether an edit at `path` may go ahead; records the suppression, saying `what` the edit
    /// would have done, when it may not. The messages of this and the following steps are
    /// written only when reported: most edits need none.
    pub fn allowed(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        what: impl FnOnce() -> String,
    ) -> bool {
        match self.suppressed(transform, target, path) {
            Some(reason) => {
                let line = line_of_closest(self.text, self.root, path);
                let message = format!("{} ({reason})", what());
                self.push_finding(
                    transform,
                    target,
                    line,
                    super::FindingKind::Suppressed,
                    message,
                );
                false
            }
            None => true,
        }
    }

    /// Whether a write at `path`, creating the fields at `fields`, may be made: `would` (what it
    /// would do) is not suppressed, and the workload's kind takes `what` (what it does), as
    /// [`Planner::accepted`] judges.
    fn may_write(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        fields: &[Vec<Step>],
        would: impl FnOnce() -> String,
        what: impl FnOnce() -> String,
    ) -> bool {
        self.allowed(transform, target, path, would)
            && self.accepted(transform, target, path, fields, what)
    }

    /// Whether the workload's kind takes `what`, a write at `path` creating the fields at
    /// `fields`: a field its API refuses is held back, with the reason, unless the input already
    /// sets it (its cluster evidently accepts it); one it accepts only under conditions is
    /// written, with a note saying which.
    fn accepted(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        fields: &[Vec<Step>],
        what: impl FnOnce() -> String,
    ) -> bool {
        let Some((restriction, field)) = fields
            .iter()
            .find_map(|f| target.pod.restriction(f).map(|r| (r, f)))
        else {
            return true;
        };
        let depth = target.pod.path.len() + restriction.field.split('.').count();
        if restriction.hold_back && yaml::lookup(self.root, &field[..depth]).is_some() {
            return true;
        }
        let what = what();
        let (kind, message) = match restriction.hold_back {
            true => (
                super::FindingKind::Skipped,
                format!("{what}: held back, since {}", restriction.reason),
            ),
            false => (
                super::FindingKind::Note,
                format!("{what}: {}", restriction.reason),
            ),
        };
        self.report(transform, target, path, kind, &message);
        !restriction.hold_back
    }

    /// Sets `path` to `value`, recording the change or the refusal; whether it was made.
    pub fn set(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        value: &Literal,
    ) -> bool {
        let shown = || yaml::path_to_string(path);
        if !self.may_write(
            transform,
            target,
            path,
            &[path.to_vec()],
            || format!("would set {} to {}", shown(), value.display()),
            || format!("{} set to {}", shown(), value.display()),
        ) {
            return false;
        }
        let old = self.read(path).and_then(|n| n.as_str().map(str::to_owned));
        let result = self.edit(path, Edit::Set, |root, guard| {
            yaml::set(root, path, value.to_node(), guard)
        });
        self.record(
            transform,
            target,
            path,
            old,
            Some(value.display()),
            result,
            || format!("not setting {} to {}", shown(), value.display()),
        )
    }

    /// Appends `item` (shown as `shown`) to the list at `path`, recording the change or the
    /// refusal; whether it was made.
    pub fn append(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        item: Node<'static>,
        shown: &str,
    ) -> bool {
        let field = || yaml::path_to_string(path);
        let length = self.read(path).and_then(Node::items).map_or(0, <[_]>::len);
        let mut item_path = path.to_vec();
        item_path.push(Step::Index(length));
        // The item, and each key of a mapping item: `volumes[2].emptyDir`.
        let mut fields = vec![item_path.clone()];
        fields.extend(
            item.entries()
                .unwrap_or_default()
                .iter()
                .filter_map(|(k, _)| {
                    let mut key_path = item_path.clone();
                    key_path.push(Step::Key(k.as_str()?.to_owned().into()));
                    Some(key_path)
                }),
        );
        if !self.may_write(
            transform,
            target,
            path,
            &fields,
            || format!("would add {shown} to {}", field()),
            || format!("{shown} added to {}", field()),
        ) {
            return false;
        }
        let result = self.edit(path, Edit::Append, |root, guard| {
            yaml::append(root, path, item, guard)
        });
        self.record(
            transform,
            target,
            &item_path,
            None,
            Some(shown.to_owned()),
            result,
            || format!("not adding {shown} to {}", field()),
        )
    }

    /// Removes the field or item at `path`, whose value reads as `shown` (YAML flow text),
    /// recording the change or the refusal; whether it was made.
    pub fn remove(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        shown: &str,
    ) -> bool {
        let field = || yaml::path_to_string(path);
        if !self.allowed(transform, target, path, || {
            format!("would remove {}", field())
        }) {
            return false;
        }
        self.remove_and_record(transform, target, path, shown.to_owned(), || {
            format!("not removing {}", field())
        })
    }

    /// Removes the field or item at `path` (suppressions already checked) and records the
    /// change, at the line of the value as read, or the refusal; whether it was made.
    pub fn remove_and_record(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        old: String,
        refused: impl FnOnce() -> String,
    ) -> bool {
        // Earlier removals from the same list shift the indexes, so `path` may name another
        // item in the input: the line comes from the value as read now.
        let line = self
            .read(path)
            .and_then(|n| n.span.as_ref())
            .map(|s| self.text.position(s.start).line);
        let result = self.edit(path, Edit::Remove, |root, guard| {
            yaml::remove(root, path, guard)
        });
        let made = self.record(transform, target, path, Some(old), None, result, refused);
        if let (true, Some(line), Some(change)) = (made, line, self.changes.last_mut()) {
            change.line = line;
        }
        made
    }

    /// Makes `edit` at `path` with `f` in the intended tree, noting how to undo it inside
    /// [`Planner::all_or_none`].
    fn edit(
        &mut self,
        path: &[Step],
        edit: Edit,
        f: impl FnOnce(&mut Node<'a>, &Guard<'_>) -> Result<(), yaml::Refusal>,
    ) -> Result<(), yaml::Refusal> {
        let Some(guard) = &self.guard else {
            return Err(yaml::Refusal("not a workload".into()));
        };
        let root = self.intended.get_or_insert_with(|| self.root.clone());
        if let Some(undo) = &mut self.undo {
            undo.extend(Undo::of(root, path, edit));
        }
        f(root, guard)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        transform: &'static Transform,
        target: &Target<'_>,
        path: &[Step],
        old: Option<String>,
        new: Option<String>,
        result: Result<(), yaml::Refusal>,
        refused: impl FnOnce() -> String,
    ) -> bool {
        match result {
            Ok(()) => self.changes.push(Change {
                document: self.document,
                resource: target.pod.resource.clone(),
                container: (target.container).and_then(|c| c.name.clone()),
                transform: &transform.id,
                path: yaml::path_to_string(path),
                old,
                new,
                line: line_of_closest(self.text, self.root, path),
            }),
            Err(refusal) => {
                let message = format!("{}: {refusal}", refused());
                let line = line_of_closest(self.text, self.root, path);
                self.push_finding(
                    transform,
                    target,
                    line,
                    super::FindingKind::Warning,
                    message,
                );
                return false;
            }
        }
        true
    }

    /// Runs `edits`, which say whether every edit was made; when one was not, the others are
    /// undone (what was reported stays), so that no half-made fix, a volume without its mount,
    /// is written. Whether the edits were kept.
    pub fn all_or_none(&mut self, edits: impl FnOnce(&mut Self) -> bool) -> bool {
        let edited_before = self.intended.is_some();
        let outermost = self.undo.is_none();
        let first_undo = self.undo.get_or_insert_with(Vec::new).len();
        let changes = self.changes.len();
        let kept = edits(self);
        if !kept {
            self.changes.truncate(changes);
            let undos = match &mut self.undo {
                Some(undo) => undo.split_off(first_undo),
                None => Vec::new(),
            };
            match (edited_before, &mut self.intended) {
                (true, Some(root)) => undos.into_iter().rev().for_each(|u| u.apply(root)),
                _ => self.intended = None,
            }
        }
        if outermost {
            self.undo = None;
        }
        kept
    }
}

/// `Kind/name` and the container, for messages.
pub fn describe(resource: &Resource, container: Option<&str>) -> String {
    match container {
        Some(name) => format!("{} container {name}", resource.label()),
        None => resource.label(),
    }
}

/// The items of a list as strings (`None` for items that are not scalars).
pub(super) fn list_strings(node: &Node<'_>) -> Vec<Option<String>> {
    node.items()
        .unwrap_or_default()
        .iter()
        .map(|i| i.as_str().map(str::to_owned))
        .collect()
}

/// The string values of `key` in the items of the list `node`.
pub(super) fn names(node: Option<&Node<'_>>, key: &str) -> Vec<String> {
    node.and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.get(key).and_then(Node::as_str).map(str::to_owned))
        .collect()
}

/// The node of `node` that carries the anchor `id`.
fn anchored<'n, 'a>(node: &'n Node<'a>, id: usize) -> Option<&'n Node<'a>> {
    if node.anchor == id {
        return Some(node);
    }
    match &node.kind {
        NodeKind::Mapping { entries, .. } => entries
            .iter()
            .find_map(|(k, v)| anchored(k, id).or_else(|| anchored(v, id))),
        NodeKind::Sequence { items, .. } => items.iter().find_map(|i| anchored(i, id)),
        _ => None,
    }
}

/// The line of the key that holds the field at `path`, when the field exists.
fn key_line(text: &Text<'_>, root: &Node<'_>, path: &[Step]) -> Option<usize> {
    let (Step::Key(last), parent) = path.split_last()? else {
        return None;
    };
    let (key, _) = yaml::lookup(root, parent)?
        .entries()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(last))?;
    Some(text.position(key.full_start()).line)
}

/// The line of the node at `path`, or of its closest existing ancestor: where a finding or
/// change about that field is reported.
pub fn line_of_closest(text: &Text<'_>, root: &Node<'_>, path: &[Step]) -> usize {
    let mut node = root;
    let mut start = root.span.as_ref().map(|s| s.start);
    for step in path {
        let Some(next) = yaml::lookup(node, std::slice::from_ref(step)) else {
            break;
        };
        node = next;
        start = next.span.as_ref().map_or(start, |s| Some(s.start));
    }
    start.map_or(1, |offset| text.position(offset).line)
}
