//! Drives the real binary through the transforms that need a choice: the opt-in ones
//! (`image-pull-always`, and `default-deny-network-policy`, whose fix is a new file that `git
//! apply` and `patch -p1` take from the dry run's diff) and the options without a default
//! (`run-as-user`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command as Process, Stdio};

use assert_cmd::Command;
use tempfile::TempDir;

mod common;
use common::binary::{TIMEOUT, kubeharden, stderr};

const SHOP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
";

const BILLING_WITH_POLICY: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: report
  namespace: billing
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: report
          image: busybox:1.36
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-reports
  namespace: billing
spec:
  podSelector: {}
";

fn repository(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    for (name, contents) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    git(dir.path(), &["init", "-q", "."]);
    dir
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Process::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn default_deny_network_policy_writes_a_new_file_once_and_only_when_named() {
    let dir = repository(&[
        ("deploy/shop.yaml", SHOP),
        ("deploy/billing/job.yaml", BILLING_WITH_POLICY),
    ]);
    let only = ["--only", "default-deny-network-policy"];
    let policy = dir.path().join("deploy/default-deny-network-policy.yaml");

    // In no profile: without naming it, nothing is written.
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--profile", "strict", "."],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("default-deny"));

    // The dry run prints a git-style new file that git apply and patch -p1 both take.
    let out = kubeharden(
        dir.path(),
        &[&["fix", "--dry-run"][..], &only, &["."]].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        diff.starts_with(
            "diff --git a/deploy/default-deny-network-policy.yaml b/deploy/default-deny-network-policy.yaml\nnew file mode 100644\n--- /dev/null\n+++ b/deploy/default-deny-network-policy.yaml\n@@ -0,0 +1,12 @@\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("+  namespace: shop\n") && !diff.contains("billing"),
        "{diff}"
    );
    assert!(!policy.exists(), "a dry run wrote the policy");
    assert!(
        stderr(&out).contains("a new policy for namespace shop (where Deployment/web runs): all incoming traffic to its pods is denied until NetworkPolicies allow it"),
        "{}",
        stderr(&out)
    );
    fs::write(dir.path().join("policy.diff"), &diff).unwrap();
    let applied = git(dir.path(), &["apply", "--check", "policy.diff"]);
    assert!(applied.status.success(), "{applied:?}");
    let patched = Process::new("patch")
        .current_dir(dir.path())
        .args(["-p1", "--dry-run", "-i", "policy.diff"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(patched.success());
    fs::remove_file(dir.path().join("policy.diff")).unwrap();

    // In place: the new file, readable by all, holds what the diff showed.
    let out = kubeharden(dir.path(), &[&["fix"][..], &only, &["."]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = fs::read_to_string(&policy).unwrap();
    let added: String = diff
        .lines()
        .skip(5)
        .map(|l| format!("{}\n", &l[1..]))
        .collect();
    assert_eq!(written, added);
    assert_eq!(
        fs::metadata(&policy).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // A second run sees the policy, walking the folder or beside a file named alone.
    for path in [".", "deploy/shop.yaml"] {
        let out = kubeharden(
            dir.path(),
            &[&["fix", "--dry-run"][..], &only, &[path]].concat(),
        );
        assert_eq!(out.status.code(), Some(0), "{path}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }

    // An existing file of that name that holds no policy for the namespace is never written.
    fs::write(&policy, "# our own\n").unwrap();
    let out = kubeharden(
        dir.path(),
        &[&["fix"][..], &only, &["deploy/shop.yaml"]].concat(),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fs::read_to_string(&policy).unwrap(), "# our own\n");
    assert!(
        stderr(&out).contains("warning: deploy/shop.yaml:1: default-deny-network-policy: Deployment/web: namespace shop has no NetworkPolicy in the input, and deploy/default-deny-network-policy.yaml exists already"),
        "{}",
        stderr(&out)
    );

    // Options: another file name, and egress denied too.
    fs::write(
        dir.path().join(".kubeharden.yaml"),
        "only: [default-deny-network-policy]\ntransforms:\n  default-deny-network-policy:\n    file-name: netpol.yaml\n    egress: true\n",
    )
    .unwrap();
    let out = kubeharden(dir.path(), &["fix", "deploy/shop.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = fs::read_to_string(dir.path().join("deploy/netpol.yaml")).unwrap();
    assert!(
        written.ends_with("  policyTypes:\n    - Ingress\n    - Egress\n"),
        "{written}"
    );
}

#[test]
fn standard_input_has_no_folder_for_a_network_policy_and_says_so() {
    let out = Command::cargo_bin("kubeharden")
        .unwrap()
        .args(["fix", "--only", "default-deny-network-policy", "-"])
        .write_stdin(SHOP)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), SHOP);
    assert!(
        stderr(&out).contains("skipped: -:1: default-deny-network-policy: Deployment/web: namespace shop has no NetworkPolicy in the input; default-deny-network-policy writes one into a new file beside the workloads, and standard input has no folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn image_pull_always_runs_only_when_named() {
    let dir = repository(&[("shop.yaml", SHOP)]);
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--profile", "strict", "shop.yaml"],
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("imagePullPolicy"));
    fs::write(
        dir.path().join(".kubeharden.yaml"),
        "only: [image-pull-always]\n",
    )
    .unwrap();
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "shop.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("           image: nginx:1.27\n+          imagePullPolicy: Always\n")
    );
}

#[test]
fn run_as_user_options_take_whole_numbers_and_explain_shows_no_default() {
    let dir = repository(&[
        ("shop.yaml", SHOP),
        (
            ".kubeharden.yaml",
            "transforms:\n  run-as-user:\n    uid: ten\n",
        ),
    ]);
    let out = kubeharden(dir.path(), &["fix", "shop.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            ".kubeharden.yaml:3:5: option `uid` of run-as-user takes a whole number, not `ten`"
        ),
        "{}",
        stderr(&out)
    );
    let out = kubeharden(Path::new("."), &["explain", "run-as-user"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("  uid (default none): the runAsUser written into pods that set none"),
        "{text}"
    );
    let out = kubeharden(Path::new("."), &["explain", "default-deny-network-policy"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("profile: opt-in\n"), "{text}");
    assert!(
        text.contains(
            "a new file beside it:\n+ # Written by kubeharden (default-deny-network-policy).\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("`skip: [default-deny-network-policy]`"),
        "{text}"
    );
    let out = kubeharden(Path::new("."), &["explain", "host-path-read-only"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("  /var/lib/kubelet: kubelet plugins (CSI drivers, device plugins) create their sockets and mount volumes there\n"),
        "{text}"
    );
}
