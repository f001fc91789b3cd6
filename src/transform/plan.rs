//! Planning one document: the pod specs and objects it holds, and on each the rules of the
//! selected transforms, declarative actions made into the planner's edits, custom steps called.

use std::collections::HashMap;

use crate::k8s::rbac::Binding;
use crate::k8s::{self, Container, PodSpec, Windows};
use crate::yaml::{self, Guard, Node, Step, Text};

use super::planner::{Plan, Planner, Target, join, list_strings};
use super::{
    Action, Condition, Literal, Rule, Scope, Settings, Suppressions, Transform, custom, evidence,
};

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
    // Only objects that hold pods or default service accounts are edited.
    let guard = (!pods.is_empty() || !accounts.is_empty()).then(|| Guard::new(root, anchor_names));
    let planner = Planner::new(
        settings,
        text,
        root,
        &reading.bindings,
        &reading.suppressions,
        document,
        guard,
    );
    let mut run = Run {
        planner,
        skips: Vec::new(),
    };
    for pod in &pods {
        if run.planner.refuse_duplicate_keys(pod) {
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
                    run.run(transform, rule, &target);
                }
            }
        }
        run.rejudge_skips(pod, &containers);
        if let Some(windows) = windows {
            run.report_windows(windows, &stood_aside, pod, &containers);
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
                    run.run(transform, rule, &target);
                }
            }
        }
    }
    run.planner.into_plan()
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

/// The rules' run over one document: the planner they edit through, and the rules of the
/// current pod that stood aside, to judge again once every transform ran.
struct Run<'p, 'a> {
    planner: Planner<'p, 'a>,
    skips: Vec<Skip>,
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

impl Run<'_, '_> {
    fn run(&mut self, transform: &'static Transform, rule: &'static Rule, target: &Target<'_>) {
        // A custom step finds its own paths: only the other actions need the rule's.
        let path = || join(target.base, &rule.path);
        match rule.action() {
            Action::Set(value) => self.run_set(transform, rule, value, target),
            Action::EnsureItem(item) => {
                let path = path();
                let present = self.planner.read(&path).is_some_and(|list| {
                    list_strings(list)
                        .iter()
                        .any(|i| i.as_deref() == Some(item))
                });
                if !present {
                    let node = Node::new_scalar(item.to_owned(), true);
                    self.planner.append(transform, target, &path, node, item);
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
                    self.planner.report(
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
                    transform.option(self.planner.settings, o) != Some(Literal::Bool(false))
                });
                if enabled {
                    custom::run(step, &mut self.planner, transform, target);
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
        let current = self.planner.read_at(target.base, &rule.path);
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
                        finding: self.planner.findings_made(),
                    });
                }
                self.planner.report(
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
                self.planner.set(transform, target, path, value);
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
        let Some(transform) = stood_aside.first().and_then(|id| {
            self.planner
                .settings
                .transforms
                .iter()
                .find(|t| t.id == *id)
        }) else {
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
            self.planner.report(
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
        if transform.ignores_evidence(self.planner.settings) {
            return false;
        }
        let found = evidence::of_need(&self.planner, target);
        if found.is_empty() {
            return false;
        }
        let message = format!(
            "kept {what}: it shows a need for host access ({}); instead, {instead} (option ignore-evidence or --profile strict fixes it anyway)",
            found.join("; ")
        );
        self.planner.report(
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
            self.planner.withdraw_finding(skip.finding);
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
            let Some(node) = self.planner.read_at(base, rest) else {
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
        let node = self.planner.read(path)?;
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
            .planner
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
        if !self.planner.allowed(transform, target, path, || {
            format!("would remove {} from {field}", names.join(", "))
        }) {
            return;
        }
        if doomed.len() == items.len() {
            let old = format!("[{}]", names.join(", "));
            self.planner
                .remove_and_record(transform, target, path, old, || {
                    format!("not removing {field}")
                });
            return;
        }
        for (index, name) in doomed.into_iter().rev() {
            let mut item_path = path.to_vec();
            item_path.push(Step::Index(index));
            let refused = || format!("not removing {name} from {field}");
            self.planner
                .remove_and_record(transform, target, &item_path, name.clone(), refused);
        }
    }
}
