//! The steps of `rbac-least-privilege` (report-only, seed practice 4): grants in Roles and
//! ClusterRoles that reach further than an application needs, and bindings that hand a role to
//! a cluster administrator's group or to everyone. A role's finding names the bindings that
//! grant it, which is what makes it reachable: those of its own stream, and those of the run's
//! other files.

use crate::k8s::rbac::{self, Binding, Subject};
use crate::yaml::{Node, Step};

use super::super::planner::{Planner, Target, join, list_strings};
use super::super::{FindingKind, Transform};

/// The verbs that let a subject grant itself more: create roles beyond its own, bind any role,
/// act as another user.
const ESCALATING_VERBS: [&str; 3] = ["escalate", "bind", "impersonate"];

/// The verbs that read an object.
const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

/// Subresources that give a shell in a container or a way through a node's kubelet.
const HOST_REACHING: [&str; 3] = ["pods/exec", "pods/attach", "nodes/proxy"];

/// The groups every client, or every authenticated one, belongs to.
const EVERYONE: [&str; 3] = [
    "system:anonymous",
    "system:unauthenticated",
    "system:authenticated",
];

/// The role's rules in which `*` stands for every verb, resource or API group.
pub(super) fn wildcards(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    for_each_rule(p, transform, target, |rule| {
        let fields: Vec<&str> = ["verbs", "resources", "apiGroups"]
            .into_iter()
            .filter(|field| strings(rule, field).iter().any(|s| s == "*"))
            .collect();
        (!fields.is_empty()).then(|| {
            format!(
                "wildcard: grants `*` in {}; list what the application needs",
                listed(&fields)
            )
        })
    });
}

/// The role's rules that grant `escalate`, `bind` or `impersonate`.
pub(super) fn escalation(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    for_each_rule(p, transform, target, |rule| {
        let verbs: Vec<String> = strings(rule, "verbs")
            .into_iter()
            .filter(|v| ESCALATING_VERBS.contains(&v.as_str()))
            .collect();
        (!verbs.is_empty()).then(|| {
            format!(
                "escalation: grants {}, with which a subject can give itself more than this role",
                listed(&verbs)
            )
        })
    });
}

/// A ClusterRole's rules that read Secrets in every namespace.
pub(super) fn cluster_secrets(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    if target.pod.resource.kind != "ClusterRole" {
        return;
    }
    for_each_rule(p, transform, target, |rule| {
        let core = strings(rule, "apiGroups").iter().any(|g| g.is_empty());
        let secrets = strings(rule, "resources").iter().any(|r| r == "secrets");
        let named = !strings(rule, "resourceNames").is_empty();
        let reads: Vec<String> = strings(rule, "verbs")
            .into_iter()
            .filter(|v| READ_VERBS.contains(&v.as_str()))
            .collect();
        (core && secrets && !named && !reads.is_empty()).then(|| {
            format!(
                "cluster-wide secrets: may {} every Secret, of every namespace once a ClusterRoleBinding grants it; use a Role in the namespace that needs them, with resourceNames",
                listed(&reads)
            )
        })
    });
}

/// The role's rules that reach `pods/exec`, `pods/attach` or `nodes/proxy`.
pub(super) fn exec_and_proxy(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    for_each_rule(p, transform, target, |rule| {
        let reached: Vec<String> = strings(rule, "resources")
            .into_iter()
            .filter(|r| HOST_REACHING.contains(&r.as_str()))
            .collect();
        (!reached.is_empty()).then(|| {
            format!(
                "exec and proxy: grants {}, a shell in containers or the kubelet's API, past the application's own checks",
                listed(&reached)
            )
        })
    });
}

/// A binding of the ClusterRole `cluster-admin`.
pub(super) fn cluster_admin(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some(binding) = binding(p, target) else {
        return;
    };
    if binding.role_kind == "ClusterRole" && binding.role_name == "cluster-admin" {
        let message = format!(
            "cluster-admin: grants cluster-admin, every right on every object, to {}; bind a role with what is needed",
            listed(
                &binding
                    .subjects
                    .iter()
                    .map(Subject::label)
                    .collect::<Vec<_>>()
            )
        );
        let path = join(target.base, "roleRef");
        p.report(transform, target, &path, FindingKind::Warning, &message);
    }
}

/// A binding to everyone (anonymous, unauthenticated or authenticated clients) or to a
/// namespace's `default` service account, which every pod of the namespace runs as unless told
/// otherwise.
pub(super) fn broad_subjects(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some(binding) = binding(p, target) else {
        return;
    };
    for (index, subject) in binding.subjects.iter().enumerate() {
        let everyone = EVERYONE.contains(&subject.name.as_str())
            && matches!(subject.kind.as_str(), "Group" | "User");
        let default_account = subject.kind == "ServiceAccount" && subject.name == "default";
        let whom = match (everyone, default_account) {
            (true, _) => "every client that reaches the API server",
            (_, true) => "every pod of the namespace that names no service account",
            _ => continue,
        };
        let message = format!(
            "broad subject: grants {} {} to {}, that is to {whom}; bind a dedicated service account or group",
            binding.role_kind,
            binding.role_name,
            subject.label()
        );
        let mut path = join(target.base, "subjects");
        path.push(Step::Index(index));
        p.report(transform, target, &path, FindingKind::Warning, &message);
    }
}

/// Runs `check` on each item of a Role's or ClusterRole's `rules`, reporting what it returns,
/// with the bindings of the input and of the run's other files that grant the role.
fn for_each_rule(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
    check: impl Fn(&Node<'_>) -> Option<String>,
) {
    let role = &target.pod.resource;
    if !rbac::ROLE_KINDS.contains(&role.kind.as_str()) {
        return;
    }
    let rules_path = join(target.base, "rules");
    let messages: Vec<(usize, String)> = p
        .read(&rules_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(index, rule)| Some((index, check(rule)?)))
        .collect();
    if messages.is_empty() {
        return;
    }
    let mut granted: Vec<String> = p
        .bindings
        .iter()
        .filter(|b| b.grants(role))
        .map(Binding::label)
        .collect();
    // The run's files hold this stream's bindings too when it is one of them: those are named
    // once, as the stream's own.
    let elsewhere: Vec<String> = p
        .settings
        .bindings
        .iter()
        .filter(|other| other.binding.grants(role) && !granted.contains(&other.binding.label()))
        .map(|other| format!("{} in {}", other.binding.label(), other.file))
        .collect();
    granted.extend(elsewhere);
    let reach = match granted.is_empty() {
        true => String::new(),
        false => format!(" (reachable through {})", granted.join("; ")),
    };
    for (index, message) in messages {
        let mut path = rules_path.clone();
        path.push(Step::Index(index));
        let message = format!("{message}{reach}");
        p.report(transform, target, &path, FindingKind::Warning, &message);
    }
}

/// The binding the target is, when it is one.
fn binding(p: &Planner<'_, '_>, target: &Target<'_>) -> Option<Binding> {
    let resource = &target.pod.resource;
    rbac::BINDING_KINDS
        .contains(&resource.kind.as_str())
        .then(|| Binding::read(p.root, resource))?
}

/// `a`, `a and b`, `a, b and c`.
fn listed<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// The strings of the list `field` of `rule`.
fn strings(rule: &Node<'_>, field: &str) -> Vec<String> {
    rule.get(field)
        .map(list_strings)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}
