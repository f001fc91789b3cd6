//! The steps a declarative rule cannot say, named by `custom:` in a declaration.

use crate::k8s::Container;
use crate::yaml::{self, CollectionStyle, Node, NodeKind, Step};

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
        "secrets-as-files" => secrets_as_files(planner, transform, target),
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
    let taken: Vec<String> = p
        .read(&volumes_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.get("name").and_then(Node::as_str).map(str::to_owned))
        .collect();
    let base = match (&container.name, target.containers.len()) {
        (Some(name), n) if n > 1 => format!("tmp-{name}").chars().take(60).collect(),
        _ => "tmp".to_owned(),
    };
    let name = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(base);
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
/// StatefulSet's or DaemonSet's `OnDelete` or missing update strategy.
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

/// An env var read from a Secret key, to be turned into a file.
struct SecretRef {
    /// Its index in the container's `env`.
    index: usize,
    /// The variable's name.
    var: String,
    secret: String,
    key: String,
    optional: bool,
    /// The env entry as YAML flow text, for the report.
    shown: String,
    /// Its `valueFrom`, likewise.
    value_from: String,
    /// The file's path when the container already mounts the Secret with that key.
    mounted: Option<String>,
}

/// Hands the Secret keys that containers read through `env[].valueFrom.secretKeyRef` to them as
/// files: one `secret` volume per Secret, mounted read-only in each container using it, and an
/// env var `NAME_FILE` giving the file's path in place of `NAME`.
fn secrets_as_files(p: &mut Planner<'_, '_>, transform: &'static Transform, target: &Target<'_>) {
    let root = transform
        .option(p.settings, "mount-root")
        .map_or_else(|| "/etc/secrets".to_owned(), |o| o.display());
    let root = root.trim_end_matches('/').to_owned();
    let file_env = transform.option(p.settings, "file-env") != Some(Literal::Bool(false));
    let volumes_path = join(&target.pod.path, "volumes");
    // What each container converts, judged on the document as it is before any edit here.
    let mut work: Vec<(&Container, Vec<SecretRef>)> = Vec::new();
    for container in target
        .containers
        .iter()
        .filter(|c| c.group != "ephemeralContainers")
    {
        let here = container_target(target, container);
        let refs = secret_refs(p, transform, &here, container);
        if !refs.is_empty() {
            work.push((container, refs));
        }
    }
    // A volume is optional when every reference to its Secret that it serves is.
    let optional = |secret: &str| {
        work.iter()
            .flat_map(|(_, refs)| refs)
            .filter(|r| r.secret == secret && r.mounted.is_none())
            .all(|r| r.optional)
    };
    // The volume each Secret gets, named after it, never an existing volume's or mount's name.
    let mut taken: Vec<String> = names(p.read(&volumes_path), "name");
    for container in target.containers {
        taken.extend(names(
            p.read(&join(&container.path, "volumeMounts")),
            "name",
        ));
    }
    let mut volume_names: Vec<(String, String)> = Vec::new();
    for (_, refs) in &work {
        for r in refs.iter().filter(|r| r.mounted.is_none()) {
            if volume_names.iter().any(|(s, _)| s == &r.secret) {
                continue;
            }
            // A volume name is a DNS label: no dots, at most 63 characters with the suffix.
            let base: String = r.secret.replace('.', "-").chars().take(56).collect();
            let base = base.trim_end_matches('-');
            let name = unique(base, "-", |c| taken.iter().any(|t| t == c));
            taken.push(name.clone());
            volume_names.push((r.secret.clone(), name));
        }
    }
    for (container, refs) in &work {
        let here = container_target(target, container);
        let env_path = join(&container.path, "env");
        let mounts_path = join(&container.path, "volumeMounts");
        let env_items = p
            .read(&env_path)
            .and_then(Node::items)
            .map_or(0, <[_]>::len);
        // The mount path of each Secret this container mounts.
        let mut taken_paths: Vec<String> = names(p.read(&mounts_path), "mountPath")
            .into_iter()
            .map(|m| m.trim_end_matches('/').to_owned())
            .collect();
        let mut mounts: Vec<(String, String)> = Vec::new();
        for r in refs.iter().filter(|r| r.mounted.is_none()) {
            if mounts.iter().any(|(s, _)| s == &r.secret) {
                continue;
            }
            let base = format!("{root}/{}", r.secret);
            // Not an existing mount's path, nor one that would hide what is mounted below it.
            let path = unique(&base, "-", |c| {
                taken_paths
                    .iter()
                    .any(|t| t == c || t.starts_with(&format!("{c}/")))
            });
            taken_paths.push(path.clone());
            mounts.push((r.secret.clone(), path));
        }
        // The names of the `_FILE` vars, never an existing var's.
        let mut taken_vars: Vec<String> = p
            .read(&env_path)
            .and_then(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(i, _)| !refs.iter().any(|r| r.index == *i))
            .filter_map(|(_, e)| e.get("name").and_then(Node::as_str).map(str::to_owned))
            .collect();
        let mut file_vars: Vec<(String, String)> = Vec::new();
        for r in refs {
            let file = match &r.mounted {
                Some(file) => file.clone(),
                None => {
                    let dir = mounts
                        .iter()
                        .find(|(s, _)| s == &r.secret)
                        .map(|(_, d)| d.clone())
                        .unwrap_or_default();
                    format!("{dir}/{}", r.key)
                }
            };
            let name = unique(&format!("{}_FILE", r.var), "_", |c| {
                taken_vars.iter().any(|t| t == c)
            });
            taken_vars.push(name.clone());
            file_vars.push((name, file));
        }
        // Every edit of one container is made, or none.
        p.all_or_none(&target.pod.path, |p| {
            for (secret, dir) in &mounts {
                let Some((_, volume)) = volume_names.iter().find(|(s, _)| s == secret) else {
                    return false;
                };
                let keys: Vec<&str> = refs
                    .iter()
                    .filter(|r| &r.secret == secret && r.mounted.is_none())
                    .map(|r| r.key.as_str())
                    .fold(Vec::new(), |mut keys, k| {
                        if !keys.contains(&k) {
                            keys.push(k);
                        }
                        keys
                    });
                if !add_secret_volume(
                    p,
                    transform,
                    &here,
                    &volumes_path,
                    volume,
                    secret,
                    &keys,
                    optional(secret),
                ) {
                    return false;
                }
                let mut mount = vec![("name", text(volume)), ("mountPath", text(dir))];
                mount.push(("readOnly", Node::new_scalar("true", false)));
                let mount = mapping(mount);
                let shown = yaml::flow_text(&mount).unwrap_or_default();
                if !p.append(transform, &here, &mounts_path, mount, &shown) {
                    return false;
                }
            }
            if file_env {
                // Each entry becomes its `_FILE` var in place, keeping its comments and style.
                for (r, (name, file)) in refs.iter().zip(&file_vars) {
                    let mut entry = env_path.clone();
                    entry.push(Step::Index(r.index));
                    p.set(
                        transform,
                        &here,
                        &join(&entry, "name"),
                        &Literal::Text(name.clone()),
                    );
                    p.set(
                        transform,
                        &here,
                        &join(&entry, "value"),
                        &Literal::Text(file.clone()),
                    );
                    if !p.remove(transform, &here, &join(&entry, "valueFrom"), &r.value_from) {
                        return false;
                    }
                    // A refused `set` was reported as a warning; the step checks its result.
                    let written = |p: &Planner<'_, '_>, key: &str, want: &str| {
                        p.read(&join(&entry, key)).and_then(Node::as_str) == Some(want)
                    };
                    if !written(p, "name", name) || !written(p, "value", file) {
                        return false;
                    }
                }
            } else if refs.len() == env_items {
                let shown = p
                    .read(&env_path)
                    .and_then(yaml::flow_text)
                    .unwrap_or_default();
                if !p.remove(transform, &here, &env_path, &shown) {
                    return false;
                }
            } else {
                for r in refs.iter().rev() {
                    let mut path = env_path.clone();
                    path.push(Step::Index(r.index));
                    if !p.remove(transform, &here, &path, &r.shown) {
                        return false;
                    }
                }
            }
            true
        });
    }
}

