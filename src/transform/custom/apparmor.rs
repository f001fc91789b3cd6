//! The `apparmor-runtime-default` step: pods that set no AppArmor profile get the runtime's
//! default one, and the deprecated annotations are reported with the field they should become.

use crate::yaml::{Node, Step};

use super::super::planner::{Planner, Target, join};
use super::super::{FindingKind, Literal, Transform};

/// The prefix of the deprecated annotation that set a container's AppArmor profile before the
/// field `securityContext.appArmorProfile` (GA in Kubernetes 1.30); the container's name follows.
const ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Sets `securityContext.appArmorProfile.type: RuntimeDefault` on a pod where nothing sets a
/// profile. A pod whose template carries the deprecated annotations is left alone, each
/// annotation reported with its field; so is a pod one of whose containers sets the field.
pub(super) fn apparmor_runtime_default(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let pod = &target.pod.path;
    // The pod's metadata sits beside its spec: `spec.template.metadata`, a Pod's `metadata`.
    let mut annotations = pod[..pod.len().saturating_sub(1)].to_vec();
    annotations.extend([
        Step::Key("metadata".into()),
        Step::Key("annotations".into()),
    ]);
    let deprecated: Vec<(String, String)> = p
        .read(&annotations)
        .and_then(Node::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str()?;
            key.starts_with(ANNOTATION)
                .then(|| (key.to_owned(), v.as_str().unwrap_or_default().to_owned()))
        })
        .collect();
    for (key, value) in &deprecated {
        let container = &key[ANNOTATION.len()..];
        let message = match profile_field(value) {
            Some(field) => format!(
                "keeps the AppArmor profile of the deprecated annotation {key}: {value}; write it as the field securityContext.appArmorProfile: {field} of container {container} (GA since Kubernetes 1.30) and remove the annotation"
            ),
            None => format!(
                "keeps the deprecated annotation {key}: {value}, which names no AppArmor profile (runtime/default, localhost/NAME or unconfined); write the field securityContext.appArmorProfile of container {container} instead (GA since Kubernetes 1.30)"
            ),
        };
        let mut path = annotations.clone();
        path.push(Step::Key(key.clone().into()));
        p.report(transform, target, &path, FindingKind::Warning, &message);
    }
    if !deprecated.is_empty() {
        return;
    }
    let field = join(pod, "securityContext.appArmorProfile.type");
    if p.read(&field).is_some_and(|n| !n.is_null()) {
        return;
    }
    let own = target.containers.iter().find(|c| {
        p.read_at(&c.path, "securityContext.appArmorProfile")
            .is_some_and(|n| !n.is_null())
    });
    if let Some(container) = own {
        let name = container.name.as_deref().unwrap_or("(unnamed)");
        let message = format!(
            "container {name} sets its own AppArmor profile: the pod's default is left to its owner"
        );
        p.report(transform, target, &field, FindingKind::Skipped, &message);
        return;
    }
    p.set(
        transform,
        target,
        &field,
        &Literal::Text("RuntimeDefault".to_owned()),
    );
}

/// The `appArmorProfile` field that says what the annotation value `value` says, if it is one
/// the annotation accepts.
fn profile_field(value: &str) -> Option<String> {
    match value {
        "runtime/default" => Some("{type: RuntimeDefault}".to_owned()),
        "unconfined" => Some("{type: Unconfined}".to_owned()),
        _ => value
            .strip_prefix("localhost/")
            .map(|profile| format!("{{type: Localhost, localhostProfile: {profile}}}")),
    }
}
