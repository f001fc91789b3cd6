//! `host-path-read-only`: mounts of hostPath volumes become read-only, except where a node agent
//! writes (the declared table), where the pod asked for the path to be created, where mounts must
//! propagate back to the host, or where the container's own command names the mount.

use crate::yaml::{Node, Step};

use super::super::commands;
use super::super::planner::{Planner, Target, join};
use super::super::{FindingKind, Literal, Transform};

/// A hostPath volume of the pod: its name, the path on the node and its declared `type`.
struct HostPathVolume {
    name: String,
    path: String,
    kind: Option<String>,
}

/// Sets `readOnly: true` on each mount of a hostPath volume in the container, unless something
/// shows the container writes there; then the mount is kept writable and the reason reported.
pub(super) fn host_path_read_only(
    p: &mut Planner<'_, '_>,
    transform: &'static Transform,
    target: &Target<'_>,
) {
    let Some(container) = target.container else {
        return;
    };
    let volumes = host_path_volumes(p.read_at(&target.pod.path, "volumes"));
    if volumes.is_empty() {
        return;
    }
    let mounts_path = join(&container.path, "volumeMounts");
    let count = p
        .read(&mounts_path)
        .and_then(Node::items)
        .map_or(0, <[_]>::len);
    let words: Vec<String> =
        commands::simple_commands(&commands::command_strings(p, container)).concat();
    for index in 0..count {
        let mut mount_path = mounts_path.clone();
        mount_path.push(Step::Index(index));
        let Some(mount) = p.read(&mount_path) else {
            continue;
        };
        let Some(volume) = mount
            .get("name")
            .and_then(Node::as_str)
            .and_then(|name| volumes.iter().find(|v| v.name == name))
        else {
            continue;
        };
        let read_only = mount.get("readOnly").filter(|n| !n.is_null());
        if read_only.is_some_and(|n| n.is_bool(true)) {
            continue;
        }
        let mounted_at = mount
            .get("mountPath")
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_owned();
        let reason = if read_only.is_some() {
            Some("the mount sets readOnly: false explicitly".to_owned())
        } else if mount.get("mountPropagation").and_then(Node::as_str) == Some("Bidirectional") {
            Some("its mountPropagation is Bidirectional: the mounts the container makes there must reach the host, which needs a writable mount".to_owned())
        } else {
            writes_reason(transform, volume, &mounted_at, &words)
        };
        let field = join(&mount_path, "readOnly");
        match reason {
            Some(reason) => {
                let message = format!(
                    "keeps the host path {} mounted writable at {mounted_at}: {reason}",
                    volume.path
                );
                p.report(transform, target, &field, FindingKind::Skipped, &message);
            }
            None => {
                p.set(transform, target, &field, &Literal::Bool(true));
            }
        }
    }
}

/// Why a container may write to `volume` mounted at `mounted_at`, if anything says so: the
/// volume's type, the table of paths agents write, or a word of its command (`cp -r /lib/.
/// /host/lib` names a path inside the mount).
fn writes_reason(
    transform: &Transform,
    volume: &HostPathVolume,
    mounted_at: &str,
    words: &[String],
) -> Option<String> {
    match volume.kind.as_deref() {
        Some("Socket") => {
            return Some("a socket: a read-only mount would not keep clients from using it, and the agent expects it as it is".to_owned());
        }
        Some(kind @ ("DirectoryOrCreate" | "FileOrCreate")) => {
            return Some(format!(
                "its type {kind} has the kubelet create it, so it is the pod's own place on the node, which it writes"
            ));
        }
        _ => {}
    }
    let table = &transform.host_path_writes;
    if let Some(entry) = table.iter().find(|entry| entry.covers(&volume.path)) {
        return Some(entry.why.clone());
    }
    if let Some((entry, written)) = table
        .iter()
        .find_map(|entry| entry.held_by(&volume.path).map(|w| (entry, w)))
    {
        return Some(format!("it holds {written} ({})", entry.why));
    }
    let mounted_at = mounted_at.trim_end_matches('/');
    let named = words.iter().find(|word| {
        !mounted_at.is_empty()
            && word
                .strip_prefix(mounted_at)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })?;
    Some(format!(
        "its command names {named}, inside the mount: it may write there"
    ))
}

/// The hostPath volumes in the list `volumes`.
fn host_path_volumes(volumes: Option<&Node<'_>>) -> Vec<HostPathVolume> {
    volumes
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|volume| {
            let host_path = volume.get("hostPath")?;
            Some(HostPathVolume {
                name: volume.get("name")?.as_str()?.to_owned(),
                path: host_path.get("path")?.as_str()?.to_owned(),
                kind: host_path
                    .get("type")
                    .and_then(Node::as_str)
                    .map(str::to_owned),
            })
        })
        .collect()
}
