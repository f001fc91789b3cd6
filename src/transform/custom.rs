//! The steps a declarative rule cannot say, named by `custom:` in a declaration.

mod secrets;

use crate::yaml::{CollectionStyle, Node, NodeKind, Step};

use super::plan::{Planner, Target, join};
use super::{FindingKind, Literal, Transform, mapping};

/// The custom steps, by name.
pub const STEPS: [&str; 3] = ["writable-tmp", "rolling-update", "secrets-as-files"];

/// Runs the custom step `name` for `target`.
pub(super) fn run(
    name: &str,
    planner: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    match name {
        "writable-tmp" => writable_tmp(planner, transform, target),
        "rolling-update" => rolling_update(planner, transform, target),
        "secrets-as-files" => secrets::secrets_as_files(planner, transform, target),
        _ => {}
    }
}

/// Gives a container whose root filesystem this run made read-only an `emptyDir` at `/tmp`,
/// unless it already mounts something there: most applications write temporary files.
fn writable_tmp(p: &mut Planner<'_, '_>, transform: &'static Transform, target: &Target<'_>) {
    let Some(container) = target.container else {
        return;
    };
    let read_only = join(&container.path, "securityContext.readOnlyRootFilesystem");
    let made_read_only = p.read(&read_only).is_some_and(|n| n.is_bool(true))
        && !crate::yaml::lookup(p.root, &read_only).is_some_and(|n| n.is_bool(true));
    let mounts_path = join(&container.path, "volumeMounts");
    let mounts_tmp = p
        .read(&mounts_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .any(|m| {
            m.get("mountPath")
                .and_then(Node::as_str)
                .is_some_and(|path| path.trim_end_matches('/') == "/tmp")
        });
    if !made_read_only || mounts_tmp {
        return;
    }
    let volumes_path = join(&target.pod.path, "volumes");
    let taken = volume_names_in_use(p, target);
    let base: String = match (&container.name, target.containers.len()) {
        (Some(name), n) if n > 1 => format!("tmp-{name}").chars().take(60).collect(),
        _ => "tmp".to_owned(),
    };
    let name = unique(&base, "-", |c| taken.iter().any(|t| t == c));
    let empty_dir = Node::new(NodeKind::Mapping {
        style: CollectionStyle::Flow,
        entries: Vec::new(),
    });
    let volume = mapping(vec![("name", text(&name)), ("emptyDir", empty_dir)]);
    let mount = mapping(vec![("name", text(&name)), ("mountPath", text("/tmp"))]);
    // A volume without its mount, or a mount without its volume, is not written.
    p.all_or_none(&target.pod.path, |p| {
        p.append(
            transform,
            target,
            &volumes_path,
            volume,
            &format!("{{name: {name}, emptyDir: {{}}}}"),
        ) && p.append(
            transform,
            target,
            &mounts_path,
            mount,
            &format!("{{name: {name}, mountPath: /tmp}}"),
        )
    });
}

fn text(value: &str) -> Node<'static> {
    Node::new_scalar(value.to_owned(), true)
}

