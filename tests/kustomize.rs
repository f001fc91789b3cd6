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

/// Runs `command` with `input` on its standard input; its output.
fn with_input(command: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input)?;
            child.wait_with_output()
        })
        .unwrap()
}

/// `kubeharden fix --dry-run -` of the built output `built`: exit code 0 when it needs nothing.
fn check_built(built: &[u8]) -> std::process::Output {
    with_input(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("kubeharden")).args([
            "fix",
            "--dry-run",
            "-",
        ]),
        built,
    )
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
            let check = check_built(after.as_bytes());
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

#[test]
fn a_remote_base_that_cannot_be_fetched_is_named_in_a_warning_and_the_rest_still_fixed() {
    let Some(kubectl) = kubectl() else { return };
    let work = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-kustomize/smp-patch-file/input");
    copy(&case, work.path());
    // `.invalid` never resolves: the same offline as on a machine without network.
    let remote = "https://git.invalid/example/web//manifests?ref=v1.4.2";
    std::fs::create_dir(work.path().join("remote")).unwrap();
    std::fs::write(
        work.path().join("remote/kustomization.yaml"),
        format!("resources:\n  - {remote}\n"),
    )
    .unwrap();
    let out = rendered::kubeharden((KUBECTL_ENV, &kubectl), work.path(), &["fix", "."]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("remote/kustomization.yaml:1: kustomize:")
            && err.contains(remote)
            && err.contains("its built output was not checked"),
        "{err}"
    );
    let fixed = std::fs::read_to_string(work.path().join("base/deployment.yaml")).unwrap();
    assert!(fixed.contains("allowPrivilegeEscalation: false"), "{fixed}");
}

/// A stand-in for helm v3 in `dir`: kubectl v1.35's kustomize (v5.7) inflates `helmCharts`
/// only with helm v3 and asks `helm version -c`, which helm v4 refuses (kustomize#6013, fixed
/// in kustomize v5.8); the stand-in answers the version and hands the rest to `helm`.
fn helm_v3_stand_in(dir: &Path, helm: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("helm-v3");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo v3.17.0; exit 0; fi\nexec '{}' \"$@\"\n",
            helm.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn a_helm_charts_generator_is_hardened_through_a_new_kubeharden_patch_in_its_kustomization() {
    let (Some(kubectl), Some(helm)) = (kubectl(), common::helm()) else {
        return;
    };
    let tools = tempfile::tempdir().unwrap();
    let helm = helm_v3_stand_in(tools.path(), &helm);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(app.join("charts")).unwrap();
    let created = std::process::Command::new(&helm)
        .args(["create", "charts/hello"])
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let kustomization = "# The scaffold chart, inflated by kustomize.\nhelmGlobals:\n  chartHome: charts\nhelmCharts:\n- name: hello\n  releaseName: hello\n";
    std::fs::write(app.join("kustomization.yaml"), kustomization).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "-q", "."]);
    git(&["add", "-A"]);
    let run = |args: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("kubeharden"))
            .args(args)
            .current_dir(work.path())
            .env(KUBECTL_ENV, &kubectl)
            .env("KUBEHARDEN_HELM", &helm)
            .output()
            .unwrap()
    };
    let dry = run(&["fix", "--dry-run", "app"]);
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    let diff = String::from_utf8(dry.stdout).unwrap();
    assert!(
        diff.contains("diff --git a/app/kubeharden-patch.yaml b/app/kubeharden-patch.yaml\nnew file mode 100644\n--- /dev/null\n+++ b/app/kubeharden-patch.yaml\n"),
        "{diff}"
    );
    // The chart is part of the kustomization's build: never fixed as a chart of its own.
    assert!(!diff.contains("values.yaml"), "{diff}");
    let check = with_input(
        std::process::Command::new("git")
            .args(["apply", "--check", "-"])
            .current_dir(work.path()),
        diff.as_bytes(),
    );
    assert!(
        check.status.success(),
        "git apply refuses the diff ({}):\n{diff}",
        stderr(&check)
    );
    let fixed = run(&["fix", "app"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stderr(&fixed));
    let after = std::fs::read_to_string(app.join("kustomization.yaml")).unwrap();
    assert_eq!(
        after,
        format!("{kustomization}patches:\n- path: kubeharden-patch.yaml\n")
    );
    let patch = std::fs::read_to_string(app.join("kubeharden-patch.yaml")).unwrap();
    assert!(
        patch.starts_with("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\n"),
        "{patch}"
    );
    let again = run(&["fix", "app"]);
    assert!(
        stderr(&again).contains(" 0 changed, "),
        "{}",
        stderr(&again)
    );
    // The built output now needs nothing more.
    let built = std::process::Command::new(&kubectl)
        .args(["kustomize", "--enable-helm", "--helm-command"])
        .arg(&helm)
        .arg(&app)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    let check = check_built(&built.stdout);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn the_report_and_pr_body_name_the_new_overlay_patch_as_the_source_of_its_changes() {
    let Some(kubectl) = kubectl() else { return };
    let work = tempfile::tempdir().unwrap();
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-kustomize/base-outside-the-tree/input");
    copy(&case, work.path());
    let out = fix_app_with_report_and_pr_body(&kubectl, work.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = report_json(work.path());
    let patch = "app/overlays/prod/kubeharden-patch.yaml";
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == patch)
        .unwrap_or_else(|| panic!("{patch} not in the report: {report}"));
    let changes = file["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["transform"] == "no-privileged"
            && c["path"] == "spec.template.spec.containers[0].securityContext.privileged"),
        "{file}"
    );
    let body = std::fs::read_to_string(work.path().join("body.md")).unwrap();
    assert!(
        body.contains(&format!("| `{patch}` | Deployment `prod-web` in `shop` |")),
        "{body}"
    );
}