/// A target for one container of `target`'s pod, for its changes and findings.
fn container_target<'t>(target: &Target<'t>, container: &'t Container) -> Target<'t> {
    Target {
        pod: target.pod,
        containers: target.containers,
        container: Some(container),
        base: container.path.clone(),
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

/// The string values of `key` in the items of the list `node`.
fn names(node: Option<&Node<'_>>, key: &str) -> Vec<String> {
    node.and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.get(key).and_then(Node::as_str).map(str::to_owned))
        .collect()
}

/// The env vars of `container` read from Secret keys that can become files; those that cannot
/// are reported as skipped, with the reason.
fn secret_refs(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    here: &Target<'_>,
    container: &Container,
) -> Vec<SecretRef> {
    let env_path = join(&container.path, "env");
    let Some(env) = p.read(&env_path).and_then(Node::items) else {
        return Vec::new();
    };
    // Where `$(NAME)` may be expanded: command, args and env values.
    let mut expanded: Vec<String> = Vec::new();
    for field in ["command", "args"] {
        expanded.extend(
            p.read(&join(&container.path, field))
                .and_then(Node::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned)),
        );
    }
    expanded.extend(
        env.iter()
            .filter_map(|e| e.get("value").and_then(Node::as_str).map(str::to_owned)),
    );
    let env = env.to_vec();
    let mounted = secret_mounts(p, &join(&here.pod.path, "volumes"), container);
    let mut refs = Vec::new();
    let mut skips: Vec<(usize, String)> = Vec::new();
    for (index, entry) in env.iter().enumerate() {
        let Some(selector) = entry.get("valueFrom").and_then(|v| v.get("secretKeyRef")) else {
            continue;
        };
        let field = |n: &Node<'_>, k: &str| n.get(k).and_then(Node::as_str).map(str::to_owned);
        let (Some(var), Some(secret), Some(key)) = (
            field(entry, "name"),
            field(selector, "name"),
            field(selector, "key"),
        ) else {
            continue;
        };
        let optional = selector.get("optional").is_some_and(|n| n.is_bool(true));
        if expanded.iter().any(|v| v.contains(&format!("$({var})"))) {
            skips.push((
                index,
                format!(
                    "keeps env var {var} from Secret {secret}: it is referenced as $({var}) in the container's command, args or env, and the expansion would break"
                ),
            ));
            continue;
        }
        let (Some(shown), Some(value_from)) = (
            yaml::flow_text(entry),
            entry.get("valueFrom").and_then(yaml::flow_text),
        ) else {
            skips.push((
                index,
                format!(
                    "keeps env var {var} from Secret {secret}: its entry uses an alias or a tag"
                ),
            ));
            continue;
        };
        let mounted = match mounted.iter().find(|(s, _, _)| s == &secret) {
            None => None,
            Some((_, dir, items)) => match items {
                None => Some(format!("{dir}/{key}")),
                Some(items) => match items.iter().find(|(k, _)| k == &key) {
                    Some((_, path)) => Some(format!("{dir}/{path}")),
                    None => {
                        skips.push((
                            index,
                            format!(
                                "keeps env var {var}: the container already mounts Secret {secret} at {dir}, without its key {key}"
                            ),
                        ));
                        continue;
                    }
                },
            },
        };
        refs.push(SecretRef {
            index,
            var,
            secret,
            key,
            optional,
            shown,
            value_from,
            mounted,
        });
    }
    for (index, reason) in skips {
        let mut path = env_path.clone();
        path.push(Step::Index(index));
        p.report(transform, here, &path, FindingKind::Skipped, &reason);
    }
    refs
}

