//! The transforms, read from their declarations in `transforms/`, and the planner that turns
//! them into edits of a document's intended tree.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::k8s::{self, Resource};
use crate::yaml::{self, Guard, Node, NodeKind, Step, Text};

/// The declarations, compiled into the binary so that it needs no files at run time.
const DECLARATIONS: [(&str, &str); 3] = [
    (
        "no-privileged",
        include_str!("../../transforms/no-privileged.yaml"),
    ),
    (
        "no-host-namespaces",
        include_str!("../../transforms/no-host-namespaces.yaml"),
    ),
    (
        "default-proc-mount",
        include_str!("../../transforms/default-proc-mount.yaml"),
    ),
];

/// One transform as declared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Transform {
    /// Stable identifier, used on the command line and in suppressions.
    pub id: String,
    /// One line saying what the fixed manifest guarantees.
    pub title: String,
    /// The profile that turns it on.
    pub profile: String,
    /// Whether the fix can change how the workload behaves.
    pub safety: Safety,
    /// The practice it implements and why it matters.
    pub why: String,
    /// Where the control is defined.
    pub references: References,
    /// Whether the rules apply to each pod spec or each container.
    pub scope: Scope,
    /// The field edits.
    pub rules: Vec<Rule>,
    /// A manifest before and after the transform alone.
    pub example: Example,
}

/// Whether a fix can be merged without looking at the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Safety {
    /// The workload keeps working as before.
    Safe,
    /// The application may need a change; review before merging.
    NeedsReview,
}

/// Where a control is defined.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct References {
    /// The Pod Security Standards control.
    pub pod_security_standards: String,
    /// The matching Checkov check ids.
    #[serde(default)]
    pub checkov: Vec<String>,
}

/// What a rule's path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Each pod spec.
    Pod,
    /// Each container, init container and ephemeral container.
    Container,
}

/// Set the field at `path` to `set`: always when it differs, or only when it equals `only_if`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    /// Dotted path from the scope.
    pub path: String,
    /// The value written.
    pub set: Literal,
    /// Change the field only when it has this value; absent fields are then left alone.
    #[serde(default)]
    pub only_if: Option<Literal>,
}

/// A scalar value in a declaration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    /// `true` or `false`.
    Bool(bool),
    /// Any string.
    Text(String),
}

impl Literal {
    fn matches(&self, node: &Node<'_>) -> bool {
        match self {
            Literal::Bool(b) => node.is_bool(*b),
            Literal::Text(s) => node.as_str() == Some(s.as_str()),
        }
    }

    fn to_node(&self) -> Node<'static> {
        match self {
            Literal::Bool(b) => Node::new_scalar(b.to_string(), false),
            Literal::Text(s) => Node::new_scalar(s.clone(), true),
        }
    }

    /// The value as a manifest would show it.
    pub fn display(&self) -> String {
        match self {
            Literal::Bool(b) => b.to_string(),
            Literal::Text(s) => s.clone(),
        }
    }
}

/// A manifest before and after a transform.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// The input.
    pub before: String,
    /// What the transform alone makes of it.
    pub after: String,
}

/// Every declared transform, in the order they are applied.
pub fn all() -> &'static [Transform] {
    static ALL: OnceLock<Vec<Transform>> = OnceLock::new();
    ALL.get_or_init(|| {
        DECLARATIONS
            .iter()
            .map(|(id, text)| {
                let transform: Transform = serde_saphyr::from_str(text).unwrap_or_else(|e| {
                    panic!("transforms/{id}.yaml is not a valid declaration: {e}")
                });
                assert_eq!(
                    &transform.id, id,
                    "transforms/{id}.yaml declares another id"
                );
                transform
            })
            .collect()
    })
}

