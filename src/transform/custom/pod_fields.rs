//! `run-as-user` and `image-pull-always`: fields whose value only the team knows (the user an
//! image runs as) or that trade start-up speed for freshness, set where absent.

use crate::k8s::image::ImageReference;
use crate::yaml::Node;

use super::super::planner::{Planner, Target, join};
use super::super::{FindingKind, Literal, Transform};

/// The options of `run-as-user`, each with the pod-level field it sets and whether containers
/// may set that field too (a container's own value wins over the pod's).
const IDENTITY_FIELDS: [(&str, &str, bool); 3] = [
    ("uid", "runAsUser", true),
    ("gid", "runAsGroup", true),
    ("fs-group", "fsGroup", false),
];

/// Sets the pod's `runAsUser`, `runAsGroup` and `fsGroup` from the options `uid`, `gid` and
/// `fs-group` where the pod does not set them and not every container sets its own. Without
/// any of the options, a pod that leaves its user to the image is reported.
pub(super) fn run_as_user(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let security = join(&target.pod.path, "securityContext");
    let set = |p: &Planner<'_, '_>, base: &[crate::yaml::Step], field: &'static str| {
        p.read_at(base, field).is_some_and(|n| !n.is_null())
    };
    let missing: Vec<(&str, &str)> = IDENTITY_FIELDS
        .iter()
        .filter(|(_, field, per_container)| {
            let every_container = *per_container
                && !target.containers.is_empty()
                && target
                    .containers
                    .iter()
                    .all(|c| set(p, &join(&c.path, "securityContext"), field));
            !set(p, &security, field) && !every_container
        })
        .map(|(option, field, _)| (*option, *field))
        .collect();
    let configured: Vec<(&str, Literal)> = missing
        .iter()
        .filter_map(|(option, field)| Some((*field, transform.option(p.settings, option)?)))
        .collect();
    let any_option = IDENTITY_FIELDS
        .iter()
        .any(|(option, ..)| transform.option(p.settings, option).is_some());
    if !any_option {
        if missing.iter().any(|(_, field)| *field == "runAsUser") {
            let fields: Vec<&str> = missing.iter().map(|(_, field)| *field).collect();
            let message = format!(
                "sets no {}: its containers run as the user their images name, often root; set the options uid, gid and fs-group of run-as-user (10001 is a common choice) to have them set",
                fields.join(", ")
            );
            p.report(transform, target, &security, FindingKind::Warning, &message);
        }
        return;
    }
    for (field, value) in configured {
        p.set(transform, target, &join(&security, field), &value);
    }
}

/// Sets `imagePullPolicy: Always` on a container whose image is not pinned by digest, so that a
/// tag moved to another image is pulled, and every start checks the pod may pull the image.
/// `IfNotPresent` becomes `Always` with a note; `Never` (an image expected on the node) and
/// values Kubernetes does not know (placeholders) are kept.
pub(super) fn image_pull_always(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some(container) = target.container else {
        return;
    };
    let Some(image) = p
        .read_at(&container.path, "image")
        .and_then(Node::as_str)
        .map(str::to_owned)
    else {
        return;
    };
    if ImageReference::parse(&image).digest.is_some() {
        return;
    }
    let policy_path = join(&container.path, "imagePullPolicy");
    let policy = p
        .read(&policy_path)
        .filter(|n| !n.is_null())
        .map(|n| n.as_str().unwrap_or_default().to_owned());
    match policy.as_deref() {
        Some("Always") => {}
        Some(kept) if kept != "IfNotPresent" => {
            let message = match kept {
                "Never" => format!(
                    "keeps imagePullPolicy: Never: {image} is expected on the node already (preloaded, or no registry reachable), where Always would keep the pod from starting; pin the image by digest instead"
                ),
                other => format!(
                    "keeps imagePullPolicy: {other}, which is none of Always, IfNotPresent and Never (a placeholder filled in later?)"
                ),
            };
            p.report(
                transform,
                target,
                &policy_path,
                FindingKind::Skipped,
                &message,
            );
        }
        old => {
            let changed = p.set(
                transform,
                target,
                &policy_path,
                &Literal::Text("Always".into()),
            );
            if let (true, Some(old)) = (changed, old) {
                let message = format!(
                    "imagePullPolicy was {old}: the kubelet now asks the registry for {image} at every container start, so a tag moved to another image is pulled, and an unreachable registry keeps pods from starting; pin the image by digest to keep {old}"
                );
                p.report(transform, target, &policy_path, FindingKind::Note, &message);
            }
        }
    }
}
