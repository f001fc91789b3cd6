//! The planner: runs the selected transforms over one document and records every change,
//! warning, skip and suppression.

use std::collections::HashMap;
use std::sync::Arc;

use crate::k8s::rbac::Binding;
use crate::k8s::{self, Container, PodSpec, Resource, Windows};
use crate::yaml::{self, Guard, Node, NodeKind, Step, Text};

use super::undo::{Edit, Undo};
use super::{
    Action, Condition, Literal, Rule, Scope, Settings, Suppressions, Transform, custom, evidence,
};

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

/// What the planning of every document of a stream reads from the whole stream, read once: its
/// suppression comments and its RBAC bindings (which name what reaches a role).
#[derive(Debug, Default)]
pub struct StreamReading {
    /// The suppression comments, by line.
    pub suppressions: Suppressions,
    /// The RoleBindings and ClusterRoleBindings of every document.
    pub bindings: Vec<Binding>,
}

impl StreamReading {
    /// Reads `stream`, parsed from `text` with its comments.
    pub fn of(text: &Text<'_>, stream: &yaml::Stream<'_>) -> StreamReading {
        StreamReading {
            suppressions: Suppressions::from_comments(text, &stream.comments),
            bindings: k8s::rbac::bindings(&stream.documents),
        }
    }

    /// The reading of a stream that is read a document at a time: its bindings, found in
    /// `source` ahead of its documents (a role may come before the binding that grants it), and
    /// no suppression yet: [`StreamReading::read_comments`] adds each document's as it is read.
    pub fn ahead(source: &str) -> StreamReading {
        StreamReading {
            suppressions: Suppressions::default(),
            bindings: k8s::rbac::bindings_in(source),
        }
    }

    /// Adds the suppression comments among `comments`, those of the documents just read from
    /// `text`.
    pub fn read_comments(&mut self, text: &Text<'_>, comments: &[std::ops::Range<usize>]) {
        self.suppressions.read_comments(text, comments);
    }

    /// The reading of a stream whose every document is read before any is planned: the
    /// bindings of its documents `roots`, and no suppression (none counts unless
    /// [`StreamReading::read_comments`] adds them).
    pub fn of_documents<'n, 'a: 'n>(
        roots: impl IntoIterator<Item = &'n yaml::Node<'a>>,
    ) -> StreamReading {
        StreamReading {
            suppressions: Suppressions::default(),
            bindings: k8s::rbac::bindings(roots),
        }
    }
}

/// Plans the transforms of `settings` over document number `document` of a stream that
/// `reading` read: its root node and the names of its anchors, by id.
pub fn plan<'a>(
    settings: &Settings,
    text: &Text<'_>,
    root: &Node<'a>,
    anchor_names: &HashMap<usize, String>,
    document: usize,
    reading: &StreamReading,
) -> Plan<'a> {
    let pods = k8s::pod_specs(root, &settings.kinds);
    let accounts = k8s::default_service_accounts(root);
    let mut planner = Planner {
        settings,
        text,
        root,
        bindings: &reading.bindings,
        guard: None,
        suppressions: &reading.suppressions,
        document,
        intended: None,
        changes: Vec::new(),
        findings: Vec::new(),
        skips: Vec::new(),
        undo: None,
    };
    if !pods.is_empty() || !accounts.is_empty() {
        // Only objects that hold pods or default service accounts are edited.
        planner.guard = Some(Guard::new(root, anchor_names));
    }
    for pod in &pods {
        if planner.refuse_duplicate_keys(pod) {
            continue;
        }
        let containers = k8s::containers(root, pod);
        let windows = k8s::windows(root, pod);
        let mut stood_aside = Vec::new();
        for transform in &settings.transforms {
            let applies = match windows {
                None => true,
                Some(Windows::Plain) => !transform.linux_only,
                Some(Windows::HostProcess) => false,
            };
            if !applies {
                stood_aside.push(transform.id.as_str());
                continue;
            }
            for (rule, scope) in rules_in(settings, transform) {
                for target in targets(scope, pod, &containers) {
                    planner.run(transform, rule, &target);
                }
            }
        }
        planner.rejudge_skips(pod, &containers);
        if let Some(windows) = windows {
            planner.report_windows(windows, &stood_aside, pod, &containers);
        }
    }
    // A default ServiceAccount and an RBAC object have rules of their own, whose paths start
    // from the object: it stands where a pod spec would.
    let objects = accounts
        .into_iter()
        .map(|resource| (resource, Scope::DefaultServiceAccount))
        .chain(
            k8s::rbac::objects(root)
                .into_iter()
                .map(|resource| (resource, Scope::Rbac)),
        );
    for (resource, wanted) in objects {
        let holder = PodSpec {
            path: resource.path.clone(),
            resource: resource.into(),
            rollout: k8s::Rollout::None,
            restrictions: &[],
        };
        let target = Target {
            pod: &holder,
            containers: &[],
            container: None,
            base: &holder.path,
        };
        for transform in &settings.transforms {
            for (rule, scope) in rules_in(settings, transform) {
                if scope == wanted {
                    planner.run(transform, rule, &target);
                }
            }
        }
    }
    Plan {
        intended: planner.intended,
        changes: planner.changes,
        findings: planner.findings,
    }
}

