//! `secrets-as-files`: Secrets that containers read through their environment are handed to
//! them as files instead.

use crate::k8s::Container;
use crate::yaml::{self, CollectionStyle, Node, NodeKind, Step};

use super::super::commands::{command_strings, shell_variables};
use super::super::planner::{Planner, Target, join, names};
use super::super::{FindingKind, Literal, Settings, Transform, mapping, secret_readers};
use super::{text, unique, volume_names_in_use};

/// How a container reads a Secret through its environment.
enum Reads {
    /// `env[].valueFrom.secretKeyRef`: one key, as the variable `var`.
    Key {
        var: String,
        key: String,
        /// The entry's `valueFrom` as YAML flow text, for the report.
        value_from: String,
        /// The variable that will name the key's file, as its reader expects it.
        file_var: String,
        /// Who reads the file, for the report.
        reader: String,
    },
    /// `envFrom[].secretRef`: every key, each as a variable named after it (after `prefix`).
    Whole { prefix: Option<String> },
}

/// One reading of a Secret through a container's environment, to be turned into files.
struct SecretRef {
    /// Its index in the container's `env` (a key) or `envFrom` (a whole Secret).
    index: usize,
    secret: String,
    optional: bool,
    /// The entry as YAML flow text, for the report.
    shown: String,
    reads: Reads,
    /// Where the container already mounts the Secret: the key's file, or the folder.
    mounted: Option<String>,
}

impl SecretRef {
    fn is_whole(&self) -> bool {
        matches!(self.reads, Reads::Whole { .. })
    }
}

