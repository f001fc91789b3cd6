//! Drives the real binary over what PATH arguments can name: standard input under another
//! name, FIFOs, symbolic links, git work trees (tracked, ignored and submodule files), diff
//! headers that `git apply` takes from the repository's top level, duplicated keys, and inputs
//! kubeharden cannot edit (UTF-16, bare CR line breaks, explicit keys), each named in one line.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command as Process, Output, Stdio};

use assert_cmd::Command;
use tempfile::TempDir;

const PRIVILEGED_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx
    securityContext:
      privileged: true
";

/// Runs kubeharden in `dir` with git isolated from the machine's configuration.
fn kubeharden(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
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

/// The one error line of fixing a file holding `contents`, with exit 2 and the file untouched.
fn single_error(name: &str, contents: &[u8]) -> String {
    let dir = TempDir::new().unwrap();
    write(dir.path(), name, contents);
    let out = kubeharden(dir.path(), &["fix", name]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(fs::read(dir.path().join(name)).unwrap(), contents);
    stderr(&out).lines().next().unwrap_or_default().to_owned()
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
