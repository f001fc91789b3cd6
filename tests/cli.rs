//! Drives the real binary: exit codes, diff headers, in-place writes, standard input, folders
//! and every kind of bad input.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

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
  volumes:
  - name: tmp
    emptyDir: {}
";

fn kubeharden(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
            .ends_with("emptyDir: {}")
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
    let cases: [(&[u8], &str); 6] = [
        (
            b"profil: restricted\n",
            "unknown field `profil`, expected one of profile, only, skip, transforms, exclude, secret-readers",
        ),
        (
            b"skip: [no-such]\n",
            "unknown transform `no-such`; the transforms are: no-privileged,",
        ),
        (
            b"transforms:\n  rolling-update:\n    max-surg: 1\n",
            "unknown option `max-surg` of rolling-update; its options are: max-unavailable, max-surge",
        ),
        (
            b"profile: lax\n",
            "unknown profile `lax`; the profiles are: default, restricted",
        ),
        (
            b"secret-readers:\n  - images: [example/api]\n    variables: [DB_PASSWORD]\n",
            "the secret reader of example/api needs either `suffix` or `file-variable`",
        ),
        (
            b"secret-readers:\n  - images: [example/api]\n    prefix: A_\n    file-variable: A_PATH\n",
            "the secret reader of example/api: `file-variable` goes with `variables`, not `prefix`",
        ),
    ];
    for (config, expected) in cases {
        let dir = folder_with(&[("cfg.yaml", config), ("pod.yaml", BARE_POD.as_bytes())]);
        let out = kubeharden(dir.path(), &["fix", "--config", "cfg.yaml", "pod.yaml"]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: cfg.yaml: ") && err.contains(expected),
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
    let out = kubeharden(Path::new("."), &["explain", "read-only-root-filesystem"]);
    let text = stdout(&out);
    assert!(text.starts_with("read-only-root-filesystem: "), "{text}");
    for part in [
        "safety: needs-review",
        "CKV_K8S_22",
        "tmp-volume (default true)",
        "+         readOnlyRootFilesystem: true",
        "# kubeharden: ignore[read-only-root-filesystem]",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
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
    image: agent
    securityContext:
      privileged: true # kubeharden: ignore[no-privileged]
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