/// Hands the Secrets that containers read through `env[].valueFrom.secretKeyRef` and
/// `envFrom[].secretRef` to them as files: one `secret` volume per Secret, mounted read-only in
/// each container using it; an env var `NAME_FILE` giving the file's path replaces `NAME`.
pub(in crate::transform) fn secrets_as_files(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let root = transform
        .option(p.settings, "mount-root")
        .map_or_else(|| "/etc/secrets".to_owned(), |o| o.display());
    let root = root.trim_end_matches('/').to_owned();
    let file_env = transform.option(p.settings, "file-env") != Some(Literal::Bool(false));
    let convert_all = transform.option(p.settings, "convert-all") == Some(Literal::Bool(true));
    let volumes_path = join(&target.pod.path, "volumes");
    // What each container converts, judged on the document as it is before any edit here.
    let mut work: Vec<(&Container, Vec<SecretRef>)> = Vec::new();
    for container in target
        .containers
        .iter()
        .filter(|c| c.group != "ephemeralContainers")
    {
        let here = container_target(target, container);
        let refs = secret_refs(p, transform, &here, container, convert_all);
        if !refs.is_empty() {
            work.push((container, refs));
        }
    }
    keep_optional_keys_of_required_volumes(p, transform, target, &mut work);
    let to_mount = || {
        work.iter()
            .flat_map(|(_, refs)| refs)
            .filter(|r| r.mounted.is_none())
    };
    // A volume is optional when every reference to its Secret that it serves is, and holds
    // the whole Secret when one of them reads it whole.
    let optional = |secret: &str| {
        to_mount()
            .filter(|r| r.secret == secret)
            .all(|r| r.optional)
    };
    let whole = |secret: &str| to_mount().any(|r| r.secret == secret && r.is_whole());
    // The volume each Secret gets, named after it, never an existing volume's or mount's name.
    let mut taken = volume_names_in_use(p, target);
    let mut volume_names: Vec<(String, String)> = Vec::new();
    for r in to_mount() {
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
    for (container, refs) in &work {
        let here = container_target(target, container);
        let env_path = join(&container.path, "env");
        let env_from_path = join(&container.path, "envFrom");
        let mounts_path = join(&container.path, "volumeMounts");
        let Some(mounts) = mount_paths(p, &root, &mounts_path, refs) else {
            let reason = format!(
                "keeps its env vars from Secrets: {root} and the folders beside it are mounted already, or inside a mount; set the option mount-root"
            );
            p.report(
                transform,
                &here,
                &mounts_path,
                FindingKind::Skipped,
                &reason,
            );
            continue;
        };
        let folder = |r: &SecretRef| match &r.mounted {
            Some(mounted) => mounted.clone(),
            None => mounts
                .iter()
                .find(|(s, _)| s == &r.secret)
                .map(|(_, d)| d.clone())
                .unwrap_or_default(),
        };
        let keys: Vec<&SecretRef> = refs.iter().filter(|r| !r.is_whole()).collect();
        let wholes: Vec<&SecretRef> = refs.iter().filter(|r| r.is_whole()).collect();
        let file_vars = file_vars(p, &env_path, &keys, &folder);
        // Every edit of one container is made, or none.
        let made = p.all_or_none(|p| {
            for (secret, dir) in &mounts {
                let Some((_, volume)) = volume_names.iter().find(|(s, _)| s == secret) else {
                    return false;
                };
                let items = (!whole(secret)).then(|| {
                    keys.iter()
                        .filter(|r| &r.secret == secret && r.mounted.is_none())
                        .filter_map(|r| match &r.reads {
                            Reads::Key { key, .. } => Some(key.as_str()),
                            Reads::Whole { .. } => None,
                        })
                        .fold(Vec::new(), |mut keys, k| {
                            if !keys.contains(&k) {
                                keys.push(k);
                            }
                            keys
                        })
                });
                let volume = SecretVolume {
                    name: volume,
                    secret,
                    items: items.as_deref(),
                    optional: optional(secret),
                };
                if !add_secret_volume(p, transform, &here, &volumes_path, &volume) {
                    return false;
                }
                let mount = mapping(vec![
                    ("name", text(volume.name)),
                    ("mountPath", text(dir)),
                    ("readOnly", Node::new_scalar("true", false)),
                ]);
                let shown = yaml::flow_text(&mount).unwrap_or_default();
                if !p.append(transform, &here, &mounts_path, mount, &shown) {
                    return false;
                }
            }
            let env_items = p
                .read(&env_path)
                .and_then(Node::items)
                .map_or(0, <[_]>::len);
            let keys_converted = if file_env {
                rename_to_file_vars(p, transform, &here, &env_path, &keys, &file_vars)
            } else {
                remove_entries(p, transform, &here, &env_path, &keys, env_items)
            };
            let env_from_items = p
                .read(&env_from_path)
                .and_then(Node::items)
                .map_or(0, <[_]>::len);
            keys_converted
                && remove_entries(p, transform, &here, &env_from_path, &wholes, env_from_items)
        });
        if !made {
            continue;
        }
        for (r, (name, file)) in keys.iter().zip(&file_vars) {
            if let Some((message, reader)) = reader_note(r, name, file, file_env) {
                let mut path = env_path.clone();
                path.push(Step::Index(r.index));
                p.report_secret_reader(transform, &here, &path, &message, reader);
            }
        }
        for r in &wholes {
            let Reads::Whole { prefix } = &r.reads else {
                continue;
            };
            let named = match prefix {
                Some(prefix) => format!("the env vars {prefix}KEY"),
                None => "env vars".to_owned(),
            };
            let message = format!(
                "Secret {} is no longer read as {named}: each key is now the file {}/KEY; the application must read them there",
                r.secret,
                folder(r)
            );
            let mut path = env_from_path.clone();
            path.push(Step::Index(r.index));
            p.report_secret_reader(transform, &here, &path, &message, CONVERT_ALL_READER);
        }
    }
}

/// Leaves in the environment each optional key of a Secret that other references need: its
/// volume is not optional and lists its keys, so a missing key would fail the mount, where
/// the unset variable did not.
fn keep_optional_keys_of_required_volumes(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
    work: &mut Vec<(&Container, Vec<SecretRef>)>,
) {
    let to_mount = work
        .iter()
        .flat_map(|(_, refs)| refs)
        .filter(|r| r.mounted.is_none());
    let (mut required, mut whole) = (Vec::new(), Vec::new());
    for r in to_mount {
        if !r.optional {
            required.push(r.secret.clone());
        }
        if r.is_whole() {
            whole.push(r.secret.clone());
        }
    }
    for (container, refs) in work.iter_mut() {
        let here = container_target(target, container);
        let (kept, left): (Vec<SecretRef>, Vec<SecretRef>) =
            std::mem::take(refs).into_iter().partition(|r| {
                !(r.optional
                    && r.mounted.is_none()
                    && !r.is_whole()
                    && required.contains(&r.secret)
                    && !whole.contains(&r.secret))
            });
        *refs = kept;
        for r in left {
            let Reads::Key { var, .. } = &r.reads else {
                continue;
            };
            let mut path = join(&container.path, "env");
            path.push(Step::Index(r.index));
            let reason = format!(
                "keeps env var {var} from Secret {}: it is optional while other references to the Secret are not, and a missing key would fail the volume's mount",
                r.secret
            );
            p.report(transform, &here, &path, FindingKind::Skipped, &reason);
        }
    }
    work.retain(|(_, refs)| !refs.is_empty());
}

/// The folder where `container` mounts each Secret of `refs` it does not mount yet: under
/// `root` (or `root-2`… when `root` is itself mounted or inside a mount: a read-only volume has
/// no room for a mount point), never an existing mount's path nor one that would hide what is
/// mounted below it. `None` when every nearby root is inside a mount.
fn mount_paths(
    p: &Planner<'_, '_>,
    root: &str,
    mounts_path: &[Step],
    refs: &[SecretRef],
) -> Option<Vec<(String, String)>> {
    let mut taken: Vec<String> = names(p.read(mounts_path), "mountPath")
        .into_iter()
        .map(|m| m.trim_end_matches('/').to_owned())
        .collect();
    let inside = |path: &str, taken: &[String]| {
        taken
            .iter()
            .any(|t| t == path || path.starts_with(&format!("{t}/")))
    };
    let root = (1..=10)
        .map(|n| match n {
            1 => root.to_owned(),
            n => format!("{root}-{n}"),
        })
        .find(|r| !inside(r, &taken))?;
    let mut mounts: Vec<(String, String)> = Vec::new();
    for r in refs.iter().filter(|r| r.mounted.is_none()) {
        if mounts.iter().any(|(s, _)| s == &r.secret) {
            continue;
        }
        // The root is inside no mount, so only the candidate itself can be.
        let path = unique(&format!("{root}/{}", r.secret), "-", |c| {
            inside(c, &taken) || taken.iter().any(|t| t.starts_with(&format!("{c}/")))
        });
        taken.push(path.clone());
        mounts.push((r.secret.clone(), path));
    }
    Some(mounts)
}

/// The `NAME_FILE` var and the file's path for each key of `keys` (in `folder`), never the
/// name of a var the container keeps.
fn file_vars(
    p: &Planner<'_, '_>,
    env_path: &[Step],
    keys: &[&SecretRef],
    folder: &dyn Fn(&SecretRef) -> String,
) -> Vec<(String, String)> {
    let mut taken: Vec<String> = p
        .read(env_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(i, _)| !keys.iter().any(|r| r.index == *i))
        .filter_map(|(_, e)| e.get("name").and_then(Node::as_str).map(str::to_owned))
        .collect();
    let mut vars = Vec::new();
    for r in keys {
        let Reads::Key { key, file_var, .. } = &r.reads else {
            continue;
        };
        let file = match &r.mounted {
            Some(file) => file.clone(),
            None => format!("{}/{key}", folder(r)),
        };
        let name = unique(file_var, "_", |c| taken.iter().any(|t| t == c));
        taken.push(name.clone());
        vars.push((name, file));
    }
    vars
}

/// Turns each env entry of `keys` into its `_FILE` var in place, keeping its comments and
/// style; whether every edit was made.
fn rename_to_file_vars(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    here: &Target<'_>,
    env_path: &[Step],
    keys: &[&SecretRef],
    file_vars: &[(String, String)],
) -> bool {
    for (r, (name, file)) in keys.iter().zip(file_vars) {
        let Reads::Key { value_from, .. } = &r.reads else {
            continue;
        };
        let mut entry = env_path.to_vec();
        entry.push(Step::Index(r.index));
        p.set(
            transform,
            here,
            &join(&entry, "name"),
            &Literal::Text(name.clone()),
        );
        p.set(
            transform,
            here,
            &join(&entry, "value"),
            &Literal::Text(file.clone()),
        );
        if !p.remove(transform, here, &join(&entry, "valueFrom"), value_from) {
            return false;
        }
        // A refused `set` was reported as a warning; the step checks its result.
        let written = |p: &Planner<'_, '_>, key: &'static str, want: &str| {
            p.read_at(&entry, key).and_then(Node::as_str) == Some(want)
        };
        if !written(p, "name", name) || !written(p, "value", file) {
            return false;
        }
    }
    true
}

