//! The steps a declarative rule cannot say, named by `custom:` in a declaration.

mod apparmor;
mod host_paths;
mod images;
mod pod_fields;
mod rbac;
mod secrets;
mod service_account;

use crate::k8s::Rollout;
use crate::yaml::{CollectionStyle, Node, NodeKind, Step};

use super::commands;
use super::knowledge::writes_of;
use super::planner::{Planner, Target, join, list_strings, names};
use super::{FindingKind, Literal, Transform, mapping};

/// The custom steps, by name.
pub const STEPS: [&str; 17] = [
    "writable-paths",
    "command-capabilities",
    "rolling-update",
    "secrets-as-files",
    "run-as-user",
    "host-path-read-only",
    "image-pull-always",
    "service-account-token",
    "apparmor-runtime-default",
    "image-tag",
    "image-digest",
    "rbac-wildcards",
    "rbac-escalation",
    "rbac-cluster-secrets",
    "rbac-exec-and-proxy",
    "rbac-cluster-admin",
    "rbac-broad-subjects",
];

/// Runs the custom step `name` for `target`.
pub(super) fn run(
    name: &str,
    planner: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    match name {
        "writable-paths" => writable_paths(planner, transform, target),
        "command-capabilities" => command_capabilities(planner, transform, target),
        "rolling-update" => rolling_update(planner, transform, target),
        "secrets-as-files" => secrets::secrets_as_files(planner, transform, target),
        "run-as-user" => pod_fields::run_as_user(planner, transform, target),
        "host-path-read-only" => host_paths::host_path_read_only(planner, transform, target),
        "image-pull-always" => pod_fields::image_pull_always(planner, transform, target),
        "service-account-token" => {
            service_account::service_account_token(planner, transform, target)
        }
        "apparmor-runtime-default" => {
            apparmor::apparmor_runtime_default(planner, transform, target)
        }
        "image-tag" => images::image_tag(planner, transform, target),
        "image-digest" => images::image_digest(planner, transform, target),
        "rbac-wildcards" => rbac::wildcards(planner, transform, target),
        "rbac-escalation" => rbac::escalation(planner, transform, target),
        "rbac-cluster-secrets" => rbac::cluster_secrets(planner, transform, target),
        "rbac-exec-and-proxy" => rbac::exec_and_proxy(planner, transform, target),
        "rbac-cluster-admin" => rbac::cluster_admin(planner, transform, target),
        "rbac-broad-subjects" => rbac::broad_subjects(planner, transform, target),
        _ => {}
    }
}