/// The rules of `transform` that run in the profile of `settings`, each with its scope.
fn rules_in<'t>(
    settings: &Settings,
    transform: &'t Transform,
) -> impl Iterator<Item = (&'t Rule, Scope)> {
    let profile = settings.profile;
    transform
        .rules
        .iter()
        .filter(move |r| r.profile.is_none_or(|p| profile.runs_rules_of(p)))
        .map(|r| (r, r.scope.unwrap_or(transform.scope)))
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

fn targets<'t>(
    scope: Scope,
    pod: &'t PodSpec,
    containers: &'t [Container],
) -> impl Iterator<Item = Target<'t>> {
    let target = |container: Option<&'t Container>, base: &'t [Step]| Target {
        pod,
        containers,
        container,
        base,
    };
    let (whole, each) = match scope {
        Scope::Workload => (Some(&pod.resource.path[..]), &[][..]),
        Scope::Pod => (Some(&pod.path[..]), &[][..]),
        Scope::Container => (None, containers),
        // Objects that are no part of a pod: `plan` runs their rules on each one.
        Scope::DefaultServiceAccount | Scope::Rbac => (None, &[][..]),
    };
    (whole.map(|base| target(None, base)).into_iter())
        .chain(each.iter().map(move |c| target(Some(c), &c.path)))
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
    /// The rules of the current pod that stood aside, to judge again once every transform ran.
    skips: Vec<Skip>,
    /// Inside [`Planner::all_or_none`], how to undo each edit made so far, in order.
    undo: Option<Vec<Undo<'a>>>,
}

/// A rule that stood aside, and where.
struct Skip {
    transform: &'static Transform,
    /// Its index in the transform's rules.
    rule: usize,
    base: Vec<Step>,
    /// The container's path, for a container-scoped rule.
    container: Option<Vec<Step>>,
    /// Its `Skipped` finding.
    finding: usize,
}

