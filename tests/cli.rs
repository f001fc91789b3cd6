//! Drives the real binary: exit codes, diff headers, in-place writes, standard input, folders
//! and every kind of bad input; and what PATH arguments can name: standard input under another
//! name, FIFOs, symbolic links, git work trees (tracked, ignored and submodule files), diff
//! headers that `git apply` takes from the repository's top level, duplicated keys, and inputs
//! kubeharden cannot edit (UTF-16, bare CR line breaks, explicit keys), each named in one line.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command as Process, Output, Stdio};

use assert_cmd::Command;
use tempfile::TempDir;

mod common;
use common::binary::{kubeharden, stderr};

const PRIVILEGED_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web # the server
    image: nginx
    securityContext:
      privileged: true
";

const FIXED_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web # the server
    image: nginx
    securityContext:
      privileged: false
      allowPrivilegeEscalation: false
      capabilities:
        drop:
        - ALL
      readOnlyRootFilesystem: true
    volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: var-cache-nginx
      mountPath: /var/cache/nginx
    - name: var-run
      mountPath: /var/run
  volumes:
  - name: tmp
    emptyDir: {}
  - name: var-cache-nginx
    emptyDir: {}
  - name: var-run
    emptyDir: {}
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  automountServiceAccountToken: false
";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn folder_with(files: &[(&str, &[u8])]) -> TempDir {
    let dir = TempDir::new().unwrap();
    for (name, contents) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    dir
}

#[test]
fn dry_run_prints_a_git_style_diff_exits_1_and_writes_nothing() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED_POD.as_bytes())]);
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.starts_with("diff --git a/pod.yaml b/pod.yaml\n--- a/pod.yaml\n+++ b/pod.yaml\n"),
        "{diff}"
    );
    assert!(
        diff.contains("-      privileged: true\n+      privileged: false\n"),
        "{diff}"
    );
    assert!(
        !diff.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("pod.yaml")).unwrap(),
        PRIVILEGED_POD
    );
    assert!(
        stderr(&out).contains("1 file scanned, 1 would change, 0 errors"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_dry_run_diff_applies_with_git_apply_to_the_in_place_result() {
    let dir = folder_with(&[
        ("deploy/pod.yaml", PRIVILEGED_POD.as_bytes()),
        (
            "deploy/crlf.yaml",
            PRIVILEGED_POD.replace('\n', "\r\n").as_bytes(),
        ),
        (
            "deploy/no-newline.yaml",
            PRIVILEGED_POD.trim_end().as_bytes(),
        ),
    ]);
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "deploy"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    fs::write(dir.path().join("fix.patch"), &out.stdout).unwrap();
    let applied = dir.path().join("applied");
    fs::create_dir(&applied).unwrap();
    std::process::Command::new("cp")
        .args(["-r", "deploy", "applied/"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    let git = std::process::Command::new("git")
        .args(["apply", "--directory=applied", "fix.patch"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(git.status.success(), "git apply failed: {}", stderr(&git));
    let out = kubeharden(dir.path(), &["fix", "deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in ["pod.yaml", "crlf.yaml", "no-newline.yaml"] {
        let written = fs::read(dir.path().join("deploy").join(name)).unwrap();
        let patched = fs::read(applied.join("deploy").join(name)).unwrap();
        assert_eq!(
            written, patched,
            "{name}: the patched file differs from the in-place result"
        );
    }
    assert_eq!(
        fs::read_to_string(dir.path().join("deploy/pod.yaml")).unwrap(),
        FIXED_POD
    );
    assert!(
        fs::read_to_string(dir.path().join("deploy/crlf.yaml"))
            .unwrap()
            .contains("privileged: false\r\n")
    );
    assert!(
        fs::read_to_string(dir.path().join("deploy/no-newline.yaml"))
            .unwrap()
            .ends_with("automountServiceAccountToken: false")
    );
}

#[test]
fn in_place_keeps_the_mode_and_a_second_run_touches_nothing() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED_POD.as_bytes())]);
    let path = dir.path().join("pod.yaml");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let out = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&path).unwrap(), FIXED_POD);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(stdout(&out).is_empty());

    let before = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        fs::metadata(&path).unwrap().modified().unwrap(),
        before,
        "an unchanged file was rewritten"
    );
    let dry = kubeharden(dir.path(), &["fix", "--dry-run", "pod.yaml"]);
    assert_eq!(dry.status.code(), Some(0), "nothing left to change");
    assert!(stdout(&dry).is_empty());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn standard_input_goes_to_standard_output() {
    let dir = TempDir::new().unwrap();
    let out = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir.path())
        .args(["fix", "-"])
        .write_stdin(PRIVILEGED_POD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), FIXED_POD);

    let unchanged = Command::cargo_bin("kubeharden")
        .unwrap()
        .args(["fix", "-"])
        .write_stdin(FIXED_POD)
        .output()
        .unwrap();
    assert_eq!(unchanged.status.code(), Some(0));
    assert_eq!(
        stdout(&unchanged),
        FIXED_POD,
        "unchanged input is still passed through"
    );

    let dry = Command::cargo_bin("kubeharden")
        .unwrap()
        .args(["fix", "--dry-run", "-"])
        .write_stdin(PRIVILEGED_POD)
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(1));
    assert!(
        stdout(&dry).contains("--- a/-\n+++ b/-\n"),
        "{}",
        stdout(&dry)
    );
}

