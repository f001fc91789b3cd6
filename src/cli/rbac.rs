//! The pass before fixing that `rbac-least-privilege` needs across inputs: the RoleBindings and
//! ClusterRoleBindings of every plain file of the run, so that a role's findings name a binding
//! that grants it from another file.

use rayon::prelude::*;

use crate::k8s::rbac::{self, FileBinding};

use super::files;
use super::inputs::Input;

/// The bindings of the files among `inputs` (each read up to `limit` bytes), in input order.
/// Standard input and streams are read once, when fixed, and charts and kustomizations are
/// rendered: their roles see the bindings of their own stream only. A file that cannot be read
/// holds none here: fixing it reports why.
pub(super) fn bindings_of_files(inputs: &[Input], limit: u64) -> Vec<FileBinding> {
    inputs
        .par_iter()
        .filter_map(Input::file)
        .flat_map_iter(|path| {
            let bindings = files::read_file(path, limit)
                .ok()
                // Most files hold no binding: no need to check their UTF-8 or cut documents.
                .filter(|snapshot| rbac::may_hold_bindings(&snapshot.bytes))
                .and_then(|snapshot| String::from_utf8(snapshot.bytes).ok())
                .map(|source| rbac::bindings_in(&source))
                .unwrap_or_default();
            let file = path.to_string_lossy();
            bindings.into_iter().map(move |binding| FileBinding {
                file: file.clone().into_owned(),
                binding,
            })
        })
        .collect()
}