/// Removes the entries `refs` of the list at `path`, which has `length` items: the whole
/// field when none would be left; whether every edit was made.
fn remove_entries(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    here: &Target<'_>,
    path: &[Step],
    refs: &[&SecretRef],
    length: usize,
) -> bool {
    if refs.is_empty() {
        return true;
    }
    if refs.len() == length {
        let shown = p.read(path).and_then(yaml::flow_text).unwrap_or_default();
        return p.remove(transform, here, path, &shown);
    }
    let mut indexes: Vec<(usize, &str)> =
        refs.iter().map(|r| (r.index, r.shown.as_str())).collect();
    indexes.sort_unstable();
    indexes.into_iter().rev().all(|(index, shown)| {
        let mut item = path.to_vec();
        item.push(Step::Index(index));
        p.remove(transform, here, &item, shown)
    })
}

/// A target for one container of `target`'s pod, for its changes and findings.
fn container_target<'t>(target: &Target<'t>, container: &'t Container) -> Target<'t> {
    Target {
        pod: target.pod,
        containers: target.containers,
        container: Some(container),
        base: &container.path,
    }
}

/// The Secrets `container` reads through `env` and `envFrom` that can become files; those
/// that cannot are reported as skipped, with the reason.
fn secret_refs(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    here: &Target<'_>,
    container: &Container,
    convert_all: bool,
) -> Vec<SecretRef> {
    let env_path = join(&container.path, "env");
    let env_from_path = join(&container.path, "envFrom");
    // Most containers read no Secret through their environment: nothing to copy or judge.
    let entries = |path| p.read(path).and_then(Node::items).unwrap_or_default();
    if !entries(&env_path)
        .iter()
        .any(|e| secret_key_ref(e).is_some())
        && !entries(&env_from_path)
            .iter()
            .any(|e| e.get("secretRef").is_some())
    {
        return Vec::new();
    }
    let env: Vec<Node<'_>> = p
        .read(&env_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .to_vec();
    let env_from: Vec<Node<'_>> = p
        .read(&env_from_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .to_vec();
    if env.is_empty() && env_from.is_empty() {
        return Vec::new();
    }
    // The variables expanded as `$(NAME)` in command, args, env values and mounts' subPathExpr.
    let commands = command_strings(p, container);
    let mut expanding: Vec<String> = commands.clone();
    expanding.extend(
        env.iter()
            .filter_map(|e| e.get("value").and_then(Node::as_str).map(str::to_owned)),
    );
    expanding.extend(names(
        p.read_at(&container.path, "volumeMounts"),
        "subPathExpr",
    ));
    let expanded: Vec<&str> = expanding.iter().flat_map(|s| expansions(s)).collect();
    // The variables a shell in command or args reads: `$NAME`, `${NAME}`, `${NAME:-x}`…
    let shell_read: Vec<(&str, &str)> = commands.iter().flat_map(|s| shell_variables(s)).collect();
    let defined: Vec<&str> = env
        .iter()
        .filter_map(|e| e.get("name").and_then(Node::as_str))
        .collect();
    let mounted = secret_mounts(p, &join(&here.pod.path, "volumes"), container);
    let image = p
        .read_at(&container.path, "image")
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut refs = Vec::new();
    // What is left alone and why: skipped, or kept with a warning for want of a reader.
    let mut skips: Vec<(Vec<Step>, String)> = Vec::new();
    let mut unread: Vec<(Vec<Step>, String)> = Vec::new();
    let mut claimed: Vec<String> = Vec::new();
    let field = |n: &Node<'_>, k: &str| n.get(k).and_then(Node::as_str).map(str::to_owned);
    for (index, entry) in env.iter().enumerate() {
        let Some(selector) = secret_key_ref(entry) else {
            continue;
        };
        let (Some(var), Some(secret), Some(key)) = (
            field(entry, "name"),
            field(selector, "name"),
            field(selector, "key"),
        ) else {
            continue;
        };
        let mut path = env_path.clone();
        path.push(Step::Index(index));
        let keeps = format!("keeps env var {var} from Secret {secret}");
        if expanded.contains(&var.as_str()) {
            skips.push((path, format!("{keeps}: it is referenced as $({var}) in the container's command, args, env or a mount's subPathExpr, and the expansion would break")));
            continue;
        }
        if let Some((_, form)) = shell_read.iter().find(|(name, _)| *name == var) {
            skips.push((path, format!("{keeps}: it is read as {form} in the container's command or args, where a shell would read an empty value once the variable is renamed")));
            continue;
        }
        let (Some(shown), Some(value_from)) = (
            yaml::flow_text(entry),
            entry.get("valueFrom").and_then(yaml::flow_text),
        ) else {
            skips.push((path, format!("{keeps}: its entry uses an alias or a tag")));
            continue;
        };
        let mounted = match mounted.iter().find(|m| m.secret == secret) {
            None => None,
            Some(m) => match m.file(&key) {
                Some(file) => Some(file),
                None => {
                    skips.push((path, format!("{keeps}: the container already mounts the Secret at {}, without its key {key}", m.dir)));
                    continue;
                }
            },
        };
        let Some((file_var, reader)) = key_reader(p.settings, convert_all, &image, &var) else {
            unread.push((path, unknown_reader(&keeps, &var, &image)));
            continue;
        };
        let taken = env.iter().enumerate().any(|(i, e)| {
            i != index && e.get("name").and_then(Node::as_str) == Some(file_var.as_str())
        });
        if !convert_all && (taken || claimed.contains(&file_var)) {
            unread.push((path, format!("{keeps}: its reader, {reader}, reads the file named by {file_var}, which the container already sets or uses for another secret")));
            continue;
        }
        claimed.push(file_var.clone());
        refs.push(SecretRef {
            index,
            secret,
            optional: selector.get("optional").is_some_and(|n| n.is_bool(true)),
            shown,
            reads: Reads::Key {
                var,
                key,
                value_from,
                file_var,
                reader,
            },
            mounted,
        });
    }
    for (index, entry) in env_from.iter().enumerate() {
        let Some(selector) = entry.get("secretRef") else {
            continue;
        };
        let Some(secret) = field(selector, "name") else {
            continue;
        };
        let prefix = field(entry, "prefix").filter(|p| !p.is_empty());
        let mut path = env_from_path.clone();
        path.push(Step::Index(index));
        let keeps = format!("keeps envFrom Secret {secret}");
        // Any variable the container does not define itself may be a key of this Secret.
        let from_it = expanded
            .iter()
            .find(|v| !defined.contains(v) && prefix.as_deref().is_none_or(|p| v.starts_with(p)));
        if let Some(var) = from_it {
            skips.push((path, format!("{keeps}: $({var}) in the container's command, args, env or a mount's subPathExpr may be one of its keys, and the expansion would break")));
            continue;
        }
        let read_by_shell = shell_read.iter().find(|(name, _)| {
            !defined.contains(name) && prefix.as_deref().is_none_or(|p| name.starts_with(p))
        });
        if let Some((_, form)) = read_by_shell {
            skips.push((path, format!("{keeps}: {form} in the container's command or args may be one of its keys, which a shell would then read empty")));
            continue;
        }
        let other_source = entry
            .entries()
            .unwrap_or_default()
            .iter()
            .any(|(k, _)| !matches!(k.as_str(), Some("secretRef" | "prefix")));
        let Some(shown) = yaml::flow_text(entry).filter(|_| !other_source) else {
            skips.push((
                path,
                format!("{keeps}: its entry uses an alias or a tag, or names another source"),
            ));
            continue;
        };
        if !convert_all {
            unread.push((path, format!("{keeps}: its keys are not named in the manifest, so no reader of them from files can be known; the application would have to read each key from a file in a mounted folder. If it does, set the option convert-all of secrets-as-files in .kubeharden.yaml")));
            continue;
        }
        let mounted = match mounted.iter().find(|m| m.secret == secret) {
            None => None,
            Some(m) if m.items.is_none() => Some(m.dir.clone()),
            Some(m) => {
                skips.push((
                    path,
                    format!(
                        "{keeps}: the container already mounts it at {} with only some of its keys",
                        m.dir
                    ),
                ));
                continue;
            }
        };
        refs.push(SecretRef {
            index,
            secret,
            optional: selector.get("optional").is_some_and(|n| n.is_bool(true)),
            shown,
            reads: Reads::Whole { prefix },
            mounted,
        });
    }
    for (path, reason) in skips {
        p.report(transform, here, &path, FindingKind::Skipped, &reason);
    }
    for (path, reason) in unread {
        p.report(transform, here, &path, FindingKind::Warning, &reason);
    }
    refs
}

/// The `valueFrom.secretKeyRef` of an `env` entry, when it reads a Secret's key.
fn secret_key_ref<'n, 'a>(entry: &'n Node<'a>) -> Option<&'n Node<'a>> {
    entry.get("valueFrom").and_then(|v| v.get("secretKeyRef"))
}

/// The reader of every file under the option `convert-all`, for the report.
const CONVERT_ALL_READER: &str =
    "any image, under the option convert-all (`NAME_FILE` names the file)";

/// The variable that names the file of `var` in a container running `image`, and who reads
/// it there: the configuration's readers or the table's, or anyone under `convert-all`.
fn key_reader(
    settings: &Settings,
    convert_all: bool,
    image: &str,
    var: &str,
) -> Option<(String, String)> {
    if convert_all {
        return Some((format!("{var}_FILE"), CONVERT_ALL_READER.to_owned()));
    }
    let (reader, file_var) = secret_readers::find(&settings.secret_readers, image, var)?;
    Some((file_var, reader.describe()))
}

/// Why `var` stays in the environment of a container running `image`, and how to change that.
fn unknown_reader(keeps: &str, var: &str, image: &str) -> String {
    let image = if image.is_empty() { "(none)" } else { image };
    format!(
        "{keeps}: no reader of it from a file is known for the image {image}; the application would have to read the secret from a file, through a variable such as {var}_FILE. If it does, add the image, the variable and the suffix (or file-variable) under secret-readers in .kubeharden.yaml, or set the option convert-all of secrets-as-files"
    )
}

/// The note saying where the key `r` now is (`file`, named by the variable `name` unless
/// `file_env` is off), and who reads it.
fn reader_note<'r>(
    r: &'r SecretRef,
    name: &str,
    file: &str,
    file_env: bool,
) -> Option<(String, &'r str)> {
    let Reads::Key { var, reader, .. } = &r.reads else {
        return None;
    };
    let now = if file_env {
        format!("the file {file}, named by {name}")
    } else {
        format!("only the file {file} (option file-env off)")
    };
    let message = format!(
        "env var {var} from Secret {} is now {now}; reader: {reader}",
        r.secret
    );
    Some((message, reader))
}

/// The variable names expanded as `$(NAME)` in `value`; `$$(NAME)` is an escape, not one, but
/// `$$$(NAME)` is an escaped `$` followed by an expansion.
fn expansions(value: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find("$(") {
        let dollars_before = rest[..at].chars().rev().take_while(|&c| c == '$').count();
        let escaped = dollars_before % 2 == 1;
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                if !escaped {
                    names.push(&after[..end]);
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    names
}

/// A Secret that a container already mounts whole (no subPath).
struct SecretMount {
    secret: String,
    /// The mount path, without a final `/`.
    dir: String,
    /// The volume's `items` as (key, path), when it lists them.
    items: Option<Vec<(String, String)>>,
}

impl SecretMount {
    /// The file holding `key`, when the mount has it.
    fn file(&self, key: &str) -> Option<String> {
        match &self.items {
            None => Some(format!("{}/{key}", self.dir)),
            Some(items) => items
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, path)| format!("{}/{path}", self.dir)),
        }
    }
}

/// The Secrets `container` already mounts whole (no subPath).
fn secret_mounts(
    p: &Planner<'_, '_>,
    volumes_path: &[Step],
    container: &Container,
) -> Vec<SecretMount> {
    let volumes = p
        .read(volumes_path)
        .and_then(Node::items)
        .unwrap_or_default();
    let mounts = p
        .read_at(&container.path, "volumeMounts")
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
        out.push(SecretMount {
            secret: secret_name.to_owned(),
            dir: dir.trim_end_matches('/').to_owned(),
            items,
        });
    }
    out
}

