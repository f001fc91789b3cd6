//! What kubeharden knows beyond the manifest, declared as data beside the transforms that use
//! it: the folders well-known images write, the commands that need capabilities, and the host
//! paths node agents write.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::k8s::image::{ImageName, ImagePattern};

/// The folders an image writes outside `/tmp`, and where that is documented.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageWrites {
    /// The image repositories: `nginx` is Docker Hub's official `library/nginx` on any
    /// registry, `grafana/grafana` any repository ending so.
    pub images: Vec<ImagePattern>,
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

/// Host paths that node agents write, kept writable where a pod mounts them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostPathWrites {
    /// Absolute paths; a mount of one of them, of a path inside one, or of a folder holding
    /// one (`/var` holds `/var/lib/kubelet`) is kept writable.
    pub paths: Vec<String>,
    /// Who writes there and why, for the report.
    pub why: String,
}

impl HostPathWrites {
    /// Whether the host path `path` is one of the paths agents write, or inside one.
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|written| inside(path, written))
    }

    /// The first path agents write that the folder `path` holds (`/var` holds
    /// `/var/lib/kubelet`).
    pub fn held_by(&self, path: &str) -> Option<&str> {
        self.paths
            .iter()
            .find(|written| inside(written, path))
            .map(String::as_str)
    }
}

/// Whether the absolute path `inner` is `outer` or lies inside it (`/` holds every path).
fn inside(inner: &str, outer: &str) -> bool {
    let (inner, outer) = (inner.trim_end_matches('/'), outer.trim_end_matches('/'));
    inner == outer || inner.starts_with(&format!("{outer}/"))
}

/// The folders `image` writes: from `configured` (repository → folders, the user's), else from
/// `declared`; `None` when neither knows the image.
pub fn writes_of<'t>(
    image: &str,
    configured: &'t BTreeMap<String, Vec<String>>,
    declared: &'t [ImageWrites],
) -> Option<&'t [String]> {
    let image = ImageName::of(image);
    configured
        .iter()
        .find(|(name, _)| image.matches(&ImagePattern::new(name)))
        .map(|(_, writes)| writes.as_slice())
        .or_else(|| {
            declared
                .iter()
                .find(|entry| entry.images.iter().any(|pattern| image.matches(pattern)))
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