/// Gives a container whose root filesystem this run made read-only an `emptyDir` at `/tmp`
/// (most applications write temporary files) and at each folder its image writes, from the
/// declared table and the `writable-paths` option, unless a mount already covers the folder.
/// An image the table does not know gets a note: where it writes is for a reviewer to check.
fn writable_paths(p: &mut Planner<'_, '_>, transform: &'static Transform, target: &Target<'_>) {
    let Some(container) = target.container else {
        return;
    };
    let read_only = join(&container.path, "securityContext.readOnlyRootFilesystem");
    let made_read_only = p.read(&read_only).is_some_and(|n| n.is_bool(true))
        && !crate::yaml::lookup(p.root, &read_only).is_some_and(|n| n.is_bool(true));
    if !made_read_only {
        return;
    }
    let mut folders: Vec<String> = Vec::new();
    if transform.option(p.settings, "tmp-volume") != Some(Literal::Bool(false)) {
        folders.push("/tmp".to_owned());
    }
    let image_path = join(&container.path, "image");
    let image = p
        .read(&image_path)
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_owned();
    let configured = match transform.option(p.settings, "writable-paths") {
        Some(Literal::Table(table)) => table,
        _ => Default::default(),
    };
    match writes_of(&image, &configured, &transform.image_writes) {
        Some(writes) => folders.extend(writes.iter().cloned()),
        None => {
            let message = format!(
                "image {image} is not in kubeharden's table of the folders images write: check that it writes only to /tmp and its volumes, or name its folders in the option writable-paths"
            );
            p.report(transform, target, &image_path, FindingKind::Note, &message);
        }
    }
    let mounts_path = join(&container.path, "volumeMounts");
    let mounted: Vec<String> = names(p.read(&mounts_path), "mountPath");
    // A folder inside a mount, or inside another folder of the list, is writable already.
    let covered = |folder: &str, by: &str| {
        let by = by.trim_end_matches('/');
        folder == by || folder.starts_with(&format!("{by}/"))
    };
    let mut distinct: Vec<String> = Vec::new();
    for folder in folders.iter().map(|f| f.trim_end_matches('/')) {
        if !folder.is_empty() && !distinct.iter().any(|d| d == folder) {
            distinct.push(folder.to_owned());
        }
    }
    let wanted: Vec<&String> = distinct
        .iter()
        .filter(|f| {
            !mounted.iter().any(|m| covered(f, m))
                && !distinct
                    .iter()
                    .any(|other| other != *f && covered(f, other))
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    let volumes_path = join(&target.pod.path, "volumes");
    let mut taken = volume_names_in_use(p, target);
    let mut additions = Vec::new();
    for folder in wanted {
        let label = dns_label(folder);
        let base: String = match (&container.name, target.containers.len()) {
            (Some(name), n) if n > 1 => format!("{label}-{name}"),
            _ => label,
        };
        let base: String = base.chars().take(60).collect();
        let name = unique(base.trim_end_matches('-'), "-", |c| {
            taken.iter().any(|t| t == c)
        });
        taken.push(name.clone());
        additions.push((name, folder.clone()));
    }
    // A volume without its mount, or a mount without its volume, is not written.
    p.all_or_none(|p| {
        additions.iter().all(|(name, folder)| {
            let empty_dir = Node::new(NodeKind::Mapping {
                style: CollectionStyle::Flow,
                entries: Vec::new(),
            });
            let volume = mapping(vec![("name", text(name)), ("emptyDir", empty_dir)]);
            let mount = mapping(vec![("name", text(name)), ("mountPath", text(folder))]);
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
                &format!("{{name: {name}, mountPath: {folder}}}"),
            )
        })
    });
}

/// A volume name for `folder`: its path as a DNS label, `/var/cache/nginx` as
/// `var-cache-nginx`.
fn dns_label(folder: &str) -> String {
    let mut label = String::new();
    for c in folder.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            label.push(c);
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    let label = label.trim_end_matches('-');
    match label.is_empty() {
        true => "writable".to_owned(),
        false => label.to_owned(),
    }
}

/// Adds back the capabilities that the container's own command needs (`chown` needs CHOWN)
/// when this run made it drop ALL: a root init container that sets a volume's owner would
/// otherwise fail. A capability the profile does not let a container add is reported instead.
fn command_capabilities(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some(container) = target.container else {
        return;
    };
    let drop = join(&container.path, "securityContext.capabilities.drop");
    let drops_all = |list: Option<&Node<'_>>| {
        list.is_some_and(|l| list_strings(l).iter().any(|c| c.as_deref() == Some("ALL")))
    };
    if !drops_all(p.read(&drop)) || drops_all(crate::yaml::lookup(p.root, &drop)) {
        return;
    }
    let strings = commands::command_strings(p, container);
    let met = commands::needs_met(
        &commands::simple_commands(&strings),
        &transform.command_needs,
    );
    let add_rule = "securityContext.capabilities.add";
    let add = join(&container.path, add_rule);
    // What the profile's own rules on `add` would take away again.
    let allowed = |capability: &str| {
        transform
            .rules
            .iter()
            .filter(|r| r.path == add_rule && r.profile.is_none_or(|pr| pr == p.settings.profile))
            .all(|r| {
                !r.remove_items
                    .as_ref()
                    .is_some_and(|items| items.iter().any(|i| i == capability))
                    && r.keep_only_items
                        .as_ref()
                        .is_none_or(|keep| keep.iter().any(|k| k == capability))
            })
    };
    for (need, command) in met {
        let have = p.read(&add).map(list_strings).unwrap_or_default();
        let (kept, refused): (Vec<&String>, Vec<&String>) = need
            .capabilities
            .iter()
            .filter(|c| !have.iter().any(|h| h.as_deref() == Some(c.as_str())))
            .partition(|c| allowed(c));
        let words: Vec<&str> = command.split(' ').collect();
        let shown = match words.len() {
            0..=5 => command.clone(),
            _ => format!("{} …", words[..5].join(" ")),
        };
        let mut added = Vec::new();
        for capability in kept {
            let item = Node::new_scalar(capability.clone(), true);
            if p.append(transform, target, &add, item, capability) {
                added.push(capability.as_str());
            }
        }
        if !added.is_empty() {
            let message = format!(
                "its command runs `{shown}`, which {}: {} added back after dropping ALL (not needed if it runs as the files' owner, not as root)",
                need.why,
                added.join(", ")
            );
            p.report(transform, target, &add, FindingKind::Note, &message);
        }
        if !refused.is_empty() {
            let names: Vec<&str> = refused.iter().map(|c| c.as_str()).collect();
            let message = format!(
                "its command runs `{shown}`, which {}, but the {} profile does not let it add {}: the command fails unless it owns the files",
                need.why,
                p.settings.profile,
                names.join(", ")
            );
            p.report(transform, target, &add, FindingKind::Warning, &message);
        }
    }
}

fn text(value: &str) -> Node<'static> {
    Node::new_scalar(value.to_owned(), true)
}

/// Rolls workloads out a few pods at a time, as their kind's update strategy says it
/// ([`Rollout`]): a Deployment's (or DeploymentConfig's) `Recreate` or missing strategy, a
/// StatefulSet's or DaemonSet's missing update strategy (and `OnDelete`, with the option
/// `replace-on-delete`).
fn rolling_update(p: &mut Planner<'_, '_>, transform: &'static Transform, target: &Target<'_>) {
    let spec = join(&target.pod.resource.path, "spec");
    let changed = match target.pod.rollout {
        Rollout::Strategy { rolling, params } => {
            let strategy = join(&spec, "strategy");
            let kind = p
                .read_at(&strategy, "type")
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
                &Literal::Text(rolling.into()),
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
                            &join(&join(&strategy, params), field),
                            &value,
                        );
                    }
                }
            }
            true
        }
        Rollout::UpdateStrategy => {
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
        Rollout::None => false,
    };
    if changed {
        warn_without_readiness(p, transform, target);
    }
}

/// Whether the workload runs one replica (or leaves `replicas` out) and mounts a claim.
fn single_replica_with_claim(p: &Planner<'_, '_>, target: &Target<'_>) -> bool {
    let replicas = p
        .read_at(&target.pod.resource.path, "spec.replicas")
        .and_then(Node::as_str);
    let single = replicas.is_none_or(|r| r.parse::<i64>().is_ok_and(|n| n <= 1));
    let claims = p
        .read_at(&target.pod.path, "volumes")
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
        if p.read_at(&container.path, "readinessProbe").is_none() {
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
    let mut taken = names(p.read_at(&target.pod.path, "volumes"), "name");
    taken.extend(
        p.read_at(&target.pod.resource.path, "spec.volumeClaimTemplates")
            .and_then(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.get("metadata")?.get("name")?.as_str().map(str::to_owned)),
    );
    for container in target.containers {
        taken.extend(names(p.read_at(&container.path, "volumeMounts"), "name"));
    }
    taken
}
