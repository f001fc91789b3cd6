//! Evidence that a workload needs the host access it asks for explicitly, by the tests declared
//! in `transforms/evidence.yaml`: rules marked `keep-with-evidence` keep such a value. Also the
//! signs, declared there too, that a pod calls the Kubernetes API.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::k8s::image::{ImageName, ImagePattern};
use crate::k8s::{Container, glob};
use crate::yaml::Node;

use super::commands;
use super::planner::{Planner, Target, names};

/// The tests, as declared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Tests {
    /// Workload kinds that run one pod per node.
    kinds: Vec<String>,
    /// hostPath paths of the host's system: the path or anything below it.
    host_paths: Vec<String>,
    /// Patterns of resource names (`*` for any run of characters).
    resources: Vec<String>,
    /// Words, or runs of words, of a command that acts on the host.
    commands: Vec<String>,
    /// Patterns of node agents' repositories.
    images: Vec<ImagePattern>,
    /// Signs that a pod calls the Kubernetes API.
    api_clients: ApiClients,
}

/// Signs that a pod calls the Kubernetes API with its service account's token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiClients {
    /// Patterns of the repositories of operators, controllers and other API clients.
    images: Vec<ImagePattern>,
    /// Words, or runs of words, of a command that calls the API.
    commands: Vec<String>,
}

fn tests() -> &'static Tests {
    static TESTS: OnceLock<Tests> = OnceLock::new();
    TESTS.get_or_init(|| {
        serde_saphyr::from_str(include_str!("../../transforms/evidence.yaml"))
            .unwrap_or_else(|e| panic!("transforms/evidence.yaml is not valid: {e}"))
    })
}

/// What shows that `target` needs host access, one description each (`DaemonSet`, `hostPath
/// /dev`, `resource nvidia.com/gpu`, `command sysctl`, `image calico/node:v3.28`): of the
/// container for a container's field, of the whole pod otherwise. Empty when nothing does.
pub(super) fn of_need(p: &Planner<'_, '_>, target: &Target<'_>) -> Vec<String> {
    let tests = tests();
    let mut found = Vec::new();
    let kind = &target.pod.resource.kind;
    if tests.kinds.contains(kind) {
        found.push(kind.clone());
    }
    let containers: Vec<&Container> = match target.container {
        Some(container) => vec![container],
        None => target.containers.iter().collect(),
    };
    let mounted: Vec<String> = containers
        .iter()
        .flat_map(|c| names(p.read_at(&c.path, "volumeMounts"), "name"))
        .collect();
    for volume in items(p, &target.pod.path, "volumes") {
        let name = volume.get("name").and_then(Node::as_str).unwrap_or("");
        let path = volume
            .get("hostPath")
            .and_then(|h| h.get("path"))
            .and_then(Node::as_str);
        if let Some(path) = path
            && (target.container.is_none() || mounted.iter().any(|m| m == name))
            && tests.host_paths.iter().any(|prefix| under(path, prefix))
        {
            found.push(format!("hostPath {path}"));
        }
    }
    for container in containers {
        for field in ["resources.requests", "resources.limits"] {
            let requested = p
                .read_at(&container.path, field)
                .and_then(Node::entries)
                .unwrap_or_default()
                .iter()
                .filter_map(|(k, _)| k.as_str());
            for name in requested {
                if tests.resources.iter().any(|r| glob(r, name)) {
                    found.push(format!("resource {name}"));
                }
            }
        }
        found.extend(signs_in_container(
            p,
            container,
            &tests.commands,
            &tests.images,
        ));
    }
    distinct(found)
}

/// What shows that the pod of `target` calls the Kubernetes API with its service account's
/// token, one description each (`projected serviceAccountToken volume token`, `image
/// bitnami/kubectl:1.31`, `command kubectl`). Empty when nothing does.
pub(super) fn of_api_calls(p: &Planner<'_, '_>, target: &Target<'_>) -> Vec<String> {
    let clients = &tests().api_clients;
    let mut found = Vec::new();
    for volume in items(p, &target.pod.path, "volumes") {
        let sources = volume
            .get("projected")
            .and_then(|v| v.get("sources"))
            .and_then(Node::items)
            .unwrap_or_default();
        if sources
            .iter()
            .any(|s| s.get("serviceAccountToken").is_some())
        {
            let name = volume.get("name").and_then(Node::as_str).unwrap_or("");
            found.push(format!("projected serviceAccountToken volume {name}"));
        }
    }
    for container in target.containers {
        found.extend(signs_in_container(
            p,
            container,
            &clients.commands,
            &clients.images,
        ));
    }
    distinct(found)
}

/// The commands of `commands` that `container` runs and its image when one of `images` names
/// it, as descriptions (`command sysctl`, `image calico/node:v3.28`).
fn signs_in_container(
    p: &Planner<'_, '_>,
    container: &Container,
    commands: &[String],
    images: &[ImagePattern],
) -> Vec<String> {
    let mut found = Vec::new();
    let lines = command_lines(p, container);
    for command in commands {
        let wanted: Vec<&str> = command.split_whitespace().collect();
        let runs = |words: &Vec<String>| words.windows(wanted.len()).any(|w| w == wanted);
        if lines.iter().any(runs) {
            found.push(format!("command {command}"));
        }
    }
    if let Some(image) = p.read_at(&container.path, "image").and_then(Node::as_str) {
        let name = ImageName::of(image);
        if images.iter().any(|pattern| name.matches(pattern)) {
            found.push(format!("image {image}"));
        }
    }
    found
}

/// `found` without repeats, in order.
fn distinct(found: Vec<String>) -> Vec<String> {
    let mut unique = Vec::new();
    for item in found {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    unique
}

/// The items of the list at the dotted path `dotted` below `base`.
fn items<'n>(p: &'n Planner<'_, '_>, base: &[crate::yaml::Step], dotted: &str) -> &'n [Node<'n>] {
    p.read_at(base, dotted)
        .and_then(Node::items)
        .unwrap_or_default()
}

/// Whether `path` is `prefix` or below it; `/` alone stands for the whole host filesystem, not
/// for every path.
fn under(path: &str, prefix: &str) -> bool {
    let path = path.trim_end_matches('/');
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.is_empty();
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The simple commands a container's command and args run (scripts, `sh -c "…"`, split too),
/// as words, each without its folder (`/sbin/sysctl` reads `sysctl`) unless it is a path
/// argument (`/host`).
fn command_lines(p: &Planner<'_, '_>, container: &Container) -> Vec<Vec<String>> {
    let mut lines = commands::simple_commands(&commands::command_strings(p, container));
    for word in lines.iter_mut().flatten() {
        if let Some((_, name)) = word.rsplit_once('/')
            && !name.is_empty()
            && words_a_program(word)
        {
            *word = name.to_owned();
        }
    }
    lines
}

/// Whether a word with a folder names a program (`/usr/sbin/sysctl`), not a path given to one
/// (`/host`, a single component).
fn words_a_program(word: &str) -> bool {
    word.trim_start_matches('/').contains('/')
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn host_paths_match_below_a_prefix_and_slash_only_itself() {
        assert!(under("/var/run/docker.sock", "/var/run"));
        assert!(under("/dev/", "/dev"));
        assert!(!under("/devices", "/dev"));
        assert!(under("/", "/"));
        assert!(!under("/data", "/"));
    }
}