/// Rolls workloads out with RollingUpdate: a Deployment's `Recreate` or missing strategy, a
/// StatefulSet's or DaemonSet's missing update strategy (and `OnDelete`, with the option
/// `replace-on-delete`).
fn rolling_update(p: &mut Planner<'_, '_>, transform: &'static Transform, target: &Target<'_>) {
    let resource = &target.pod.resource;
    let spec = join(&resource.path, "spec");
    let changed = match resource.kind.as_str() {
        "Deployment" => {
            let strategy = join(&spec, "strategy");
            let kind = p
                .read(&join(&strategy, "type"))
                .and_then(Node::as_str)
                .map(str::to_owned);
            let has_strategy = p.read(&strategy).is_some_and(|n| !n.is_null());
            let wanted = match kind.as_deref() {
                Some("Recreate") => true,
                None => !has_strategy,
                Some(_) => false,
            };
            if !wanted {
                return;
            }
            if single_replica_with_claim(p, target) {
                let reason = "keeps its rollout: it runs a single replica that mounts a PersistentVolumeClaim, and a ReadWriteOnce volume cannot attach to a second pod during a RollingUpdate";
                p.report(transform, target, &strategy, FindingKind::Skipped, reason);
                return;
            }
            p.set(
                transform,
                target,
                &join(&strategy, "type"),
                &Literal::Text("RollingUpdate".into()),
            );
            if kind.is_none() {
                for option in ["max-unavailable", "max-surge"] {
                    if let Some(value) = transform.option(p.settings, option) {
                        let field = if option == "max-unavailable" {
                            "maxUnavailable"
                        } else {
                            "maxSurge"
                        };
                        p.set(
                            transform,
                            target,
                            &join(&strategy, &format!("rollingUpdate.{field}")),
                            &value,
                        );
                    }
                }
            }
            true
        }
        "StatefulSet" | "DaemonSet" => {
            let kind_path = join(&spec, "updateStrategy.type");
            match p.read(&kind_path).and_then(Node::as_str) {
                Some("OnDelete")
                    if transform.option(p.settings, "replace-on-delete")
                        != Some(Literal::Bool(true)) =>
                {
                    let reason = "keeps its OnDelete update strategy: pods are replaced only when someone deletes them, a deliberate choice for controlled rollouts (databases, CNI plugins); option replace-on-delete replaces it";
                    p.report(transform, target, &kind_path, FindingKind::Skipped, reason);
                    false
                }
                Some("OnDelete") | None => {
                    p.set(
                        transform,
                        target,
                        &kind_path,
                        &Literal::Text("RollingUpdate".into()),
                    );
                    true
                }
                Some(_) => false,
            }
        }
        _ => false,
    };
    if changed {
        warn_without_readiness(p, transform, target);
    }
}

/// Whether the workload runs one replica (or leaves `replicas` out) and mounts a claim.
fn single_replica_with_claim(p: &Planner<'_, '_>, target: &Target<'_>) -> bool {
    let replicas = p
        .read(&join(&target.pod.resource.path, "spec.replicas"))
        .and_then(Node::as_str);
    let single = replicas.is_none_or(|r| r.parse::<i64>().is_ok_and(|n| n <= 1));
    let claims = p
        .read(&join(&target.pod.path, "volumes"))
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .any(|v| v.get("persistentVolumeClaim").is_some());
    single && claims
}

/// A rolling update sends traffic to new pods as soon as they run unless a readiness probe
/// says when they are ready: warn about each container without one.
fn warn_without_readiness(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    for container in target.containers.iter().filter(|c| c.group == "containers") {
        if p.read(&join(&container.path, "readinessProbe")).is_none() {
            let mut path = container.path.clone();
            path.push(Step::Key("readinessProbe".into()));
            let name = container.name.as_deref().unwrap_or("(unnamed)");
            let message = format!(
                "container {name} has no readinessProbe: during a rolling update new pods receive traffic as soon as they start"
            );
            p.report(transform, target, &path, FindingKind::Warning, &message);
        }
    }
}

/// `base`, or `base` with the first suffix `-2`, `-3`… (joined by `sep`) that is not `taken`.
fn unique(base: &str, sep: &str, taken: impl Fn(&str) -> bool) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_owned()
            } else {
                format!("{base}{sep}{n}")
            }
        })
        .find(|c| !taken(c))
        .unwrap_or_else(|| base.to_owned())
}

/// The names a new volume of `target`'s pod must not take: its volumes', a StatefulSet's
/// volumeClaimTemplates' (a claim replaces the pod's volume of the same name) and those its
/// containers mount (a mount naming a missing volume would pick up the new one).
fn volume_names_in_use(p: &Planner<'_, '_>, target: &Target<'_>) -> Vec<String> {
    let mut taken = names(p.read(&join(&target.pod.path, "volumes")), "name");
    let claims = join(&target.pod.resource.path, "spec.volumeClaimTemplates");
    taken.extend(
        p.read(&claims)
            .and_then(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.get("metadata")?.get("name")?.as_str().map(str::to_owned)),
    );
    for container in target.containers {
        taken.extend(names(
            p.read(&join(&container.path, "volumeMounts")),
            "name",
        ));
    }
    taken
}

/// The string values of `key` in the items of the list `node`.
pub(super) fn names(node: Option<&Node<'_>>, key: &str) -> Vec<String> {
    node.and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.get(key).and_then(Node::as_str).map(str::to_owned))
        .collect()
}