#[test]
fn a_bad_file_gives_exit_2_and_the_others_are_still_fixed() {
    let dir = folder_with(&[
        ("bad.yaml", b"apiVersion: v1\nkind: Pod\nspec: [unclosed\n"),
        ("pod.yaml", PRIVILEGED_POD.as_bytes()),
    ]);
    let out = kubeharden(dir.path(), &["fix", "bad.yaml", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    assert!(
        error_lines[0].starts_with("error: bad.yaml:3:7: unclosed bracket"),
        "{err}"
    );
    assert_eq!(
        fs::read(dir.path().join("bad.yaml")).unwrap(),
        b"apiVersion: v1\nkind: Pod\nspec: [unclosed\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("pod.yaml")).unwrap(),
        FIXED_POD
    );
    assert!(err.contains("2 files scanned, 1 changed, 1 error"), "{err}");
}

/// Runs `fix` on one bad input named on the command line and returns its single error line.
fn single_error(name: &str, contents: &[u8]) -> String {
    let dir = folder_with(&[(name, contents)]);
    let out = kubeharden(dir.path(), &["fix", name]);
    assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
    assert_eq!(
        fs::read(dir.path().join(name)).unwrap(),
        contents,
        "{name} was modified"
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_owned()
}

#[test]
fn invalid_utf8_is_reported_with_its_position() {
    let line = single_error(
        "latin1.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n",
    );
    assert_eq!(
        line,
        "error: latin1.yaml:4:12: not valid UTF-8; save the file as UTF-8"
    );
}

#[test]
fn a_binary_file_is_reported() {
    let line = single_error("blob.yaml", b"\x00\x01\x02kind: Pod\n");
    assert_eq!(
        line,
        "error: blob.yaml:1:1: a binary file (NUL byte), not a manifest"
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let mut deep = "a: ".to_string();
    deep.push_str(&"[".repeat(100_000));
    let line = single_error("deep.yaml", deep.as_bytes());
    assert!(line.starts_with("error: deep.yaml:1:"), "{line}");

    let mut block = String::new();
    for depth in 0..5_000 {
        block.push_str(&format!("{}k:\n", " ".repeat(depth)));
    }
    let line = single_error("deep-block.yaml", block.as_bytes());
    assert!(line.starts_with("error: deep-block.yaml:"), "{line}");
}

#[test]
fn an_alias_bomb_is_refused_quickly() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(",");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let line = single_error("bomb.yaml", bomb.as_bytes());
    assert!(line.contains("alias bomb"), "{line}");
}

#[test]
fn a_helm_template_named_on_the_command_line_gets_a_hint() {
    let template = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n{{- if .Values.x }}\nspec: {}\n{{- end }}\n";
    let line = single_error("deployment.yaml", template);
    assert!(
        line.starts_with("error: deployment.yaml:4:9: a Helm template"),
        "{line}"
    );
    assert!(
        line.contains("helm template … | kubeharden fix -"),
        "{line}"
    );
}

#[test]
fn a_folder_walk_skips_helm_templates_non_manifests_and_gitignored_files() {
    let dir = folder_with(&[
        (
            "repo/chart/templates/deployment.yaml",
            b"kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
        ),
        (
            "repo/.github/workflows/ci.yaml",
            b"on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    privileged: true\n",
        ),
        (
            "repo/values.yaml",
            b"securityContext:\n  privileged: true\n",
        ),
        ("repo/ignored/pod.yaml", PRIVILEGED_POD.as_bytes()),
        ("repo/.gitignore", b"ignored/\n"),
        ("repo/notes.txt", PRIVILEGED_POD.as_bytes()),
        ("repo/apps/pod.yml", PRIVILEGED_POD.as_bytes()),
        (
            "repo/apps/alert-rules.yaml",
            b"apiVersion: v1\nkind: ConfigMap\ndata:\n  rule: \"{{ $labels.instance }} is down\"\n",
        ),
    ]);
    let out = kubeharden(dir.path(), &["fix", "repo"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("5 files scanned, 1 changed, 0 errors, 1 Helm template skipped"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("repo/apps/pod.yml")).unwrap(),
        FIXED_POD
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("repo/ignored/pod.yaml")).unwrap(),
        PRIVILEGED_POD
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("repo/notes.txt")).unwrap(),
        PRIVILEGED_POD
    );
    assert!(
        fs::read_to_string(dir.path().join("repo/values.yaml"))
            .unwrap()
            .contains("privileged: true")
    );
    assert!(
        fs::read_to_string(dir.path().join("repo/.github/workflows/ci.yaml"))
            .unwrap()
            .contains("privileged: true")
    );
}

#[test]
fn an_edit_through_an_alias_is_refused_with_a_warning_and_the_rest_is_fixed() {
    let shared = "\
apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  hostPID: true
  containers:
  - name: a
    image: a
    securityContext: &sc
      runAsUser: 1000
  - name: b
    image: b
    securityContext: *sc
";
    let dir = folder_with(&[("pod.yaml", shared.as_bytes())]);
    let out = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: pod.yaml:"), "{err}");
    assert!(err.contains("&sc"), "{err}");
    let written = fs::read_to_string(dir.path().join("pod.yaml")).unwrap();
    assert!(written.contains("hostPID: false"), "{written}");
    assert!(
        written.contains("securityContext: &sc\n      runAsUser: 1000\n  - name: b"),
        "the anchor was edited: {written}"
    );
}

#[test]
fn a_missing_path_is_an_error_and_other_paths_proceed() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED_POD.as_bytes())]);
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "missing.yaml", "pod.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: missing.yaml: "),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("+++ b/pod.yaml"));
}

