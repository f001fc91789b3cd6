//! Role-based access control objects: Roles and ClusterRoles (rules of verbs on resources),
//! and the RoleBindings and ClusterRoleBindings that grant them to subjects.

use super::{Resource, resources};
use crate::yaml::{self, Node, Text};

/// The API group of the RBAC kinds.
const GROUP: &str = "rbac.authorization.k8s.io/";

/// The kinds that hold rules.
pub const ROLE_KINDS: [&str; 2] = ["Role", "ClusterRole"];

/// The kinds that grant a role to subjects.
pub const BINDING_KINDS: [&str; 2] = ["RoleBinding", "ClusterRoleBinding"];

/// The Roles, ClusterRoles, RoleBindings and ClusterRoleBindings of a document.
pub fn objects(root: &Node<'_>) -> Vec<Resource> {
    resources(root)
        .into_iter()
        .filter(|r| {
            r.api_version.starts_with(GROUP)
                && (ROLE_KINDS.contains(&r.kind.as_str())
                    || BINDING_KINDS.contains(&r.kind.as_str()))
        })
        .collect()
}

/// Who a binding grants its role to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    pub name: String,
    /// A service account's namespace, when given.
    pub namespace: Option<String>,
}

impl Subject {
    /// `Group system:authenticated`, `ServiceAccount shop/default`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The binding object.
    pub resource: Resource,
    /// `roleRef.kind`: `Role` or `ClusterRole`.
    pub role_kind: String,
    /// `roleRef.name`.
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

impl Binding {
    /// The binding at `resource` in `root`, when it names a role.
    pub fn read(root: &Node<'_>, resource: &Resource) -> Option<Binding> {
        let object = crate::yaml::lookup(root, &resource.path)?;
        let role = object.get("roleRef")?;
        let field =
            |node: &Node<'_>, key: &str| node.get(key).and_then(Node::as_str).map(str::to_owned);
        let subjects = object
            .get("subjects")
            .and_then(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                Some(Subject {
                    kind: field(s, "kind")?,
                    name: field(s, "name")?,
                    namespace: field(s, "namespace"),
                })
            })
            .collect();
        Some(Binding {
            resource: resource.clone(),
            role_kind: field(role, "kind")?,
            role_name: field(role, "name")?,
            subjects,
        })
    }

    /// Whether this binding grants `role`: its `roleRef` names it, and a Role is bound in its
    /// own namespace (an object without a namespace may be applied in any).
    pub fn grants(&self, role: &Resource) -> bool {
        let same_namespace = match (&self.resource.namespace, &role.namespace) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.role_kind == role.kind
            && role.name.as_deref() == Some(self.role_name.as_str())
            && (role.kind == "ClusterRole" || same_namespace)
    }

    /// `RoleBinding/x to Group system:authenticated, User alice`.
    pub fn label(&self) -> String {
        let subjects: Vec<String> = self.subjects.iter().map(Subject::label).collect();
        match subjects.is_empty() {
            true => self.resource.label(),
            false => format!("{} to {}", self.resource.label(), subjects.join(", ")),
        }
    }
}

/// Every binding of the documents `roots`.
pub fn bindings<'n, 'a: 'n>(roots: impl IntoIterator<Item = &'n Node<'a>>) -> Vec<Binding> {
    roots
        .into_iter()
        .flat_map(|root| {
            objects(root)
                .into_iter()
                .filter(|r| BINDING_KINDS.contains(&r.kind.as_str()))
                .filter_map(|r| Binding::read(root, &r))
        })
        .collect()
}

/// A binding read from a file of the run, so that the roles of the other files can name it.
#[derive(Debug, Clone)]
pub struct FileBinding {
    /// The file, as the run names it.
    pub file: String,
    pub binding: Binding,
}

/// The bindings of the YAML stream `source`. Only its documents that mention `RoleBinding` are
/// parsed, each alone, and one that does not parse holds none here: fixing it reports the error.
pub fn bindings_in(source: &str) -> Vec<Binding> {
    if !may_hold_bindings(source.as_bytes()) {
        return Vec::new();
    }
    let binding = memchr::memmem::Finder::new("RoleBinding");
    yaml::document_texts(source)
        .filter(|document| binding.find(document.as_bytes()).is_some())
        .flat_map(|document| {
            yaml::parse(&Text::new(document), false)
                .map(|stream| bindings(&stream.documents))
                .unwrap_or_default()
        })
        .collect()
}

/// Whether `source` may hold a binding: whether it mentions `RoleBinding`, which both binding
/// kinds' names hold. Bytes, so that a file that does not is passed over before its UTF-8 is
/// checked.
pub fn may_hold_bindings(source: &[u8]) -> bool {
    memchr::memmem::find(source, b"RoleBinding").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_in_reads_each_binding_document_alone() {
        let source = "\
kind: ConfigMap
data:
  broken: [unclosed
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: shop}
roleRef: {kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: app}]
--- # a ConfigMap mentioning RoleBinding in a block scalar
kind: ConfigMap
data:
  notes: |
    kind: RoleBinding
    ---not a marker
";
        let found = bindings_in(source);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].label(),
            "RoleBinding/readers to ServiceAccount app"
        );
        assert_eq!(yaml::document_texts(source).count(), 3);
    }
}