#[test]
fn findings_on_a_built_workload_are_reported_once_on_the_file_it_came_from() {
    let Some(kubectl) = kubectl() else { return };
    let work = tempfile::tempdir().unwrap();
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-kustomize/base-outside-the-tree/input");
    copy(&case, work.path());
    // A second overlay building the same outside base: its findings are the same findings.
    let staging = work.path().join("app/overlays/staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(
        staging.join("kustomization.yaml"),
        "resources:\n- ../../../vendor/web\nnamePrefix: staging-\n",
    )
    .unwrap();
    let out = fix_app_with_report_and_pr_body(&kubectl, work.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let warning = "warning: vendor/web/deployment.yaml:18: rolling-update: Deployment/web: container app has no readinessProbe";
    assert_eq!(err.matches(warning).count(), 1, "{err}");
    let report = report_json(work.path());
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "vendor/web/deployment.yaml")
        .unwrap_or_else(|| panic!("the base's file not in the report: {report}"));
    let findings = file["findings"].as_array().unwrap();
    let rolling: Vec<&Value> = findings
        .iter()
        .filter(|f| f["transform"] == "rolling-update")
        .collect();
    assert_eq!(rolling.len(), 1, "{file}");
    assert_eq!(rolling[0]["resource"]["name"], "web", "{file}");
    let body = std::fs::read_to_string(work.path().join("body.md")).unwrap();
    assert!(
        body.contains("`vendor/web/deployment.yaml:18` warning `rolling-update`"),
        "{body}"
    );
}

/// `kubeharden fix --dry-run` of the folder `app` in `dir`, writing `report.json` and `body.md`.
fn fix_app_with_report_and_pr_body(kubectl: &Path, dir: &Path) -> std::process::Output {
    rendered::kubeharden(
        (KUBECTL_ENV, kubectl),
        dir,
        &[
            "fix",
            "--dry-run",
            "--report",
            "report.json",
            "--pr-body",
            "body.md",
            "app",
        ],
    )
}

/// The JSON report `report.json` in `dir`.
fn report_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}