#[test]
fn colour_is_used_when_asked() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED_POD.as_bytes())]);
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--color", "always", "pod.yaml"],
    );
    assert!(
        stdout(&out).contains("\x1b[32m+      privileged: false\x1b[0m\n"),
        "{:?}",
        stdout(&out)
    );
}

const BARE_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx
";

#[test]
fn the_nearest_configuration_file_sets_profile_options_and_exclusions() {
    let dir = folder_with(&[
        ("repo/.kubeharden.yaml", b"profile: restricted\nskip: [drop-capabilities]\ntransforms:\n  read-only-root-filesystem:\n    tmp-volume: false\nexclude: [\"legacy/**\"]\n"),
        ("repo/app/pod.yaml", BARE_POD.as_bytes()),
        ("repo/legacy/pod.yaml", BARE_POD.as_bytes()),
        ("elsewhere/pod.yaml", BARE_POD.as_bytes()),
    ]);
    let out = kubeharden(dir.path(), &["fix", "repo", "elsewhere"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 excluded by configuration"), "{err}");
    let app = fs::read_to_string(dir.path().join("repo/app/pod.yaml")).unwrap();
    assert!(
        app.contains("runAsNonRoot: true"),
        "the restricted profile applies: {app}"
    );
    assert!(
        !app.contains("drop:"),
        "drop-capabilities is skipped: {app}"
    );
    assert!(
        app.contains("readOnlyRootFilesystem: true") && !app.contains("/tmp"),
        "tmp-volume is off: {app}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("repo/legacy/pod.yaml")).unwrap(),
        BARE_POD
    );
    let elsewhere = fs::read_to_string(dir.path().join("elsewhere/pod.yaml")).unwrap();
    assert!(
        elsewhere.contains("mountPath: /tmp") && !elsewhere.contains("runAsNonRoot"),
        "defaults apply outside: {elsewhere}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("repo/.kubeharden.yaml"))
            .unwrap()
            .lines()
            .next(),
        Some("profile: restricted")
    );
}

#[test]
fn the_command_line_wins_over_the_configuration_file() {
    let dir = folder_with(&[
        (".kubeharden.yaml", b"profile: restricted\n"),
        ("pod.yaml", BARE_POD.as_bytes()),
    ]);
    let out = kubeharden(
        dir.path(),
        &[
            "fix",
            "--profile",
            "default",
            "--only",
            "no-privileged",
            "pod.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pod = fs::read_to_string(dir.path().join("pod.yaml")).unwrap();
    assert!(
        pod.ends_with("    securityContext:\n      privileged: false\n"),
        "{pod}"
    );
}

#[test]
fn a_configuration_file_above_the_repository_is_not_used() {
    let dir = folder_with(&[
        (".kubeharden.yaml", b"only: [no-host-namespaces]\n"),
        ("plain/pod.yaml", PRIVILEGED_POD.as_bytes()),
        ("repo/.git/HEAD", b"ref: refs/heads/main\n"),
        ("repo/pod.yaml", PRIVILEGED_POD.as_bytes()),
    ]);
    // Outside a repository the file above applies: only no-host-namespaces, nothing to do.
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "plain/pod.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Inside one it does not: the default profile runs.
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "repo/pod.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("+      privileged: false"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn configuration_errors_name_the_problem_and_the_valid_choices() {
    let cases: [(&[u8], &str, &str); 9] = [
        (
            b"profil: restricted\n",
            "1:1",
            "unknown field `profil`, expected one of profile, only, skip, transforms, exclude, helm, kubectl, values, secret-readers",
        ),
        (
            b"skip: [no-such]\n",
            "1:8",
            "unknown transform `no-such`; the transforms are: no-privileged,",
        ),
        (
            b"transforms:\n  rolling-update:\n    max-surg: 1\n",
            "3:5",
            "unknown option `max-surg` of rolling-update; its options are: max-unavailable, max-surge",
        ),
        (
            b"profile: lax\n",
            "1:1",
            "unknown profile `lax`; the profiles are: default, restricted",
        ),
        (
            b"transforms:\n  read-only-root-filesystem:\n    writable-paths: true\n",
            "3:5",
            "option `writable-paths` of read-only-root-filesystem takes a table `name: [item, \u{2026}]`, like `{}`, not `true`",
        ),
        (
            b"transforms:\n  read-only-root-filesystem:\n    tmp-volume: {app: [/x]}\n",
            "3:5",
            "option `tmp-volume` of read-only-root-filesystem takes true or false, like `true`, not `{app: [/x]}`",
        ),
        (
            b"transforms:\n  read-only-root-filesystem:\n    writable-paths: {myorg/app: [var/cache]}\n",
            "3:5",
            "option `writable-paths` of read-only-root-filesystem: the folder `var/cache` written by myorg/app is not an absolute path",
        ),
        (
            b"secret-readers:\n  - images: [example/api]\n    variables: [DB_PASSWORD]\n",
            "2:5",
            "the secret reader of example/api needs either `suffix` or `file-variable`",
        ),
        (
            b"secret-readers:\n  - images: [example/api]\n    prefix: A_\n    file-variable: A_PATH\n",
            "2:5",
            "the secret reader of example/api: `file-variable` goes with `variables`, not `prefix`",
        ),
    ];
    for (config, place, expected) in cases {
        let dir = folder_with(&[("cfg.yaml", config), ("pod.yaml", BARE_POD.as_bytes())]);
        let out = kubeharden(dir.path(), &["fix", "--config", "cfg.yaml", "pod.yaml"]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: cfg.yaml:{place}: ")) && err.contains(expected),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("pod.yaml")).unwrap(),
            BARE_POD
        );
    }
    let out = kubeharden(Path::new("."), &["fix", "--skip", "nope", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: unknown transform `nope`; the transforms are: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn transforms_lists_every_declaration_and_explain_shows_one() {
    let out = kubeharden(Path::new("."), &["transforms"]);
    assert_eq!(out.status.code(), Some(0));
    let table = stdout(&out);
    for t in kubeharden::transform::all() {
        assert!(
            table.contains(&format!(
                "| `{}` | {} | {} | {} |",
                t.id, t.profile, t.safety, t.title
            )),
            "{table}"
        );
    }
    let explains = |id: &str, parts: &[&str]| {
        let out = kubeharden(Path::new("."), &["explain", id]);
        let text = stdout(&out);
        assert!(text.starts_with(&format!("{id}: ")), "{text}");
        for part in parts {
            assert!(text.contains(part), "missing {part:?} in:\n{text}");
        }
    };
    explains(
        "read-only-root-filesystem",
        &[
            "safety: needs-review",
            "CKV_K8S_22",
            "tmp-volume (default true)",
            "writable-paths (default {})",
            "  nginx: /var/cache/nginx, /var/run\n    source: https://hub.docker.com/_/nginx",
            "  memcached: nothing",
            "+         readOnlyRootFilesystem: true",
            "# kubeharden: ignore[read-only-root-filesystem]",
        ],
    );
    explains(
        "drop-capabilities",
        &[
            "  chown, chgrp: CHOWN, DAC_OVERRIDE\n",
            "  install (with -o, -g, --owner, --group): CHOWN\n",
        ],
    );
    explains(
        "no-service-account-token",
        &[
            "profile: default\nsafety: needs-review",
            "CKV_K8S_38, CKV_K8S_41",
            "ignore-evidence (default false)",
            "+       automountServiceAccountToken: false",
        ],
    );
    explains(
        "apparmor-runtime-default",
        &["profile: restricted", "+     appArmorProfile:"],
    );
    let out = kubeharden(Path::new("."), &["explain", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn warnings_skips_and_suppressions_are_reported_and_counted() {
    let pod = "\
apiVersion: v1
kind: Pod
metadata:
  name: agent
  annotations:
    kubeharden.dev/skip: read-only-root-filesystem
spec:
  volumes:
  - name: sock
    hostPath:
      path: /var/run/docker.sock
  containers:
  - name: agent # kubeharden: ignore[drop-capabilities]
    image: agent:1
    securityContext:
      privileged: true # kubeharden: ignore[no-privileged]
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  automountServiceAccountToken: false
";
    let dir = folder_with(&[("pod.yaml", pod.as_bytes())]);
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "pod.yaml"]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "everything was suppressed or skipped: {err}"
    );
    assert!(
        err.contains("warning: pod.yaml:9: no-host-path: Pod/agent: mounts host paths"),
        "{err}"
    );
    assert!(
        err.contains("skipped: pod.yaml:")
            && err.contains(
                "no-privilege-escalation: Pod/agent container agent: the container is privileged"
            ),
        "{err}"
    );
    assert!(
        err.contains("1 warning, 1 fix skipped, 3 suppressed"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn secrets_as_files_options_set_the_mount_root_and_leave_out_the_file_vars() {
    let pod = "\
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
  - name: app
    image: example/app:1
    env:
    - name: MODE
      value: prod
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: db
          key: password
  - name: sidecar
    image: example/sidecar:1
    env:
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: db
          key: password
";
    let dir = folder_with(&[
        (
            ".kubeharden.yaml",
            b"transforms:\n  secrets-as-files:\n    convert-all: true\n    file-env: false\n    mount-root: /run/secrets/\n",
        ),
        ("pod.yaml", pod.as_bytes()),
    ]);
    let out = kubeharden(
        dir.path(),
        &["fix", "--only", "secrets-as-files", "pod.yaml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fixed = fs::read_to_string(dir.path().join("pod.yaml")).unwrap();
    assert_eq!(
        fixed,
        "\
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
  - name: app
    image: example/app:1
    env:
    - name: MODE
      value: prod
    volumeMounts:
    - name: db
      mountPath: /run/secrets/db
      readOnly: true
  - name: sidecar
    image: example/sidecar:1
    volumeMounts:
    - name: db
      mountPath: /run/secrets/db
      readOnly: true
  volumes:
  - name: db
    secret:
      secretName: db
      items:
      - key: password
        path: password
"
    );
}

const NODE_AGENT: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  updateStrategy:
    type: OnDelete
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      hostNetwork: true
      containers:
      - name: agent
        image: agent:2.1
        securityContext:
          privileged: true
";

#[test]
fn evidence_keeps_host_access_unless_an_option_or_the_strict_profile_says_otherwise() {
    let dir = folder_with(&[("agent.yaml", NODE_AGENT.as_bytes())]);
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "agent.yaml"]);
    let (diff, err) = (stdout(&out), stderr(&out));
    assert!(
        !diff.contains("hostNetwork: false") && !diff.contains("privileged: false"),
        "{diff}"
    );
    assert!(
        err.contains("no-host-namespaces: DaemonSet/agent: kept hostNetwork: true: it shows a need for host access (DaemonSet)"),
        "{err}"
    );
    assert!(
        err.contains("container agent: kept securityContext.privileged: true"),
        "{err}"
    );

    for (config, args) in [
        (
            &b"transforms:\n  no-host-namespaces:\n    ignore-evidence: true\n"[..],
            &["fix", "--dry-run", "agent.yaml"][..],
        ),
        (
            &b""[..],
            &["fix", "--dry-run", "--profile", "strict", "agent.yaml"][..],
        ),
    ] {
        let dir = folder_with(&[
            (".kubeharden.yaml", config),
            ("agent.yaml", NODE_AGENT.as_bytes()),
        ]);
        let out = kubeharden(dir.path(), args);
        let diff = stdout(&out);
        assert!(
            diff.contains("+      hostNetwork: false"),
            "{args:?}: {diff}"
        );
        assert_eq!(
            diff.contains("+          privileged: false"),
            args.contains(&"strict"),
            "{args:?}: only strict ignores the evidence for no-privileged too: {diff}"
        );
    }
}

#[test]
fn on_delete_is_kept_unless_replace_on_delete_is_set() {
    let dir = folder_with(&[("agent.yaml", NODE_AGENT.as_bytes())]);
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--only", "rolling-update", "agent.yaml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("keeps its OnDelete update strategy"),
        "{}",
        stderr(&out)
    );
    let dir = folder_with(&[
        (
            ".kubeharden.yaml",
            b"transforms:\n  rolling-update:\n    replace-on-delete: true\n",
        ),
        ("agent.yaml", NODE_AGENT.as_bytes()),
    ]);
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--only", "rolling-update", "agent.yaml"],
    );
    assert!(
        stdout(&out).contains("+    type: RollingUpdate"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_summary_counts_the_changes_held_for_review() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED_POD.as_bytes())]);
    let out = kubeharden(
        dir.path(),
        &[
            "fix",
            "--dry-run",
            "--only",
            "no-privileged,no-privilege-escalation",
            "pod.yaml",
        ],
    );
    // no-privileged needs review, no-privilege-escalation is safe: one of the two is held.
    assert!(
        stderr(&out).ends_with("1 would change, 0 errors, 1 change held for review\n"),
        "{}",
        stderr(&out)
    );
}

fn write(dir: &Path, name: &str, contents: &[u8]) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn is_fixed(path: &Path) -> bool {
    fs::read_to_string(path)
        .unwrap()
        .contains("privileged: false")
}

/// Runs git in `dir`, isolated, as a person named Dev; panics when it fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Process::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.com"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn dev_stdin_and_a_fifo_are_read_like_standard_input_and_stay_what_they_are() {
    let dir = TempDir::new().unwrap();
    // `/dev/stdin` fed from a pipe: the fixed text on stdout, nothing renamed over it.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubeharden"))
        .current_dir(dir.path())
        .args(["fix", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PRIVILEGED_POD.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("privileged: false"),
        "{}",
        stdout(&out)
    );
    assert!(
        fs::symlink_metadata("/dev/stdin")
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // A named FIFO with a writer: read like `-`, still a FIFO afterwards.
    let fifo = dir.path().join("pod.yaml");
    let made = Process::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::write(fifo, PRIVILEGED_POD).unwrap())
    };
    let out = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("privileged: false"),
        "{}",
        stdout(&out)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

    // In a folder walk, a FIFO is left alone (reading it would wait for a writer), and counted.
    write(dir.path(), "real.yaml", PRIVILEGED_POD.as_bytes());
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 file scanned, 1 would change, 0 errors, 1 special file skipped"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_symbolic_link_edits_its_target_once_stays_a_link_and_walks_count_the_links_they_skip() {
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(root, "tree/deploy/web.yaml", PRIVILEGED_POD.as_bytes());
    write(root, "elsewhere/out.yaml", PRIVILEGED_POD.as_bytes());
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    };
    link("deploy/web.yaml", "tree/web-link.yaml");
    link("deploy/web.yaml", "tree/other-link.yaml");
    link("../elsewhere/out.yaml", "tree/out-link.yaml");
    link("deploy", "tree/folder-link");

    // Two links to one file named on the command line: the target is fixed once.
    let out = kubeharden(root, &["fix", "tree/web-link.yaml", "tree/other-link.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 file scanned, 1 changed, 0 errors"), "{err}");
    assert!(is_fixed(&root.join("tree/deploy/web.yaml")));
    for name in ["tree/web-link.yaml", "tree/other-link.yaml"] {
        assert!(
            fs::symlink_metadata(root.join(name))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{name} is no longer a link"
        );
    }

    // A link outside the tree, named: its target is fixed, and the report says so.
    let out = kubeharden(
        root,
        &["fix", "--dry-run", "--format", "json", "tree/out-link.yaml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"path\": \"tree/out-link.yaml -> elsewhere/out.yaml\""),
        "{}",
        stdout(&out)
    );
    let out = kubeharden(root, &["fix", "--dry-run", "tree/out-link.yaml"]);
    assert!(
        stdout(&out).starts_with("diff --git a/elsewhere/out.yaml b/elsewhere/out.yaml\n"),
        "{}",
        stdout(&out)
    );

    // A walk: the link into the tree is its target, already walked; the links to a folder
    // and out of the tree are left alone and counted.
    fs::write(root.join("tree/deploy/web.yaml"), PRIVILEGED_POD).unwrap();
    let out = kubeharden(root, &["fix", "tree"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("1 file scanned, 1 changed, 0 errors, 2 symbolic links skipped"),
        "{err}"
    );
    assert!(!is_fixed(&root.join("elsewhere/out.yaml")));
    assert!(
        fs::symlink_metadata(root.join("tree/web-link.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_walk_in_git_fixes_what_git_tracks_or_does_not_ignore_and_nothing_in_submodules() {
    let dir = TempDir::new().unwrap();
    // A `.gitignore` above the repository hides nothing in it.
    write(dir.path(), ".gitignore", b"*.yaml\n");
    let repo = dir.path().join("repo");
    write(
        &repo,
        "tracked/ignored-but-tracked.yaml",
        PRIVILEGED_POD.as_bytes(),
    );
    write(&repo, "apps/POD.YAML", PRIVILEGED_POD.as_bytes());
    write(&repo, "apps/pod.Yml", PRIVILEGED_POD.as_bytes());
    write(&repo, ".gitignore", b"tracked/\nbuild/\n");
    // A nested repository committed as a submodule (a gitlink).
    let sub = repo.join("vendor/sub");
    write(&sub, "pod.yaml", PRIVILEGED_POD.as_bytes());
    git(&sub, &["init", "-q"]);
    git(&sub, &["add", "pod.yaml"]);
    git(&sub, &["commit", "-q", "-m", "sub"]);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-f", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    // Untracked: one git would add, one it ignores.
    write(&repo, "apps/new.yaml", PRIVILEGED_POD.as_bytes());
    write(&repo, "build/out.yaml", PRIVILEGED_POD.as_bytes());

    let out = kubeharden(&repo, &["fix", "."]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("4 files scanned, 4 changed, 0 errors"),
        "{err}"
    );
    for name in [
        "tracked/ignored-but-tracked.yaml",
        "apps/POD.YAML",
        "apps/pod.Yml",
        "apps/new.yaml",
    ] {
        assert!(is_fixed(&repo.join(name)), "{name} was not fixed");
    }
    assert!(!is_fixed(&repo.join("build/out.yaml")));
    assert!(!is_fixed(&sub.join("pod.yaml")));

    // Nothing to walk: a hint, not a silent success.
    let out = kubeharden(&repo, &["fix", "build"]);
    let err = stderr(&out);
    assert!(err.contains("0 files scanned"), "{err}");
    assert!(err.contains("hint: no manifest found in build"), "{err}");

    // Outside git, a `.gitignore` above the folder walked is not read.
    write(dir.path(), "plain/pod.yaml", PRIVILEGED_POD.as_bytes());
    let out = kubeharden(dir.path(), &["fix", "plain"]);
    assert!(
        stderr(&out).contains("1 file scanned, 1 changed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_walk_outside_git_does_not_start_git() {
    let dir = TempDir::new().unwrap();
    let inside_git = dir.path().ancestors().any(|f| f.join(".git").exists());
    if inside_git {
        eprintln!("the temporary folder is inside a git work tree: nothing to check here");
        return;
    }
    write(dir.path(), "plain/pod.yaml", PRIVILEGED_POD.as_bytes());
    // A `git` first on PATH that leaves a mark, then fails as outside a work tree.
    let mark = dir.path().join("git-was-started");
    let script = format!("#!/bin/sh\ntouch '{}'\nexit 128\n", mark.display());
    write(dir.path(), "bin/git", script.as_bytes());
    let git = dir.path().join("bin/git");
    fs::set_permissions(&git, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir.path())
        .env("PATH", &path)
        .args(["fix", "--dry-run", "plain"])
        .timeout(common::binary::TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 file scanned"), "{}", stderr(&out));
    assert!(!mark.exists(), "git was started for a folder outside git");
    // The same `git`, asked directly, leaves its mark: the check above can fail.
    Process::new(&git).status().unwrap();
    assert!(mark.exists());
}

#[test]
fn a_duplicated_key_a_transform_reads_refuses_the_workload_with_a_warning() {
    let dir = TempDir::new().unwrap();
    let pod = PRIVILEGED_POD.replace(
        "privileged: true",
        "privileged: false\n      privileged: true\n      allowPrivilegeEscalation: true",
    );
    let other = PRIVILEGED_POD.replace("name: web\nspec", "name: other\nspec");
    write(
        dir.path(),
        "pod.yaml",
        format!("{pod}---\n{other}").as_bytes(),
    );
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "pod.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning: pod.yaml:11: kubeharden: Pod/web: `privileged` appears 2 times in one mapping (lines 10, 11)"),
        "{err}"
    );
    let diff = stdout(&out);
    // The other document is fixed; the one with the duplicate is left as it is.
    assert_eq!(
        diff.matches("-      privileged: true\n").count(),
        1,
        "{diff}"
    );
    assert_eq!(
        diff.matches("+      allowPrivilegeEscalation: false\n")
            .count(),
        1,
        "{diff}"
    );
    assert!(
        !diff.contains("-      allowPrivilegeEscalation: true"),
        "{diff}"
    );
}

#[test]
fn dry_run_diffs_name_files_as_git_diff_does_and_git_apply_takes_them_from_the_top_level() {
    let dir = TempDir::new().unwrap();
    let repo = dir.path().join("repo");
    let names = [
        "deploy/x.yaml",
        "deploy/abs.yaml",
        "other/up.yaml",
        "deploy/with space.yaml",
        "deploy/with\ttab.yaml",
        "deploy/caf\u{e9}.yaml",
    ];
    for name in names {
        write(&repo, name, PRIVILEGED_POD.as_bytes());
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let absolute = repo.join("deploy/abs.yaml");
    let deploy = repo.join("deploy");
    let out = kubeharden(
        &deploy,
        &[
            "fix",
            "--dry-run",
            "./x.yaml",
            absolute.to_str().unwrap(),
            "../other/up.yaml",
            "with space.yaml",
            "with\ttab.yaml",
            "caf\u{e9}.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let patch = dir.path().join("fix.patch");
    fs::write(&patch, &out.stdout).unwrap();
    let headers: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("diff --git") || l.starts_with("---") || l.starts_with("+++"))
        .collect();

    git(&repo, &["apply", "--check", patch.to_str().unwrap()]);
    git(&repo, &["apply", patch.to_str().unwrap()]);
    for name in names {
        assert!(is_fixed(&repo.join(name)), "{name} was not patched");
    }
    // What git itself prints for these changes, in its order (the file names sorted).
    let git_diff = git(&repo, &["diff"]);
    let mut git_headers: Vec<&str> = git_diff
        .lines()
        .filter(|l| l.starts_with("diff --git") || l.starts_with("---") || l.starts_with("+++"))
        .collect();
    let mut ours = headers.clone();
    ours.sort_unstable();
    git_headers.sort_unstable();
    assert_eq!(ours, git_headers);
    assert!(
        headers.contains(&"--- a/deploy/with space.yaml\t"),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"diff --git \"a/deploy/with\\ttab.yaml\" \"b/deploy/with\\ttab.yaml\""),
        "{headers:?}"
    );

    // `patch -p1` from the top level takes them too.
    git(&repo, &["checkout", "-q", "--", "."]);
    let patched = Process::new("patch")
        .args(["-p1", "--batch", "--no-backup-if-mismatch", "-i"])
        .arg(&patch)
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(patched.status.success(), "{}", stdout(&patched));
    assert!(is_fixed(&repo.join("deploy/with space.yaml")));
}

#[test]
fn wide_encodings_bare_cr_explicit_keys_config_errors_and_stdin_twice_are_named() {
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(PRIVILEGED_POD.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert_eq!(
        single_error("pod.yaml", &utf16),
        "error: pod.yaml:1:1: encoded in UTF-16LE (byte order mark); kubeharden reads UTF-8: convert it with `iconv -f UTF-16 -t UTF-8`"
    );
    let utf32: Vec<u8> = [0, 0, 0xFE, 0xFF]
        .into_iter()
        .chain(
            PRIVILEGED_POD
                .chars()
                .flat_map(|c| u32::from(c).to_be_bytes()),
        )
        .collect();
    assert!(
        single_error("pod.yaml", &utf32).contains("UTF-32BE (byte order mark); kubeharden reads UTF-8: convert it with `iconv -f UTF-32 -t UTF-8`")
    );

    let bare_cr = PRIVILEGED_POD.replace('\n', "\r");
    let error = single_error("pod.yaml", bare_cr.as_bytes());
    assert!(
        error.starts_with("error: pod.yaml:1:15: the lines end in a bare CR"),
        "{error}"
    );
    assert!(!error.contains("internal error"), "{error}");

    let explicit = PRIVILEGED_POD.replace("spec:\n  containers:\n", "spec:\n  ? containers\n  :\n");
    let error = single_error("pod.yaml", explicit.as_bytes());
    assert!(error.contains("explicit key (`? key`)"), "{error}");
    assert!(!error.contains("internal error"), "{error}");

    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        ".kubeharden.yaml",
        b"profile: default\nprofile: restricted\n",
    );
    write(dir.path(), "pod.yaml", PRIVILEGED_POD.as_bytes());
    let out = kubeharden(
        dir.path(),
        &["fix", "--config", ".kubeharden.yaml", "pod.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "error: .kubeharden.yaml:2:1: duplicate mapping key `profile` is not allowed here"
    );

    let out = kubeharden(dir.path(), &["fix", "-", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "error: standard input is named twice (`-`); it can be read only once"
    );
    assert!(stdout(&out).is_empty());
}