/// A `secret` volume to add.
struct SecretVolume<'v> {
    name: &'v str,
    secret: &'v str,
    /// The keys it projects, or `None` for the whole Secret.
    items: Option<&'v [&'v str]>,
    optional: bool,
}

/// Adds `volume`, or the keys it lacks when an earlier container of this run added it;
/// whether every edit was made.
fn add_secret_volume(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    here: &Target<'_>,
    volumes_path: &[Step],
    volume: &SecretVolume<'_>,
) -> bool {
    let item = |key: &str| mapping(vec![("key", text(key)), ("path", text(key))]);
    let existing = p
        .read(volumes_path)
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .position(|v| v.get("name").and_then(Node::as_str) == Some(volume.name));
    match existing {
        Some(index) => {
            let mut items_path = volumes_path.to_vec();
            items_path.push(Step::Index(index));
            items_path.extend(join(&[], "secret.items"));
            let have = names(p.read(&items_path), "key");
            for key in volume
                .items
                .unwrap_or_default()
                .iter()
                .filter(|k| !have.iter().any(|h| h == *k))
            {
                let node = item(key);
                let shown = yaml::flow_text(&node).unwrap_or_default();
                if !p.append(transform, here, &items_path, node, &shown) {
                    return false;
                }
            }
            true
        }
        None => {
            let mut source = vec![("secretName", text(volume.secret))];
            if let Some(keys) = volume.items {
                let items = Node::new(NodeKind::Sequence {
                    style: CollectionStyle::Block,
                    items: keys.iter().map(|k| item(k)).collect(),
                });
                source.push(("items", items));
            }
            if volume.optional {
                source.push(("optional", Node::new_scalar("true", false)));
            }
            let node = mapping(vec![
                ("name", text(volume.name)),
                ("secret", mapping(source)),
            ]);
            let shown = yaml::flow_text(&node).unwrap_or_default();
            p.append(transform, here, volumes_path, node, &shown)
        }
    }
}
