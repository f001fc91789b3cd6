//! The `service-account-token` step: pods of the namespace's default service account lose the
//! API token they do not need.

use crate::yaml::Node;

use super::super::evidence;
use super::super::planner::{Planner, Target, join};
use super::super::{FindingKind, Literal, Transform};

/// Sets `automountServiceAccountToken: false` on a pod that runs as its namespace's `default`
/// service account (it names none, or `default`) and shows no sign of calling the API. A pod
/// naming another account, an explicit `true` and a sign of API calls keep the token, reported.
pub(super) fn service_account_token(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let pod = &target.pod.path;
    let field = join(pod, "automountServiceAccountToken");
    let current = p.read(&field).filter(|n| !n.is_null());
    if current.is_some_and(|n| n.is_bool(false)) {
        return;
    }
    let explicit_true = current.is_some_and(|n| n.is_bool(true));
    // `serviceAccount` is the deprecated name of `serviceAccountName`, which wins when both are set.
    let named = ["serviceAccountName", "serviceAccount"]
        .into_iter()
        .find_map(|key| {
            let name = p.read_at(pod, key).and_then(Node::as_str)?;
            (!name.is_empty()).then(|| (key, name.to_owned()))
        });
    if let Some((key, name)) = named.filter(|(_, name)| name != "default") {
        let message = format!(
            "keeps its service account token: it runs as service account {name}, most likely made to call the API (set automountServiceAccountToken: false if it does not)"
        );
        p.report(
            transform,
            target,
            &join(pod, key),
            FindingKind::Skipped,
            &message,
        );
        return;
    }
    if explicit_true {
        let message = "keeps automountServiceAccountToken: true although it runs as the namespace's default service account: set it to false unless the pod calls the API, and then give it a service account of its own";
        p.report(transform, target, &field, FindingKind::Warning, message);
        return;
    }
    if !transform.ignores_evidence(p.settings) {
        let signs = evidence::of_api_calls(p, target);
        if !signs.is_empty() {
            let message = format!(
                "keeps its service account token: it runs as the namespace's default service account and shows signs of calling the API ({}); give it a service account of its own with the permissions it needs (option ignore-evidence or --profile strict removes the token anyway)",
                signs.join("; ")
            );
            p.report(transform, target, &field, FindingKind::Skipped, &message);
            return;
        }
    }
    p.set(transform, target, &field, &Literal::Bool(false));
}
