//! Kustomize trees, built with the real `kubectl kustomize`: the golden trees of
//! `golden-kustomize/` (tree in, tree out, byte for byte), the tree without kubectl, and every
//! kustomization of `../shared/kustomize`. kubectl is found as kubeharden finds it
//! (`$KUBEHARDEN_KUBECTL`, then `PATH`), or in `target/tools/bin`; without it the tests say so
//! and pass, except under CI, where a missing kubectl fails them.

mod common;

use std::path::{Path, PathBuf};

use common::rendered::{self, copy, golden_cases, stderr, tool};
use common::snapshot;
use serde_json::Value;

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

#[test]
fn a_kustomization_that_does_not_build_is_named_and_its_resources_still_fixed() {
    let Some(kubectl) = kubectl() else { return };
    let work = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-kustomize/smp-patch-file/input");
    copy(&case, work.path());
    // An overlay naming a resource that is not there: kustomize refuses to build it.
    std::fs::create_dir(work.path().join("broken")).unwrap();
    std::fs::write(
        work.path().join("broken/kustomization.yaml"),
        "resources:\n  - ../base\n  - missing.yaml\n",
    )
    .unwrap();
    let out = rendered::kubeharden((KUBECTL_ENV, &kubectl), work.path(), &["fix", "."]);
    let err = stderr(&out);
    assert!(
        err.contains("broken/kustomization.yaml:1: kustomize:")
            && err.contains("does not build here (")
            && err.contains("its built output was not checked"),
        "{err}"
    );
    let fixed = std::fs::read_to_string(work.path().join("base/deployment.yaml")).unwrap();
    assert!(fixed.contains("allowPrivilegeEscalation: false"), "{fixed}");
}

/// `kubectl kustomize folder` in `dir`: the built output; the test fails when it does not build.
fn build(kubectl: &Path, dir: &Path, folder: &str) -> String {
    let out = std::process::Command::new(kubectl)
        .args(["kustomize", folder])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{folder} does not build: {}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The fields kubeharden's transforms own: a built field may change only below one of them.
const HARDENING_FIELDS: [&str; 10] = [
    "updateStrategy",
    "securityContext",
    "volumes",
    "volumeMounts",
    "strategy",
    "automountServiceAccountToken",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "seccompProfile",
];

/// The paths where `after` differs from `before`, each as its field names.
fn changed_paths(
    before: &Value,
    after: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                path.push(key.clone());
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => changed_paths(x, y, path, out),
                    _ => out.push(path.clone()),
                }
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (x, y) in a.iter().zip(b) {
                changed_paths(x, y, path, out);
            }
        }
        _ if before == after => {}
        _ => out.push(path.clone()),
    }
}

/// Every line of `old` that the edit to `new` removed keeps its key: only values change in
/// place; comments and untouched lines stay byte-identical.
fn only_values_changed(old: &str, new: &str) -> Result<(), String> {
    let diff = similar::TextDiff::from_lines(old, new);
    let inserted: Vec<&str> = diff
        .iter_all_changes()
        .filter(|c| c.tag() == similar::ChangeTag::Insert)
        .map(|c| c.value())
        .collect();
    for change in diff.iter_all_changes() {
        if change.tag() != similar::ChangeTag::Delete {
            continue;
        }
        let line = change.value();
        let key = line.split(':').next().unwrap_or(line);
        if line.trim_start().starts_with('#') || !inserted.iter().any(|i| i.starts_with(key)) {
            return Err(format!("line lost: {line:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_shared_kustomization_still_builds_hardened_with_only_hardening_changes() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kustomize");
    let Ok(roots) = std::fs::read_to_string(shared.join("ROOTS.tsv")) else {
        eprintln!("../shared/kustomize absent: shared Kustomize trees not checked");
        return;
    };
    let Some(kubectl) = kubectl() else { return };
    let roots: Vec<(&str, &str)> = roots
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next()?.split_once('/'))
        .collect();
    let mut trees: Vec<&str> = roots.iter().map(|(tree, _)| *tree).collect();
    trees.dedup();
    assert!(trees.len() >= 3, "{trees:?}");
    for tree in trees {
        let work = tempfile::tempdir().unwrap();
        copy(&shared.join(tree), work.path());
        let folders: Vec<&str> = roots
            .iter()
            .filter(|(t, _)| *t == tree)
            .map(|(_, f)| *f)
            .collect();
        let before: Vec<String> = folders
            .iter()
            .map(|f| build(&kubectl, work.path(), f))
            .collect();
        let original = snapshot(work.path());
        let out = rendered::fix_and_check((KUBECTL_ENV, &kubectl), work.path(), ".", &[]);
        assert_eq!(out.status.code(), Some(0), "{tree}: {}", stderr(&out));
        for (folder, before) in folders.iter().zip(&before) {
            let after = build(&kubectl, work.path(), folder);
            // What kubeharden would still change in the built output: nothing.
            let check = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubeharden"))
                .args(["fix", "--dry-run", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write;
                    child.stdin.take().unwrap().write_all(after.as_bytes())?;
                    child.wait_with_output()
                })
                .unwrap();
            assert_eq!(
                check.status.code(),
                Some(0),
                "{tree}/{folder} builds unhardened: {}",
                String::from_utf8_lossy(&check.stdout)
            );
            let read = |text: &str| -> Vec<Value> { serde_saphyr::from_multiple(text).unwrap() };
            let (old, new) = (read(before), read(&after));
            assert_eq!(old.len(), new.len(), "{tree}/{folder}");
            for (a, b) in old.iter().zip(&new) {
                let mut changed = Vec::new();
                changed_paths(a, b, &mut Vec::new(), &mut changed);
                for path in changed {
                    assert!(
                        path.iter().any(|p| HARDENING_FIELDS.contains(&p.as_str())),
                        "{tree}/{folder}: {} changed",
                        path.join(".")
                    );
                }
            }
        }
        for (path, bytes) in snapshot(work.path()) {
            let Some(old) = original.get(&path) else {
                panic!("{tree}: {} appeared", path.display());
            };
            if *old != bytes {
                let (old, new) = (
                    String::from_utf8_lossy(old),
                    String::from_utf8_lossy(&bytes),
                );
                if let Err(e) = only_values_changed(&old, &new) {
                    panic!("{tree}: {}: {e}", path.display());
                }
            }
        }
    }
}