/// The Secrets `container` already mounts whole (no subPath): secret name, mount path, and
/// the volume's `items` as (key, path) when it lists them.
#[allow(clippy::type_complexity)]
fn secret_mounts(
    p: &Planner<'_, '_>,
    volumes_path: &[Step],
    container: &Container,
) -> Vec<(String, String, Option<Vec<(String, String)>>)> {
    let volumes = p
        .read(volumes_path)
        .and_then(Node::items)
        .unwrap_or_default();
    let mounts = p
        .read(&join(&container.path, "volumeMounts"))
        .and_then(Node::items)
        .unwrap_or_default();
    let mut out = Vec::new();
    for mount in mounts {
        if mount.get("subPath").is_some_and(|s| !s.is_null()) {
            continue;
        }
        let (Some(name), Some(dir)) = (
            mount.get("name").and_then(Node::as_str),
            mount.get("mountPath").and_then(Node::as_str),
        ) else {
            continue;
        };
        let Some(secret) = volumes
            .iter()
            .find(|v| v.get("name").and_then(Node::as_str) == Some(name))
            .and_then(|v| v.get("secret"))
        else {
            continue;
        };
        let Some(secret_name) = secret.get("secretName").and_then(Node::as_str) else {
            continue;
        };
        let items = secret.get("items").and_then(Node::items).map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some((
                        i.get("key")?.as_str()?.to_owned(),
                        i.get("path")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        });
        out.push((
            secret_name.to_owned(),
            dir.trim_end_matches('/').to_owned(),
            items,
        ));
    }
    out
}

/// Adds the `secret` volume `volume` for `secret` with `keys`, or the keys it lacks when an
/// earlier container of this run added it; whether every edit was made.
#[allow(clippy::too_many_arguments)]
fn add_secret_volume(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    here: &Target<'_>,
    volumes_path: &[Step],
    volume: &str,
    secret: &str,
    keys: &[&str],
    optional: bool,
) -> bool {
    let item = |key: &str| mapping(vec![("key", text(key)), ("path", text(key))]);
    let existing = p
        .read(volumes_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .position(|v| v.get("name").and_then(Node::as_str) == Some(volume));
    match existing {
        Some(index) => {
            let mut items_path = volumes_path.to_vec();
            items_path.push(Step::Index(index));
            items_path.extend(join(&[], "secret.items"));
            let have = names(p.read(&items_path), "key");
            for key in keys.iter().filter(|k| !have.iter().any(|h| h == *k)) {
                let node = item(key);
                let shown = yaml::flow_text(&node).unwrap_or_default();
                if !p.append(transform, here, &items_path, node, &shown) {
                    return false;
                }
            }
            true
        }
        None => {
            let items = Node::new(NodeKind::Sequence {
                style: CollectionStyle::Block,
                items: keys.iter().map(|k| item(k)).collect(),
            });
            let mut source = vec![("secretName", text(secret)), ("items", items)];
            if optional {
                source.push(("optional", Node::new_scalar("true", false)));
            }
            let node = mapping(vec![("name", text(volume)), ("secret", mapping(source))]);
            let shown = yaml::flow_text(&node).unwrap_or_default();
            p.append(transform, here, volumes_path, node, &shown)
        }
    }
}
