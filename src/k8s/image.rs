//! Container image references (`[registry/]repository[:tag][@digest]`) and the patterns that
//! name images in kubeharden's tables and in configurations: the one place that knows how a
//! reference is spelled and which repositories a pattern means.

use serde::Deserialize;

use super::Glob;

/// The components standing before the name of a Docker Hub official image.
const OFFICIAL: &str = "library";

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference<'r> {
    /// The registry host (`quay.io`, `localhost:5000`), when the reference names one.
    pub registry: Option<&'r str>,
    /// The repository's path components; a repository of one component is Docker Hub's
    /// official image, whatever the registry, so `nginx` reads `library`, `nginx`.
    pub repository: Vec<&'r str>,
    /// The tag, when given.
    pub tag: Option<&'r str>,
    /// The digest (`sha256:…`), when given.
    pub digest: Option<&'r str>,
}

impl<'r> ImageReference<'r> {
    /// The parts of `reference`. Any text parses: what is not a registry, tag or digest is
    /// repository, so a pattern (`grafana/grafana*`) parses as well as an image.
    pub fn parse(reference: &'r str) -> Self {
        let (name, digest) = match reference.trim().split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (reference.trim(), None),
        };
        let mut repository: Vec<&str> = name.split('/').collect();
        let mut tag = None;
        if let Some(last) = repository.last_mut()
            && let Some((base, given)) = last.split_once(':')
        {
            *last = base;
            tag = Some(given);
        }
        // A first component that names a host (a dot, a port or localhost) is the registry.
        let host = |first: &str| first.contains(['.', ':']) || first == "localhost";
        let registry = (repository.len() > 1 && host(repository[0])).then(|| repository.remove(0));
        if repository.len() == 1 {
            repository.insert(0, OFFICIAL);
        }
        ImageReference {
            registry,
            repository,
            tag,
            digest,
        }
    }

    /// The repository, prepared to be matched against patterns: see [`ImageName::matches`].
    pub fn name(&self) -> ImageName {
        ImageName {
            repository: self.repository.join("/").to_ascii_lowercase(),
        }
    }
}

/// An image's repository, joined and lowercased once to be matched against the many patterns
/// of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The repository's components joined by `/`, lowercased (`library/nginx`).
    repository: String,
}

impl ImageName {
    /// The repository of the image `reference`.
    pub fn of(reference: &str) -> ImageName {
        ImageReference::parse(reference).name()
    }

    /// Whether this image is of a repository `pattern` names: see [`ImagePattern`].
    pub fn matches(&self, pattern: &ImagePattern) -> bool {
        let glob = Glob::with_stars(&pattern.repository, pattern.stars);
        // Every run of components below ends where the repository does, so the pattern's text
        // after its last `*` must end the repository: most patterns of a table fail here.
        if !self.repository.ends_with(glob.tail()) {
            return false;
        }
        // A pattern that starts with `*` matches a run of components only if it matches the
        // whole repository, the `*` taking what comes before the run.
        if pattern.repository.starts_with('*') {
            return glob.matches(&self.repository);
        }
        // Each run of the image's last components: the whole repository, then after each `/`.
        let mut starts = std::iter::once(0).chain(
            self.repository
                .match_indices('/')
                .map(|(slash, _)| slash + 1),
        );
        starts.any(|start| glob.matches(&self.repository[start..]))
    }
}

/// A pattern of image repositories, read once to be matched against many images. The
/// pattern's registry, tag and digest are ignored, like the image's; its repository must match
/// the image's last path components, whole ones, ignoring case, with `*` standing for any run
/// of characters (`/` included). A pattern of one component is an official image: `nginx`
/// matches `mirror.gcr.io/library/nginx:1.27` but not `bitnami/nginx`; `*/nginx` matches both.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct ImagePattern {
    /// The pattern as written, for messages.
    text: String,
    /// Its repository, joined by `/` and lowercased (`library/nginx`, `*/kubectl`).
    repository: String,
    /// Where the repository's first and last `*` stand ([`Glob::stars`]), found once.
    stars: Option<(usize, usize)>,
}

