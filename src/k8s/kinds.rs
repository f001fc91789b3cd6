//! The kinds whose objects hold a pod spec: where it is, what their update strategy is called,
//! and which pod fields their API refuses. The built-in kinds are a declared table; others are
//! declared by users (`kinds:` in `.kubeharden.yaml`).

use serde::Deserialize;

use super::{Resource, glob};
use crate::yaml::Step;

/// How a kind rolls out a new pod template, for `rolling-update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    /// `spec.strategy.type` is `Recreate` or the rolling type named here, whose parameters
    /// (`maxUnavailable`, `maxSurge`) sit under the key named here: a Deployment's
    /// `RollingUpdate`/`rollingUpdate`, an OpenShift DeploymentConfig's `Rolling`/`rollingParams`.
    Strategy {
        /// The value of `type` that replaces pods a few at a time.
        rolling: &'static str,
        /// The key of its parameters.
        params: &'static str,
    },
    /// `spec.updateStrategy.type` is `RollingUpdate` or `OnDelete`: a StatefulSet, a DaemonSet
    /// and OpenKruise's Advanced StatefulSet and Advanced DaemonSet.
    UpdateStrategy,
    /// Nothing `rolling-update` would change: the kind has no update strategy (a Job, a
    /// Knative Service), has its own kind of progressive rollout (an Argo Rollout's canary or
    /// blue-green), or replaces pods a few at a time whatever its strategy says (an OpenKruise
    /// CloneSet, whose `ReCreate` and in-place updates all respect `maxUnavailable`).
    None,
}

/// A pod spec field that a kind's API treats otherwise than a Pod's.
#[derive(Debug, PartialEq, Eq)]
pub struct Restriction {
    /// Dotted path from the pod spec, `*` standing for any key or list index; it covers the
    /// fields under it too.
    pub field: &'static str,
    /// Whether an edit there is held back (the API refuses it); otherwise it is made, with
    /// `reason` as a note.
    pub hold_back: bool,
    /// Why, for the report.
    pub reason: &'static str,
}

impl Restriction {
    /// Whether this restriction covers `path`, taken from the pod spec.
    pub fn covers(&self, path: &[Step]) -> bool {
        let pattern: Vec<&str> = self.field.split('.').collect();
        pattern.len() <= path.len()
            && pattern.iter().zip(path).all(|(want, step)| match step {
                Step::Key(key) => *want == "*" || want == key,
                Step::Index(_) => *want == "*",
            })
    }
}

/// A built-in kind: objects of these kinds in this API group hold a pod spec.
struct BuiltIn {
    /// The API groups (`""` for the core group).
    groups: &'static [&'static str],
    /// The kinds.
    kinds: &'static [&'static str],
    /// The path from the object to its pod spec.
    pod_spec: &'static [&'static str],
    /// What its update strategy is called.
    rollout: Rollout,
    /// The pod fields its API refuses or accepts only under conditions.
    restrictions: &'static [Restriction],
}

const TEMPLATE_SPEC: &[&str] = &["spec", "template", "spec"];

/// Knative Serving validates the pod spec of a Service or Configuration against a subset of
/// a Pod's fields, widened by feature flags (`config-features` in `knative-serving`; see
/// knative.dev/docs/serving/feature-flags): what kubeharden would add outside it is refused.
const KNATIVE: &[Restriction] = &[
    Restriction {
        field: "securityContext",
        hold_back: true,
        reason: "Knative rejects a pod-level securityContext unless its feature flag kubernetes.podspec-securitycontext is enabled (it is off by default): set the field in each container's securityContext instead",
    },
    Restriction {
        field: "automountServiceAccountToken",
        hold_back: true,
        reason: "Knative rejects automountServiceAccountToken in a pod spec",
    },
    Restriction {
        field: "*.*.securityContext.privileged",
        hold_back: true,
        reason: "Knative rejects privileged in a container's securityContext, so its containers are never privileged",
    },
    Restriction {
        field: "*.*.securityContext.capabilities.add",
        hold_back: true,
        reason: "Knative rejects added capabilities unless its feature flag kubernetes.containerspec-addcapabilities is enabled (it is off by default); without the capability, what needs it fails once the container drops ALL: enable the flag, or run the command as the files' owner",
    },
    Restriction {
        field: "volumes.*.emptyDir",
        hold_back: false,
        reason: "Knative accepts emptyDir volumes only where its feature flag kubernetes.podspec-volumes-emptydir is enabled (the default in recent releases; older ones reject the service): check the cluster's config-features",
    },
];

