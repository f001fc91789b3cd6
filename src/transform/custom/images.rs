//! The image steps of `pinned-images` (report-only): an image without a tag or with `latest`
//! runs whatever the registry points the name at when the pod starts; in the restricted
//! profile, an image without a digest, whose tag can be moved.

use crate::k8s::image::ImageReference;
use crate::yaml::Node;

use super::super::planner::{Planner, Target, join};
use super::super::{FindingKind, Transform};

/// Warns about a container image without a tag or tagged `latest`, unless a digest pins it.
pub(super) fn image_tag(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some((path, image)) = image(p, target) else {
        return;
    };
    let reference = ImageReference::parse(&image);
    if reference.digest.is_some() {
        return;
    }
    let message = match reference.tag {
        None => format!(
            "image {image} has no tag, so it runs whatever `latest` is when the pod starts; name a version (and a digest)"
        ),
        Some("latest") => format!(
            "image {image} uses the tag `latest`, which moves with every release; name a version (and a digest)"
        ),
        Some(_) => return,
    };
    p.report(transform, target, &path, FindingKind::Warning, &message);
}

/// Warns about a container image that no digest pins.
pub(super) fn image_digest(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some((path, image)) = image(p, target) else {
        return;
    };
    if ImageReference::parse(&image).digest.is_none() {
        let message = format!(
            "image {image} is not pinned by digest, so its tag can be moved to other contents; append @sha256:… of the image you tested"
        );
        p.report(transform, target, &path, FindingKind::Warning, &message);
    }
}

/// The path of the container's `image` and its value, when it is a non-empty string.
fn image(p: &Planner<'_, '_>, target: &Target<'_>) -> Option<(Vec<crate::yaml::Step>, String)> {
    let path = join(&target.container?.path, "image");
    let image = p.read(&path).and_then(Node::as_str)?.trim().to_owned();
    (!image.is_empty()).then_some((path, image))
}
