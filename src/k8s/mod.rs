//! Where pod specs live in Kubernetes objects, and the containers inside them. Anything that is
//! not one of the workload kinds of `kinds` or a declared kind (ConfigMaps, CRDs, annotations, CI
//! files) is never visited for them, but for the `default` ServiceAccount, whose token setting
//! its pods inherit; RBAC objects are read by [`rbac`].

pub mod image;
pub mod kinds;
pub mod rbac;

pub use kinds::{DeclaredKind, Restriction, Rollout};

use std::sync::Arc;

use crate::yaml::{Node, Step};

/// A Kubernetes object found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`, when set.
    pub name: Option<String>,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// The path from the document root to the object (empty, or `items[i]` in a List).
    pub path: Vec<Step>,
}

impl Resource {
    /// `Kind/name`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            self.kind,
            self.name.as_deref().unwrap_or("(unnamed)")
        )
    }
}

/// A pod spec inside a workload.
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// The object holding it, shared with every change and finding about it.
    pub resource: Arc<Resource>,
    /// The path from the document root to the pod spec.
    pub path: Vec<Step>,
    /// What the workload's update strategy is called.
    pub rollout: Rollout,
    /// The pod fields the workload's API refuses or accepts only under conditions.
    pub restrictions: &'static [Restriction],
}

impl PodSpec {
    /// The restriction of the workload's kind that covers the field at `path`, if one does.
    pub fn restriction(&self, path: &[Step]) -> Option<&'static Restriction> {
        let relative = path.strip_prefix(self.path.as_slice())?;
        self.restrictions.iter().find(|r| r.covers(relative))
    }
}

/// A container of a pod spec.
#[derive(Debug, Clone)]
pub struct Container {
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub group: &'static str,
    /// Its `name`, when set.
    pub name: Option<String>,
    /// The path from the document root to the container.
    pub path: Vec<Step>,
}

/// The lists of containers a pod spec may hold.
pub const CONTAINER_GROUPS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Every Kubernetes object in a document: the root, or each item of a list (`kind: List`, or a
/// typed list such as `DeploymentList` whose items may leave out their apiVersion and kind).
pub fn resources(root: &Node<'_>) -> Vec<Resource> {
    let mut out = Vec::new();
    collect_resources(root, Vec::new(), None, &mut out);
    out
}

fn collect_resources(
    node: &Node<'_>,
    path: Vec<Step>,
    implied: Option<(&str, &str)>,
    out: &mut Vec<Resource>,
) {
    let field = |name: &str| node.get(name).and_then(Node::as_str);
    let (Some(api_version), Some(kind)) = (
        field("apiVersion").or(implied.map(|(a, _)| a)),
        field("kind").or(implied.map(|(_, k)| k)),
    ) else {
        return;
    };
    if let Some(item_kind) = kind.strip_suffix("List") {
        if let Some(items) = node.get("items").and_then(Node::items) {
            let implied = (!item_kind.is_empty()).then_some((api_version, item_kind));
            for (i, item) in items.iter().enumerate() {
                let mut item_path = path.clone();
                item_path.push(Step::Key("items".into()));
                item_path.push(Step::Index(i));
                collect_resources(item, item_path, implied, out);
            }
        }
        return;
    }
    let metadata = node.get("metadata");
    let metadata_field = |name: &str| {
        metadata
            .and_then(|m| m.get(name))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    out.push(Resource {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: metadata_field("name"),
        namespace: metadata_field("namespace"),
        path,
    });
}

/// Whether kubeharden reads anything of an object of `kind`, in some API group: a workload
/// (built in or `declared`), an RBAC object, a ServiceAccount, or a list, whose items may be
/// any of these. Objects of the other kinds (ConfigMaps, CustomResourceDefinitions,
/// Services…) are only read to check that they parse.
pub fn is_read(kind: &str, declared: &[DeclaredKind]) -> bool {
    kind.ends_with("List")
        || kind == "ServiceAccount"
        || rbac::ROLE_KINDS.contains(&kind)
        || rbac::BINDING_KINDS.contains(&kind)
        || kinds::is_workload_kind(kind, declared)
}

/// The pod specs of every workload in a document: of the built-in kinds and of `declared`.
/// A workload whose pod spec is missing is left out (a declared kind's is an error that
/// [`misdeclared`] finds).
pub fn pod_specs(root: &Node<'_>, declared: &[DeclaredKind]) -> Vec<PodSpec> {
    resources(root)
        .into_iter()
        .filter_map(|resource| {
            let location = kinds::locate(&resource, declared)?;
            let mut path = resource.path.clone();
            path.extend(location.steps);
            crate::yaml::lookup(root, &path)?.entries()?;
            Some(PodSpec {
                resource: resource.into(),
                path,
                rollout: location.rollout,
                restrictions: location.restrictions,
            })
        })
        .collect()
}

/// The first resource of a document whose kind one of `declared` matches but whose pod-spec
/// path leads to no mapping, with that declaration: a declaration that points at nothing.
pub fn misdeclared<'d>(
    root: &Node<'_>,
    declared: &'d [DeclaredKind],
) -> Option<(Resource, &'d DeclaredKind)> {
    if declared.is_empty() {
        return None;
    }
    resources(root).into_iter().find_map(|resource| {
        let location = kinds::locate(&resource, declared)?;
        let declaration = location.declaration?;
        let mut path = resource.path.clone();
        path.extend(location.steps);
        match crate::yaml::lookup(root, &path).and_then(Node::entries) {
            Some(_) => None,
            None => Some((resource, declaration)),
        }
    })
}

/// The `ServiceAccount` objects named `default` in a document: each namespace's account for the
/// pods that name none.
pub fn default_service_accounts(root: &Node<'_>) -> Vec<Resource> {
    resources(root)
        .into_iter()
        .filter(|r| {
            r.api_version == "v1"
                && r.kind == "ServiceAccount"
                && r.name.as_deref() == Some("default")
        })
        .collect()
}

/// What a pod spec says of Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windows {
    /// A Windows pod: `os.name: windows`, or a `kubernetes.io/os: windows` node selector.
    Plain,
    /// A Windows HostProcess pod (`windowsOptions.hostProcess: true` on the pod or a container),
    /// which runs on the host by design.
    HostProcess,
}