/// One field changed by a transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The document, 0-based.
    pub document: usize,
    /// The object changed.
    pub resource: Resource,
    /// The container, for container-scoped transforms.
    pub container: Option<String>,
    /// The transform.
    pub transform: &'static str,
    /// The field, from the document root.
    pub path: String,
    /// The value before, when the field existed.
    pub old: Option<String>,
    /// The value written.
    pub new: String,
    /// 1-based line of the field, or of the closest existing parent.
    pub line: usize,
}

/// A change that was wanted but not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line.
    pub line: usize,
    /// The transform.
    pub transform: &'static str,
    /// What was not done and why.
    pub message: String,
}

/// The edits planned for one document.
pub struct Plan<'a> {
    /// The intended tree, when any edit was made.
    pub intended: Option<Node<'a>>,
    /// What changed.
    pub changes: Vec<Change>,
    /// What could not be changed.
    pub warnings: Vec<Warning>,
}

/// Plans `transforms` over the document `root` (number `document` of the stream).
pub fn plan<'a>(
    transforms: &[&'static Transform],
    text: &Text<'_>,
    stream: &yaml::Stream<'a>,
    document: usize,
) -> Plan<'a> {
    let root = &stream.documents[document];
    let mut intended: Option<Node<'a>> = None;
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    let pods = k8s::pod_specs(root);
    if pods.is_empty() {
        // Not a workload: skip the guard's scan for aliases, which walks the whole document.
        return Plan {
            intended,
            changes,
            warnings,
        };
    }
    let guard = Guard::new(root, &stream.anchor_names);
    for pod in pods {
        let containers = k8s::containers(root, &pod);
        for transform in transforms {
            let scopes: Vec<(Vec<Step>, Option<String>)> = match transform.scope {
                Scope::Pod => vec![(pod.path.clone(), None)],
                Scope::Container => containers
                    .iter()
                    .map(|c| (c.path.clone(), c.name.clone()))
                    .collect(),
            };
            for (base, container) in scopes {
                for rule in &transform.rules {
                    let mut path = base.clone();
                    path.extend(rule.path.split('.').map(|k| Step::Key(k.to_owned())));
                    let current = yaml::lookup(root, &path);
                    // An alias is judged by the value it stands for; the guard then refuses
                    // the edit with a warning instead of skipping it silently.
                    let judged = current.map(|node| match node.kind {
                        NodeKind::Alias(id) => anchored(root, id).unwrap_or(node),
                        _ => node,
                    });
                    let wanted = match (&rule.only_if, judged) {
                        (Some(only_if), Some(node)) => only_if.matches(node),
                        (Some(_), None) => false,
                        (None, Some(node)) => !rule.set.matches(node),
                        (None, None) => true,
                    };
                    if !wanted {
                        continue;
                    }
                    let line = line_of_closest(text, root, &path);
                    let target = intended.get_or_insert_with(|| root.clone());
                    match yaml::set(target, &path, rule.set.to_node(), &guard) {
                        Ok(()) => changes.push(Change {
                            document,
                            resource: pod.resource.clone(),
                            container: container.clone(),
                            transform: &transform.id,
                            path: yaml::path_to_string(&path),
                            old: current.and_then(|n| n.as_str().map(str::to_owned)),
                            new: rule.set.display(),
                            line,
                        }),
                        Err(refusal) => warnings.push(Warning {
                            line,
                            transform: &transform.id,
                            message: format!(
                                "{}: not setting {} to {}: {refusal}",
                                pod.resource.label(),
                                yaml::path_to_string(&path),
                                rule.set.display()
                            ),
                        }),
                    }
                }
            }
        }
    }
    Plan {
        intended,
        changes,
        warnings,
    }
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

/// The line of the node at `path`, or of its closest existing ancestor.
fn line_of_closest(text: &Text<'_>, root: &Node<'_>, path: &[Step]) -> usize {
    (0..=path.len())
        .rev()
        .find_map(|n| {
            yaml::lookup(root, &path[..n])
                .and_then(|node| node.span.as_ref())
                .map(|s| s.start)
        })
        .map_or(1, |offset| text.position(offset).line)
}