impl ImagePattern {
    /// The pattern written `text`.
    pub fn new(text: &str) -> ImagePattern {
        let repository = ImageReference::parse(text)
            .repository
            .join("/")
            .to_ascii_lowercase();
        ImagePattern {
            text: text.to_owned(),
            stars: Glob::new(&repository).stars(),
            repository,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<String> for ImagePattern {
    fn from(text: String) -> Self {
        ImagePattern::new(&text)
    }
}

/// `patterns` as written, separated by commas, for messages.
pub fn listed(patterns: &[ImagePattern]) -> String {
    let texts: Vec<&str> = patterns.iter().map(ImagePattern::as_str).collect();
    texts.join(", ")
}

/// An error unless `pattern` uses no wildcard but `*`: `?`, `[…]` and `{…}` would otherwise
/// be taken for the characters themselves and silently match nothing.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    match pattern.find(['?', '[', ']', '{', '}']) {
        Some(at) => Err(format!(
            "`{}` is no wildcard here, only `*` is",
            &pattern[at..at + 1]
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{ImageName, ImagePattern, ImageReference};

    fn matches(image: &str, pattern: &str) -> bool {
        ImageName::of(image).matches(&ImagePattern::new(pattern))
    }

    #[test]
    fn a_reference_splits_into_registry_repository_tag_and_digest() {
        let parsed = ImageReference::parse("localhost:5000/team/app:1.2@sha256:ab");
        assert_eq!(parsed.registry, Some("localhost:5000"));
        assert_eq!(parsed.repository, ["team", "app"]);
        assert_eq!(parsed.tag, Some("1.2"));
        assert_eq!(parsed.digest, Some("sha256:ab"));
        let parsed = ImageReference::parse("postgres");
        assert_eq!(parsed.registry, None);
        assert_eq!(parsed.repository, ["library", "postgres"]);
        assert_eq!((parsed.tag, parsed.digest), (None, None));
        for (image, repository) in [
            ("postgres:16", "library/postgres"),
            (
                "docker.io/library/postgres:16@sha256:abc",
                "library/postgres",
            ),
            (
                "ghcr.io/huggingface/text-generation-inference:2.4",
                "huggingface/text-generation-inference",
            ),
            ("bitnami/postgresql", "bitnami/postgresql"),
            ("registry.k8s.io/kube-proxy:v1.30", "library/kube-proxy"),
        ] {
            let parsed = ImageReference::parse(image);
            assert_eq!(parsed.repository.join("/"), repository, "{image}");
        }
    }

    #[test]
    fn repositories_match_on_their_last_components_whatever_the_registry_tag_or_digest() {
        for image in [
            "nginx",
            "nginx:1.27",
            "library/nginx",
            "docker.io/nginx:1.27",
            "docker.io/library/nginx:1.27-alpine",
            "mirror.gcr.io/library/nginx",
            "mirror.gcr.io/library/nginx:1.27",
            "localhost:5000/nginx:1.27",
            "registry.example:443/nginx@sha256:0123abcd",
            "NGINX:1.27",
        ] {
            assert!(matches(image, "nginx"), "{image}");
            assert!(matches(image, "library/nginx"), "{image}");
        }
        for image in [
            "nginxinc/nginx-unprivileged:1.27",
            "bitnami/nginx",
            "ghcr.io/example/nginx",
            "nginx-ingress",
            "",
        ] {
            assert!(!matches(image, "nginx"), "{image}");
        }
        assert!(matches(
            "docker.elastic.co/elasticsearch/elasticsearch:8.15.0",
            "elasticsearch/elasticsearch"
        ));
        assert!(matches("quay.io/myorg/app:2", "myorg/app"));
        assert!(!matches("quay.io/otherorg/app:2", "myorg/app"));
        assert!(matches("quay.io/calico/node:v3.28.0", "calico/node"));
        assert!(matches("calico/node", "calico/node"));
        assert!(matches(
            "localhost:5000/metallb/speaker@sha256:ab",
            "metallb/speaker"
        ));
        assert!(!matches("example/calico-node-ui:1", "calico/node"));
        assert!(!matches("nginx:1.27", "node-exporter"));
        assert!(matches(
            "docker.io/vllm/vllm-openai:v0.6",
            "vllm/vllm-openai"
        ));
        assert!(!matches("someone/postgres", "postgres"));
    }

    #[test]
    fn a_pattern_ignores_its_own_registry_tag_and_library() {
        assert!(matches("postgres:16", "docker.io/library/postgres"));
        assert!(matches("ghcr.io/acme/api:1", "ghcr.io/acme/*"));
        assert!(matches("quay.io/acme/api:1", "ghcr.io/acme/*"));
        assert!(matches("nginx", "nginx:1.27"));
    }

    #[test]
    fn a_star_matches_any_run_of_characters_slashes_included() {
        assert!(matches("sysdig/agent-slim:13", "sysdig/agent*"));
        assert!(matches("grafana/grafana-oss", "grafana/grafana*"));
        assert!(!matches("grafana/loki", "grafana/grafana*"));
        assert!(matches("ghcr.io/acme/team/api", "acme/*"));
        assert!(matches(
            "us-docker.pkg.dev/cloud-tpu-images/inference/sax-http:v1.2.0",
            "cloud-tpu-images/*"
        ));
        // A one-component name in any namespace, official images included.
        for image in [
            "quay.io/prometheus/node-exporter:v1.8.2",
            "node-exporter",
            "registry.k8s.io/volume-nfs:0.8",
        ] {
            let name = image.rsplit('/').next().unwrap().split(':').next().unwrap();
            assert!(matches(image, &format!("*/{name}")), "{image}");
        }
        assert!(!matches(
            "quay.io/prometheus/node-exporter",
            "node-exporter"
        ));
        assert!(!matches("example/node-exporter-ui", "*/node-exporter"));
    }
}
