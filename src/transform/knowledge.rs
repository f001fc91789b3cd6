//! What kubeharden knows beyond the manifest, declared as data beside the transforms that use
//! it: the folders well-known images write, and the commands that need capabilities.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The folders an image writes outside `/tmp`, and where that is documented.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageWrites {
    /// The image repositories, matched by [`same_repository`]: `nginx` is Docker Hub's
    /// official `library/nginx` on any registry, `grafana/grafana` any repository ending so.
    pub images: Vec<String>,
    /// The folders it writes, absolute.
    pub writes: Vec<String>,
    /// The image's own documentation that says so.
    pub source: String,
}

/// Commands that need capabilities back once a container drops ALL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CommandNeeds {
    /// Command names (a path's last component counts: `/bin/chown` is `chown`).
    pub commands: Vec<String>,
    /// When not empty, the command needs them only with one of these options (a word of the
    /// same command starting with one).
    #[serde(default)]
    pub with_options: Vec<String>,
    /// The capabilities it needs.
    pub capabilities: Vec<String>,
    /// Why, for the note.
    pub why: String,
}

/// The folders `image` writes: from `configured` (repository → folders, the user's), else from
/// `declared`; `None` when neither knows the image.
pub fn writes_of<'t>(
    image: &str,
    configured: &'t BTreeMap<String, Vec<String>>,
    declared: &'t [ImageWrites],
) -> Option<&'t [String]> {
    configured
        .iter()
        .find(|(name, _)| same_repository(image, name))
        .map(|(_, writes)| writes.as_slice())
        .or_else(|| {
            declared
                .iter()
                .find(|entry| entry.images.iter().any(|name| same_repository(image, name)))
                .map(|entry| entry.writes.as_slice())
        })
}

/// An error unless every folder `image` writes is an absolute path.
pub fn check_writes(image: &str, folders: &[String]) -> Result<(), String> {
    match folders.iter().find(|f| !f.starts_with('/')) {
        Some(folder) => Err(format!(
            "the folder `{folder}` written by {image} is not an absolute path"
        )),
        None => Ok(()),
    }
}

/// Whether `image` (a reference with any registry, tag or digest) is of the repository `name`:
/// the last path components of its repository are `name`'s. A repository of one component is
/// Docker Hub's official image, `library/…`, whatever the registry: `nginx`, `library/nginx`
/// and `mirror.example/nginx:1.27` are all `nginx`, `nginxinc/nginx-unprivileged` and
/// `bitnami/nginx` are not.
pub fn same_repository(image: &str, name: &str) -> bool {
    let (image, name) = (repository(image), repository(name));
    image.len() >= name.len()
        && image[image.len() - name.len()..]
            .iter()
            .zip(&name)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// The path components of an image reference's repository, without registry, tag or digest.
fn repository(reference: &str) -> Vec<&str> {
    let without_digest = reference.split('@').next().unwrap_or_default().trim();
    let mut parts: Vec<&str> = without_digest.split('/').collect();
    if let Some(last) = parts.last_mut() {
        *last = last.split(':').next().unwrap_or_default();
    }
    // A first component that names a host (a dot, a port or localhost) is the registry.
    let registry = |first: &str| first.contains(['.', ':']) || first == "localhost";
    if parts.len() > 1 && registry(parts[0]) {
        parts.remove(0);
    }
    if parts.len() == 1 {
        parts.insert(0, "library");
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::same_repository;

    #[test]
    fn repositories_match_on_their_last_components_whatever_the_registry_tag_or_digest() {
        for image in [
            "nginx",
            "nginx:1.27",
            "library/nginx",
            "docker.io/nginx:1.27",
            "docker.io/library/nginx:1.27-alpine",
            "mirror.gcr.io/library/nginx",
            "localhost:5000/nginx:1.27",
            "registry.example:443/nginx@sha256:0123abcd",
            "NGINX:1.27",
        ] {
            assert!(same_repository(image, "nginx"), "{image}");
            assert!(same_repository(image, "library/nginx"), "{image}");
        }
        for image in [
            "nginxinc/nginx-unprivileged:1.27",
            "bitnami/nginx",
            "ghcr.io/example/nginx",
            "nginx-ingress",
            "",
        ] {
            assert!(!same_repository(image, "nginx"), "{image}");
        }
        assert!(same_repository(
            "docker.elastic.co/elasticsearch/elasticsearch:8.15.0",
            "elasticsearch/elasticsearch"
        ));
        assert!(same_repository("quay.io/myorg/app:2", "myorg/app"));
        assert!(!same_repository("quay.io/otherorg/app:2", "myorg/app"));
    }
}
