//! Kustomize trees, built with the real `kubectl kustomize`: the golden trees of
//! `golden-kustomize/` (tree in, tree out, byte for byte), the tree without kubectl, and every
//! kustomization of `../shared/kustomize`. kubectl is found as kubeharden finds it
//! (`$KUBEHARDEN_KUBECTL`, then `PATH`), or in `target/tools/bin`; without it the tests say so
//! and pass, except under CI, where a missing kubectl fails them.

mod common;

use std::path::{Path, PathBuf};

use common::rendered::{self, copy, golden_cases, stderr, tool};
use common::snapshot;

const KUBECTL_ENV: &str = "KUBEHARDEN_KUBECTL";

/// The kubectl binary, or `None` (with a message) outside CI when there is none.
fn kubectl() -> Option<PathBuf> {
    tool("kubectl", KUBECTL_ENV)
}

#[test]
fn golden_kustomize_cases_match_byte_for_byte() {
    let Some(kubectl) = kubectl() else { return };
    golden_cases("golden-kustomize", ".", (KUBECTL_ENV, &kubectl));
}

#[test]
fn without_kubectl_the_tree_is_fixed_as_loose_files_and_says_overlays_were_not_checked() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-kustomize/smp-patch-file/input");
    let work = tempfile::tempdir().unwrap();
    copy(&case, work.path());
    let missing = work.path().join("no-kubectl");
    let out = rendered::kubeharden((KUBECTL_ENV, &missing), work.path(), &["fix", "."]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("overlays and patches were not checked: kubectl not found at"),
        "{err}"
    );
    assert!(err.contains("install kubectl"), "{err}");
    let after = snapshot(work.path());
    let fixed = String::from_utf8_lossy(&after[Path::new("base/deployment.yaml")]).into_owned();
    assert!(fixed.contains("allowPrivilegeEscalation: false"), "{fixed}");
}
