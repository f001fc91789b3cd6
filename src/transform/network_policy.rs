//! `default-deny-network-policy`, the one transform whose fix is a new file: the NetworkPolicy
//! that denies traffic to every pod of a namespace that has workloads and no NetworkPolicy in
//! the input. Here: what an input holds (its workloads and NetworkPolicies, by namespace), which
//! namespaces lack a policy, and the text of the new file; the command line decides where it
//! goes.

use std::sync::Arc;

use crate::k8s::{self, DeclaredKind, Resource};
use crate::yaml::{self, Text};

use super::{Literal, Settings};

/// The transform's id.
pub const ID: &str = "default-deny-network-policy";

/// The name of the NetworkPolicy written.
pub const POLICY_NAME: &str = "default-deny";

/// The objects of one input that the step across inputs needs.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    /// The workloads, each with the 1-based line where it starts.
    pub workloads: Vec<(Resource, usize)>,
    /// The namespaces that have a NetworkPolicy (`None`: one that names no namespace).
    pub policies: Vec<Option<String>>,
}

impl Inventory {
    /// What `source` holds, its workloads of the built-in kinds and of `declared`. An input
    /// that does not parse holds nothing here: the fix reports its error.
    pub fn of(source: &str, declared: &[DeclaredKind]) -> Inventory {
        let text = Text::new(source);
        let mut inventory = Inventory::default();
        let Ok(stream) = yaml::parse(&text, false) else {
            return inventory;
        };
        for root in &stream.documents {
            for pod in k8s::pod_specs(root, declared) {
                let line = yaml::lookup(root, &pod.resource.path)
                    .and_then(|node| node.span.as_ref())
                    .map_or(1, |span| text.position(span.start).line);
                inventory
                    .workloads
                    .push((Arc::unwrap_or_clone(pod.resource), line));
            }
            inventory.policies.extend(
                k8s::resources(root)
                    .into_iter()
                    .filter(|r| {
                        r.kind == "NetworkPolicy" && r.api_version.starts_with("networking.k8s.io/")
                    })
                    .map(|r| r.namespace),
            );
        }
        inventory
    }
}

/// How the transform runs under some settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOptions {
    /// The name of the new file, written in the folder of the namespace's first workload.
    pub file_name: String,
    /// Whether the policy denies outgoing traffic too.
    pub egress: bool,
}

impl PolicyOptions {
    /// The options of the transform when `settings` run it.
    pub fn of(settings: &Settings) -> Option<PolicyOptions> {
        let transform = settings.transforms.iter().find(|t| t.id == ID)?;
        let file_name = match transform.option(settings, "file-name") {
            Some(Literal::Text(name)) => name,
            _ => format!("{ID}.yaml"),
        };
        let egress = transform.option(settings, "egress") == Some(Literal::Bool(true));
        Some(PolicyOptions { file_name, egress })
    }
}

/// The first workload of each namespace that has workloads in `inventories` and no
/// NetworkPolicy in any of them, with the index of its inventory, in input order.
pub fn namespaces_without_policy<'i>(
    inventories: &[&'i Inventory],
) -> Vec<(usize, &'i Resource, usize)> {
    let mut out: Vec<(usize, &Resource, usize)> = Vec::new();
    for (index, inventory) in inventories.iter().enumerate() {
        for (resource, line) in &inventory.workloads {
            let covered = inventories
                .iter()
                .any(|i| i.policies.contains(&resource.namespace));
            let seen = out
                .iter()
                .any(|(_, r, _)| r.namespace == resource.namespace);
            if !covered && !seen {
                out.push((index, resource, *line));
            }
        }
    }
    out
}

/// The text of a new file holding the default-deny NetworkPolicy of each of `namespaces`
/// (`None`: the namespace the workloads are applied to, named by none).
pub fn render(namespaces: &[Option<&str>], egress: bool) -> String {
    let types = if egress {
        "    - Ingress\n    - Egress\n"
    } else {
        "    - Ingress\n"
    };
    let denied = if egress {
        "all traffic to and from"
    } else {
        "all incoming traffic to"
    };
    namespaces
        .iter()
        .map(|namespace| {
            let namespace_line = namespace.map_or(String::new(), |n| {
                format!("  namespace: {}\n", yaml_string(n))
            });
            format!(
                "# Written by kubeharden ({ID}).\n# Denies {denied} the pods of this namespace until other NetworkPolicies\n# allow it: add those for the traffic the services need.\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {POLICY_NAME}\n{namespace_line}spec:\n  podSelector: {{}}\n  policyTypes:\n{types}"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// `value` as a YAML scalar that reads back as that string: plain when it is a DNS label, as
/// namespaces are, else double-quoted.
fn yaml_string(value: &str) -> String {
    let label = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    match label {
        true => value.to_owned(),
        false => format!("{value:?}"),
    }
}

/// Whether `text`, as [`render`] wrote it, holds exactly the NetworkPolicies of `namespaces`:
/// nothing is written that does not read back as intended.
pub fn verify(text: &str, namespaces: &[Option<&str>]) -> bool {
    let read = Inventory::of(text, &[]).policies;
    read.len() == namespaces.len()
        && read
            .iter()
            .zip(namespaces)
            .all(|(read, wanted)| read.as_deref() == *wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_read_back_whatever_their_spelling() {
        for namespaces in [
            vec![Some("shop"), None],
            vec![Some("Odd name: yes"), Some("123")],
        ] {
            let text = render(&namespaces, true);
            assert!(verify(&text, &namespaces), "{text}");
        }
        assert!(!verify(&render(&[Some("a")], false), &[Some("b")]));
    }

    #[test]
    fn a_namespace_with_a_policy_anywhere_in_the_input_is_covered() {
        let workloads = Inventory::of(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop}\nspec: {containers: []}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: []}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: shop}\nspec: {containers: []}\n",
            &[],
        );
        let policy = Inventory::of(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec: {podSelector: {}}\n",
            &[],
        );
        let missing = namespaces_without_policy(&[&workloads]);
        let names: Vec<Option<&str>> = missing.iter().map(|(_, r, _)| r.name.as_deref()).collect();
        assert_eq!(names, [Some("a"), Some("b")]);
        let missing = namespaces_without_policy(&[&workloads, &policy]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].1.name.as_deref(), Some("b"));
        assert_eq!(missing[0].2, 6);
    }
}