/// Whether the pod spec at `pod` runs on Windows, and how; `None` for a Linux pod.
pub fn windows(root: &Node<'_>, pod: &PodSpec) -> Option<Windows> {
    let spec = crate::yaml::lookup(root, &pod.path)?;
    let host_process = |context: Option<&Node<'_>>| {
        context
            .and_then(|c| c.get("windowsOptions"))
            .and_then(|w| w.get("hostProcess"))
            .is_some_and(|h| h.is_bool(true))
    };
    let containers_host_process = CONTAINER_GROUPS.iter().any(|group| {
        spec.get(group)
            .and_then(Node::items)
            .unwrap_or_default()
            .iter()
            .any(|c| host_process(c.get("securityContext")))
    });
    if host_process(spec.get("securityContext")) || containers_host_process {
        return Some(Windows::HostProcess);
    }
    let os_name = spec.get("os").and_then(|o| o.get("name"));
    let selected = spec
        .get("nodeSelector")
        .and_then(|s| s.get("kubernetes.io/os"));
    [os_name, selected]
        .into_iter()
        .flatten()
        .any(|n| n.as_str() == Some("windows"))
        .then_some(Windows::Plain)
}

/// The containers, init containers and ephemeral containers of a pod spec.
pub fn containers(root: &Node<'_>, pod: &PodSpec) -> Vec<Container> {
    let mut out = Vec::new();
    for group in CONTAINER_GROUPS {
        let mut list_path = pod.path.clone();
        list_path.push(Step::Key(group.into()));
        let Some(items) = crate::yaml::lookup(root, &list_path).and_then(Node::items) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if item.entries().is_none() {
                continue;
            }
            let mut path = list_path.clone();
            path.push(Step::Index(i));
            let name = item.get("name").and_then(Node::as_str).map(str::to_owned);
            out.push(Container { group, name, path });
        }
    }
    out
}

/// Whether `text` matches `pattern`, in which `*` stands for any run of characters: the
/// patterns kubeharden's tables name images and resources by (see [`Glob`]).
pub fn glob(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

/// A `*` pattern cut at its first and its last star, so that matching it against many texts
/// does not look for them again. The text before the first `*` must begin a matching text and
/// the text after the last must end it; each run between two stars is then taken where it
/// first occurs, which finds a match whenever there is one.
#[derive(Debug, Clone, Copy)]
pub struct Glob<'p> {
    pattern: &'p str,
    /// Where its first and its last `*` stand; `None` without one.
    stars: Option<(usize, usize)>,
}

impl<'p> Glob<'p> {
    /// `pattern`, cut.
    pub fn new(pattern: &'p str) -> Self {
        let stars = pattern.find('*').zip(pattern.rfind('*'));
        Glob { pattern, stars }
    }

    /// `pattern`, cut where [`Glob::stars`] of an earlier cut of it said.
    pub fn with_stars(pattern: &'p str, stars: Option<(usize, usize)>) -> Self {
        Glob { pattern, stars }
    }

    /// Where its first and its last `*` stand, to cut the same pattern again with
    /// [`Glob::with_stars`].
    pub fn stars(&self) -> Option<(usize, usize)> {
        self.stars
    }

    /// The text a matching text ends with: after the last `*`, or the whole pattern.
    pub fn tail(&self) -> &'p str {
        self.stars
            .map_or(self.pattern, |(_, last)| &self.pattern[last + 1..])
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let Some((first, last)) = self.stars else {
            return self.pattern == text;
        };
        let (head, tail) = (&self.pattern[..first], self.tail());
        if text.len() < head.len() + tail.len() || !text.starts_with(head) || !text.ends_with(tail)
        {
            return false;
        }
        let mut inner = &text[head.len()..text.len() - tail.len()];
        let middle = self.pattern.get(first + 1..last).unwrap_or_default();
        for run in middle.split('*').filter(|run| !run.is_empty()) {
            match inner.find(run) {
                Some(at) => inner = &inner[at + run.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn a_star_matches_any_run() {
        assert!(glob("*/*", "nvidia.com/gpu"));
        assert!(!glob("*/*", "memory"));
        assert!(glob("fluentd*", "fluentd"));
        assert!(glob("*", ""));
        assert!(glob("**", "x"));
        assert!(glob("a*b*c", "abc"));
        assert!(glob("a*b*b*c", "axbybzbc"));
        assert!(!glob("a*b*b*c", "axbc"));
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("*é*", "café"));
        assert!(!glob("fluentd", "fluentd-x"));
    }
}
