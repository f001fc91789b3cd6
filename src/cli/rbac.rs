//! The pass before fixing that `rbac-least-privilege` needs across inputs: the RoleBindings and
//! ClusterRoleBindings of every plain file of the run, so that a role's findings name a binding
//! that grants it from another file. The files it reads are kept, within a bound, so that
//! fixing them need not read them again.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::k8s::rbac::{self, FileBinding};

use super::files::{self, Snapshot};
use super::inputs::Input;

/// The most bytes of files the pass keeps for fixing: as much as one input may hold by
/// default. Past it, files are read again when fixed, so a run over many files does not hold
/// them all.
const KEPT_BYTES: u64 = files::DEFAULT_MAX_FILE_SIZE;

/// What the pass read.
pub(super) struct FilesRead {
    /// The bindings of the files, in input order.
    pub bindings: std::sync::Arc<[FileBinding]>,
    /// For each input, the file as read, while [`KEPT_BYTES`] allowed; `None` for what is not
    /// a plain file, a file that could not be read, and past the bound.
    pub kept: Vec<Option<Snapshot>>,
}

/// The bindings of the files among `inputs` (each read up to `limit` bytes), and the files
/// read. Standard input and streams are read once, when fixed, and charts and kustomizations
/// are rendered: their roles see the bindings of their own stream only. A file that cannot be
/// read holds none here: fixing it reads it again and reports why.
pub(super) fn read_files(inputs: &[Input], limit: u64) -> FilesRead {
    // The bindings of a run's only file are its own stream's, which fixing it reads and names
    // first: another pass over it (a whole second reading of a large stream) would add none.
    if inputs.iter().filter_map(Input::file).nth(1).is_none() {
        return FilesRead {
            bindings: std::sync::Arc::from([]),
            kept: Vec::new(),
        };
    }
    let offered = AtomicU64::new(0);
    let read: Vec<(Vec<FileBinding>, Option<Snapshot>)> = inputs
        .par_iter()
        .map(|input| {
            let Some((path, snapshot)) = input
                .file()
                .and_then(|path| Some((path, files::read_file(path, limit).ok()?)))
            else {
                return (Vec::new(), None);
            };
            // Most files hold no binding: no need to check their UTF-8 or cut documents.
            let bindings = match rbac::may_hold_bindings(&snapshot.bytes) {
                true => std::str::from_utf8(&snapshot.bytes)
                    .map(rbac::bindings_in)
                    .unwrap_or_default(),
                false => Vec::new(),
            };
            let file = path.to_string_lossy();
            let bindings = bindings
                .into_iter()
                .map(|binding| FileBinding {
                    file: file.clone().into_owned(),
                    binding,
                })
                .collect();
            let size = snapshot.bytes.len() as u64;
            let fits = offered.fetch_add(size, Ordering::Relaxed) + size <= KEPT_BYTES;
            (bindings, fits.then_some(snapshot))
        })
        .collect();
    let (bindings, kept): (Vec<Vec<FileBinding>>, Vec<Option<Snapshot>>) = read.into_iter().unzip();
    FilesRead {
        bindings: bindings.into_iter().flatten().collect(),
        kept,
    }
}