impl<'p, 'a> Planner<'p, 'a> {
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
    fn refuse_duplicate_keys(&mut self, pod: &PodSpec) -> bool {
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

    fn run(&mut self, transform: &'static Transform, rule: &'static Rule, target: &Target<'_>) {
        // A custom step finds its own paths: only the other actions need the rule's.
        let path = || join(target.base, &rule.path);
        match rule.action() {
            Action::Set(value) => self.run_set(transform, rule, value, target),
            Action::EnsureItem(item) => {
                let path = path();
                let present = self.read(&path).is_some_and(|list| {
                    list_strings(list)
                        .iter()
                        .any(|i| i.as_deref() == Some(item))
                });
                if !present {
                    let node = Node::new_scalar(item.to_owned(), true);
                    self.append(transform, target, &path, node, item);
                }
            }
            Action::RemoveItems(items) => {
                self.remove_items(transform, rule, target, &path(), |i| {
                    items.iter().any(|x| x == i)
                })
            }
            Action::KeepOnlyItems(keep) => {
                self.remove_items(transform, rule, target, &path(), |i| {
                    !keep.iter().any(|x| x == i)
                })
            }
            Action::Warn(message) => {
                let path = path();
                if let Some(detail) = self.warning_detail(rule, &path) {
                    self.report(
                        transform,
                        target,
                        &path,
                        super::FindingKind::Warning,
                        &format!("{message}{detail}"),
                    );
                }
            }
            Action::Custom(step) => {
                let enabled = rule.when_option.as_ref().is_none_or(|o| {
                    transform.option(self.settings, o) != Some(Literal::Bool(false))
                });
                if enabled {
                    custom::run(step, self, transform, target);
                }
            }
        }
    }

    fn run_set(
        &mut self,
        transform: &'static Transform,
        rule: &'static Rule,
        value: &Literal,
        target: &Target<'_>,
    ) {
        // Most rules find their value set already: the path is built only for a change.
        let current = self.read_at(target.base, &rule.path);
        let wanted = match (&rule.only_if, current) {
            (Some(only_if), Some(node)) => only_if.matches(node),
            (Some(_), None) => false,
            (None, Some(node)) => {
                !value.matches(node) && !rule.keep_if.iter().any(|k| k.matches(node))
            }
            (None, None) => true,
        };
        if !wanted {
            return;
        }
        let path = &join(target.base, &rule.path);
        // A rule stands aside only where it would have changed something.
        match rule.skip_when.iter().find(|c| self.holds(c, target)) {
            Some(condition) => {
                if let Some(index) = transform.rules.iter().position(|r| std::ptr::eq(r, rule)) {
                    self.skips.push(Skip {
                        transform,
                        rule: index,
                        base: target.base.to_vec(),
                        container: target.container.map(|c| c.path.clone()),
                        finding: self.findings.len(),
                    });
                }
                self.report(
                    transform,
                    target,
                    path,
                    super::FindingKind::Skipped,
                    &condition.reason,
                );
            }
            None => {
                let explicit = current
                    .filter(|node| !node.is_null())
                    .and_then(|node| node.as_str().map(|v| format!("{}: {v}", rule.path)));
                if let Some(explicit) = explicit
                    && self.kept_with_evidence(transform, rule, target, path, &explicit)
                {
                    return;
                }
                self.set(transform, target, path, value);
            }
        }
    }

    /// Reports, once for the Windows pod `pod`, the transforms in `stood_aside` that left it
    /// alone, and why.
    fn report_windows(
        &mut self,
        windows: Windows,
        stood_aside: &[&str],
        pod: &PodSpec,
        containers: &[Container],
    ) {
        let Some(transform) = stood_aside
            .first()
            .and_then(|id| self.settings.transforms.iter().find(|t| t.id == *id))
        else {
            return;
        };
        let names = stood_aside.join(", ");
        let message = match windows {
            Windows::Plain => format!(
                "a Windows pod: {names} do not apply, their fields being Linux-only (the API server rejects them for Windows pods)"
            ),
            Windows::HostProcess => format!(
                "a Windows HostProcess pod, which runs on the host by design: left alone by {names}"
            ),
        };
        if let Some(target) = targets(Scope::Pod, pod, containers).next() {
            self.report(
                transform,
                &target,
                &pod.path,
                super::FindingKind::Skipped,
                &message,
            );
        }
    }

    /// Whether `rule` keeps the explicit value `what` at `path` because the workload shows
    /// evidence of needing it; if so, the warning names the evidence and what to do instead.
    fn kept_with_evidence(
        &mut self,
        transform: &'static Transform,
        rule: &Rule,
        target: &Target<'_>,
        path: &[Step],
        what: &str,
    ) -> bool {
        let Some(instead) = &rule.keep_with_evidence else {
            return false;
        };
        if transform.ignores_evidence(self.settings) {
            return false;
        }
        let found = evidence::of_need(self, target);
        if found.is_empty() {
            return false;
        }
        let message = format!(
            "kept {what}: it shows a need for host access ({}); instead, {instead} (option ignore-evidence or --profile strict fixes it anyway)",
            found.join("; ")
        );
        self.report(
            transform,
            target,
            path,
            super::FindingKind::Warning,
            &message,
        );
        true
    }

    /// Runs again the rules of `pod` that stood aside for a reason a later transform removed (in
    /// the restricted profile, drop-capabilities removes the SYS_ADMIN for which
    /// no-privilege-escalation stood aside), withdrawing their skips: a second run would
    /// otherwise find them to apply.
    fn rejudge_skips(&mut self, pod: &PodSpec, containers: &[Container]) {
        let skips = std::mem::take(&mut self.skips);
        fn target_of<'t>(
            skip: &'t Skip,
            pod: &'t PodSpec,
            containers: &'t [Container],
        ) -> Target<'t> {
            Target {
                pod,
                containers,
                container: skip
                    .container
                    .as_ref()
                    .and_then(|path| containers.iter().find(|c| &c.path == path)),
                base: &skip.base,
            }
        }
        let stale: Vec<&Skip> = (skips.iter())
            .filter(|skip| {
                let rule = &skip.transform.rules[skip.rule];
                !rule
                    .skip_when
                    .iter()
                    .any(|c| self.holds(c, &target_of(skip, pod, containers)))
            })
            .collect();
        for skip in stale.iter().rev() {
            self.findings.remove(skip.finding);
        }
        for skip in &stale {
            let target = target_of(skip, pod, containers);
            self.run(skip.transform, &skip.transform.rules[skip.rule], &target);
        }
        self.skips.clear();
    }

    /// Whether `condition` holds for `target` in the current document.
    fn holds(&self, condition: &'static Condition, target: &Target<'_>) -> bool {
        let holds_at = |base: &[Step], rest: &'static str| {
            let Some(node) = self.read_at(base, rest) else {
                return false;
            };
            condition.equals.as_ref().is_some_and(|v| v.matches(node))
                || condition.contains.as_ref().is_some_and(|item| {
                    list_strings(node)
                        .iter()
                        .any(|i| i.as_deref() == Some(item.as_str()))
                })
        };
        match condition.path.strip_prefix("@containers.") {
            Some(rest) => (target.containers.iter()).any(|c| holds_at(&c.path, rest)),
            None => holds_at(target.base, &condition.path),
        }
    }

    /// What a warning rule found, as text to append to its message, or `None` when its test
    /// does not hold.
    fn warning_detail(&self, rule: &Rule, path: &[Step]) -> Option<String> {
        let node = self.read(path)?;
        if let Some(value) = &rule.when_equals {
            return value.matches(node).then(String::new);
        }
        if let Some(allowed) = &rule.when_items_outside {
            let outside: Vec<String> = list_strings(node)
                .into_iter()
                .flatten()
                .filter(|i| !allowed.contains(i))
                .collect();
            return (!outside.is_empty()).then(|| format!(": {}", outside.join(", ")));
        }
        if let Some(key) = &rule.when_any_item_has {
            let names: Vec<String> = node
                .items()?
                .iter()
                // `hostPort: 0`, like a null, means the key is not in use.
                .filter(|item| {
                    item.get(key)
                        .is_some_and(|v| !v.is_null() && v.as_str() != Some("0"))
                })
                .map(|item| {
                    let name = item.get("name").and_then(Node::as_str);
                    let port = item.get(key).and_then(Node::as_str);
                    name.or(port).unwrap_or("(unnamed)").to_owned()
                })
                .collect();
            return (!names.is_empty()).then(|| format!(": {}", names.join(", ")));
        }
        Some(String::new())
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
    fn allowed(
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
    fn remove_and_record(
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

    /// Removes the string items of the list at `path` that `remove` picks; the key goes too
    /// when none would be left.
    fn remove_items(
        &mut self,
        transform: &'static Transform,
        rule: &Rule,
        target: &Target<'_>,
        path: &[Step],
        remove: impl Fn(&str) -> bool,
    ) {
        let Some(items) = self
            .read(path)
            .filter(|n| n.items().is_some())
            .map(list_strings)
        else {
            return;
        };
        let doomed: Vec<(usize, String)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_deref()
                    .filter(|s| remove(s))
                    .map(|s| (i, s.to_owned()))
            })
            .collect();
        if doomed.is_empty() {
            return;
        }
        let field = yaml::path_to_string(path);
        let names: Vec<&str> = doomed.iter().map(|(_, s)| s.as_str()).collect();
        let explicit = format!("{} in {}", names.join(", "), rule.path);
        if self.kept_with_evidence(transform, rule, target, path, &explicit) {
            return;
        }
        if !self.allowed(transform, target, path, || {
            format!("would remove {} from {field}", names.join(", "))
        }) {
            return;
        }
        if doomed.len() == items.len() {
            let old = format!("[{}]", names.join(", "));
            self.remove_and_record(transform, target, path, old, || {
                format!("not removing {field}")
            });
            return;
        }
        for (index, name) in doomed.into_iter().rev() {
            let mut item_path = path.to_vec();
            item_path.push(Step::Index(index));
            let refused = || format!("not removing {name} from {field}");
            self.remove_and_record(transform, target, &item_path, name.clone(), refused);
        }
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