/// The kinds kubeharden knows, core and custom.
const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        groups: &[""],
        kinds: &["Pod"],
        pod_spec: &["spec"],
        rollout: Rollout::None,
        restrictions: &[],
    },
    BuiltIn {
        groups: &[""],
        kinds: &["PodTemplate"],
        pod_spec: &["template", "spec"],
        rollout: Rollout::None,
        restrictions: &[],
    },
    BuiltIn {
        groups: &[""],
        kinds: &["ReplicationController"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::None,
        restrictions: &[],
    },
    BuiltIn {
        groups: &["apps", "extensions"],
        kinds: &["Deployment"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::Strategy {
            rolling: "RollingUpdate",
            params: "rollingUpdate",
        },
        restrictions: &[],
    },
    BuiltIn {
        groups: &["apps", "extensions"],
        kinds: &["StatefulSet", "DaemonSet"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::UpdateStrategy,
        restrictions: &[],
    },
    BuiltIn {
        groups: &["apps", "extensions"],
        kinds: &["ReplicaSet"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::None,
        restrictions: &[],
    },
    BuiltIn {
        groups: &["batch"],
        kinds: &["Job"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::None,
        restrictions: &[],
    },
    BuiltIn {
        groups: &["batch"],
        kinds: &["CronJob"],
        pod_spec: &["spec", "jobTemplate", "spec", "template", "spec"],
        rollout: Rollout::None,
        restrictions: &[],
    },
    // OpenShift: `Rolling` (the default) or `Recreate`, parameters under `rollingParams`.
    BuiltIn {
        groups: &["apps.openshift.io"],
        kinds: &["DeploymentConfig"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::Strategy {
            rolling: "Rolling",
            params: "rollingParams",
        },
        restrictions: &[],
    },
    // Argo Rollouts: a canary or blue-green strategy of its own. A Rollout that points at a
    // Deployment (`workloadRef`) has no template; the Deployment is hardened where it lives.
    BuiltIn {
        groups: &["argoproj.io"],
        kinds: &["Rollout"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::None,
        restrictions: &[],
    },
    BuiltIn {
        groups: &["serving.knative.dev"],
        kinds: &["Service", "Configuration"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::None,
        restrictions: KNATIVE,
    },
    // KEDA: a Job per scaling event, from this template.
    BuiltIn {
        groups: &["keda.sh"],
        kinds: &["ScaledJob"],
        pod_spec: &["spec", "jobTargetRef", "template", "spec"],
        rollout: Rollout::None,
        restrictions: &[],
    },
    // OpenKruise: a CloneSet's update types all replace pods within maxUnavailable.
    BuiltIn {
        groups: &["apps.kruise.io"],
        kinds: &["CloneSet"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::None,
        restrictions: &[],
    },
    // OpenKruise's Advanced StatefulSet and Advanced DaemonSet: `RollingUpdate` or `OnDelete`
    // as in `apps`.
    BuiltIn {
        groups: &["apps.kruise.io"],
        kinds: &["StatefulSet", "DaemonSet"],
        pod_spec: TEMPLATE_SPEC,
        rollout: Rollout::UpdateStrategy,
        restrictions: &[],
    },
];

/// A kind declared in `.kubeharden.yaml` (`kinds:`): its objects hold a pod spec at `pod-spec`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeclaredKind {
    /// A pattern of the apiVersion (`*` for any run of characters): `example.com/*`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// The kind, exactly.
    pub kind: String,
    /// The dotted path from the object to its pod spec: `spec.template.spec`.
    pub pod_spec: String,
    /// Where it was declared (`FILE:LINE:COL`), for messages.
    #[serde(skip)]
    pub declared_at: String,
}

impl DeclaredKind {
    /// What is wrong with the declaration, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.api_version.is_empty() || self.kind.is_empty() {
            return Err("a kind needs an apiVersion pattern and a kind".to_owned());
        }
        if self.pod_spec.split('.').any(str::is_empty) {
            return Err(format!(
                "pod-spec `{}` is not a dotted path such as spec.template.spec",
                self.pod_spec
            ));
        }
        Ok(())
    }

    /// The declaration, as messages name it.
    pub fn label(&self) -> String {
        let at = match self.declared_at.is_empty() {
            true => String::new(),
            false => format!(" at {}", self.declared_at),
        };
        format!(
            "the kinds: declaration{at} (apiVersion {}, kind {}, pod-spec {})",
            self.api_version, self.kind, self.pod_spec
        )
    }
}

/// Where a resource's pod spec is, and what its kind says of it.
pub(super) struct Location<'d> {
    /// The path from the object to its pod spec.
    pub steps: Vec<Step>,
    /// What its update strategy is called.
    pub rollout: Rollout,
    /// The pod fields its API refuses or accepts only under conditions.
    pub restrictions: &'static [Restriction],
    /// The user's declaration that placed it, if one did.
    pub declaration: Option<&'d DeclaredKind>,
}

/// Where the pod spec of `resource` is: by the first of `declared` whose apiVersion pattern and
/// kind match (a user's declaration wins over the table), else by the built-in table, matched
/// on API group and kind (an `apps/v1` StatefulSet is not OpenKruise's).
/// Whether `kind` is the kind of a workload, built in or `declared`, in some API group.
pub(super) fn is_workload_kind(kind: &str, declared: &[DeclaredKind]) -> bool {
    declared.iter().any(|d| d.kind == kind) || BUILT_IN.iter().any(|b| b.kinds.contains(&kind))
}

pub(super) fn locate<'d>(
    resource: &Resource,
    declared: &'d [DeclaredKind],
) -> Option<Location<'d>> {
    if let Some(declaration) = declared
        .iter()
        .find(|d| d.kind == resource.kind && glob(&d.api_version, &resource.api_version))
    {
        let steps = declaration.pod_spec.split('.');
        return Some(Location {
            steps: steps.map(|k| Step::Key(k.to_owned().into())).collect(),
            rollout: Rollout::None,
            restrictions: &[],
            declaration: Some(declaration),
        });
    }
    let group = resource.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    BUILT_IN
        .iter()
        .find(|b| b.groups.contains(&group) && b.kinds.contains(&resource.kind.as_str()))
        .map(|b| Location {
            steps: b.pod_spec.iter().map(|k| Step::Key((*k).into())).collect(),
            rollout: b.rollout,
            restrictions: b.restrictions,
            declaration: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(api_version: &str, kind: &str) -> Resource {
        Resource {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: None,
            namespace: None,
            path: Vec::new(),
        }
    }

    #[test]
    fn kinds_match_on_group_and_kind() {
        let kruise = locate(&resource("apps.kruise.io/v1beta1", "StatefulSet"), &[]).unwrap();
        assert_eq!(kruise.rollout, Rollout::UpdateStrategy);
        let knative = locate(&resource("serving.knative.dev/v1", "Service"), &[]).unwrap();
        assert_eq!(knative.restrictions, KNATIVE);
        assert!(locate(&resource("v1", "Service"), &[]).is_none());
        assert!(locate(&resource("apps.kruise.io/v1alpha1", "Deployment"), &[]).is_none());
    }

    #[test]
    fn a_restriction_covers_the_fields_under_it() {
        let add = &KNATIVE[3];
        let path = |keys: &[&str]| -> Vec<Step> {
            keys.iter()
                .map(|k| match k.parse() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Key((*k).to_owned().into()),
                })
                .collect()
        };
        assert!(add.covers(&path(&[
            "containers",
            "0",
            "securityContext",
            "capabilities",
            "add"
        ])));
        assert!(!add.covers(&path(&[
            "containers",
            "0",
            "securityContext",
            "capabilities",
            "drop"
        ])));
        assert!(KNATIVE[0].covers(&path(&["securityContext", "seccompProfile", "type"])));
    }
}
