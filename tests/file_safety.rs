//! What `kubeharden fix` does to the files around it, against the real binary: only regular
//! files are replaced; `--report` and `--pr-body` never overwrite an input and `-` is standard
//! output; a file changed during the run is left alone; owner, group, extended attributes, ACLs
//! and hard links are kept; SIGTERM leaves no temporary file; inputs have a size limit. Then a
//! property test over generated file situations: after any run, no file's bytes, mode, owner or
//! links changed but by the verified rewrite of a regular file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Std, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use tempfile::TempDir;

mod common;
use common::binary::{TIMEOUT, kubeharden, stderr};

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
  - name: app
    image: busybox
    securityContext:
      privileged: true
";

/// `text` as `kubeharden fix -` fixes it.
fn fixed(text: &str) -> String {
    let out = Command::cargo_bin("kubeharden")
        .unwrap()
        .args(["fix", "-"])
        .write_stdin(text)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn mkfifo(path: &Path) {
    let status = Std::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Whether this process may give files away (CI runs as root).
fn running_as_root(dir: &Path) -> bool {
    let probe = dir.join(".root-probe");
    fs::write(&probe, "").unwrap();
    let root = fs::metadata(&probe).unwrap().uid() == 0;
    fs::remove_file(probe).unwrap();
    root
}

/// The names in `dir` that look like kubeharden's temporary files.
fn temporary_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp"))
        .collect()
}

#[test]
fn a_fifo_named_as_a_path_is_never_replaced() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        // Blocks until kubeharden opens the FIFO to read it.
        std::thread::spawn(move || {
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(fifo)
                .and_then(|mut f| f.write_all(POD.as_bytes()));
        })
    };
    let out = kubeharden(dir.path(), &["fix", "pipe.yaml"]);
    let kind = fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(
        std::os::unix::fs::FileTypeExt::is_fifo(&kind),
        "the FIFO was replaced by a {kind:?} (exit {:?}, {})",
        out.status.code(),
        stderr(&out)
    );
    if out.status.code() == Some(2) {
        assert!(
            stderr(&out).contains("pipe.yaml: it is a FIFO, not a regular file"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
    writer.join().unwrap();
}

fn folder_with_pod() -> TempDir {
    let dir = TempDir::new().unwrap();
    fs::create_dir(dir.path().join("deploy")).unwrap();
    fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    fs::write(dir.path().join("deploy/other.yaml"), POD).unwrap();
    dir
}

/// Asserts that `out` is one refusal line containing `expected`, and that nothing was written.
fn assert_refused_before_running(dir: &TempDir, out: &Output, expected: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert_eq!(stderr(out).lines().count(), 1, "{}", stderr(out));
    assert!(stderr(out).contains(expected), "{}", stderr(out));
    assert!(out.stdout.is_empty());
    for name in ["pod.yaml", "deploy/other.yaml"] {
        assert_eq!(fs::read_to_string(dir.path().join(name)).unwrap(), POD);
    }
    assert!(!dir.path().join("-").exists());
}

#[test]
fn a_report_or_pr_body_that_is_an_input_is_refused_before_anything_runs() {
    let dir = folder_with_pod();
    let out = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--report", "pod.yaml", "pod.yaml"],
    );
    assert_refused_before_running(&dir, &out, "--report pod.yaml is the input pod.yaml");
    // Found by walking a folder, and written without --dry-run.
    let out = kubeharden(dir.path(), &["fix", "--pr-body", "deploy/other.yaml", "."]);
    assert_refused_before_running(&dir, &out, "--pr-body deploy/other.yaml is the input");
    // Another spelling of the same file, or a link to it.
    std::os::unix::fs::symlink("pod.yaml", dir.path().join("report.json")).unwrap();
    for report in ["./deploy/../pod.yaml", "report.json"] {
        let out = kubeharden(dir.path(), &["fix", "--report", report, "pod.yaml"]);
        assert_refused_before_running(&dir, &out, "is the input pod.yaml");
    }
}

#[test]
fn a_dash_report_goes_to_standard_output_when_nothing_else_does() {
    let dir = folder_with_pod();
    let out = kubeharden(dir.path(), &["fix", "--report", "-", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files"][0]["status"], "changed");
    assert!(!dir.path().join("-").exists());
    fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    for args in [
        &["fix", "--dry-run", "--report", "-", "pod.yaml"][..],
        &["fix", "--format", "json", "--pr-body", "-", "pod.yaml"],
        &["fix", "--report", "-", "--pr-body", "-", "pod.yaml"],
    ] {
        let out = kubeharden(dir.path(), args);
        assert_refused_before_running(&dir, &out, "would print on standard output");
    }
}

/// A manifest of about 40 MB: slow enough to fix that a test can act while the temporary
/// file of its rewrite is being written.
fn big_manifest() -> String {
    POD.replace(
        "  name: app\n",
        &format!(
            "  name: app\n  annotations:\n    blob: {}\n",
            "x".repeat(40 << 20)
        ),
    )
}

/// Runs `kubeharden fix big.yaml` in `dir` and calls `act` with the running child once its
/// temporary file appears; `None` if the run ended before one was seen.
fn act_while_writing(
    dir: &Path,
    act: impl FnOnce(&std::process::Child),
) -> Option<std::process::Output> {
    let mut child = Std::new(env!("CARGO_BIN_EXE_kubeharden"))
        .current_dir(dir)
        .args(["fix", "big.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut act = Some(act);
    while child.try_wait().unwrap().is_none() && started.elapsed() < TIMEOUT {
        if !temporary_files(dir).is_empty()
            && let Some(act) = act.take()
        {
            act(&child);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    act.is_none().then_some(out)
}

/// Runs `attempt` until it catches a temporary file (the machine may be too quick once).
fn retry_until_caught(mut attempt: impl FnMut() -> Option<Output>) -> Output {
    for _ in 0..5 {
        if let Some(out) = attempt() {
            return out;
        }
    }
    panic!("no run was slow enough to catch its temporary file in five attempts");
}

#[test]
fn a_file_changed_during_the_run_keeps_the_change() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big.yaml");
    let original = big_manifest();
    let appended = "# appended by another editor\n";
    let out = retry_until_caught(|| {
        fs::write(&path, &original).unwrap();
        act_while_writing(dir.path(), |_| {
            let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(appended.as_bytes()).unwrap();
        })
    });
    let now = fs::read_to_string(&path).unwrap();
    assert!(now.ends_with(appended), "the appended line was lost");
    // The rename may, rarely, have come first; otherwise the run refused.
    if now == original.clone() + appended {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "big.yaml: it changed while kubeharden was working on it; run again; the file was left as it was"
            ),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
}

#[test]
fn sigterm_removes_the_temporary_file_being_written() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("big.yaml");
    let original = big_manifest();
    let out = retry_until_caught(|| {
        fs::write(&path, &original).unwrap();
        act_while_writing(dir.path(), |child| {
            let status = Std::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        })
    });
    assert!(
        out.status.signal() == Some(15) || out.status.code() == Some(143),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
    // The signal came before the rename, or (rarely) just after it.
    let now = fs::read_to_string(&path).unwrap();
    assert!(
        now == original || now == fixed(&original),
        "big.yaml was damaged"
    );
}

#[test]
fn owner_group_and_mode_are_kept() {
    let dir = TempDir::new().unwrap();
    if !running_as_root(dir.path()) {
        eprintln!("skipped: giving a file to nobody needs root");
        return;
    }
    let path = dir.path().join("pod.yaml");
    fs::write(&path, POD).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let out = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let meta = fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!(fs::read_to_string(&path).unwrap(), fixed(POD));
}

#[test]
fn a_file_whose_owner_cannot_be_kept_is_left_as_it_was() {
    let dir = TempDir::new().unwrap();
    if !running_as_root(dir.path()) {
        eprintln!("skipped: running kubeharden as another user needs root");
        return;
    }
    // Root's file, writable by all in a folder writable by all, fixed by nobody.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("pod.yaml");
    fs::write(&path, POD).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
    let out = Std::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_kubeharden"))
        .args(["fix", "pod.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pod.yaml: cannot keep its owner and group (0:0)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), POD);
    assert_eq!(fs::metadata(&path).unwrap().uid(), 0);
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
}

/// The value of the extended attribute `name` of `path`, if it has one.
fn attribute(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut value = [0; 256];
    let len = rustix::fs::getxattr(path, name, &mut value[..]).ok()?;
    Some(value[..len].to_vec())
}

/// An ACL granting user `uid` read and write, as `system.posix_acl_access` holds it.
fn acl_for_user(uid: u32) -> Vec<u8> {
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX), // the owner
        (0x02, 6, uid),            // the named user
        (0x04, 4, u32::MAX),       // the group
        (0x10, 6, u32::MAX),       // the mask
        (0x20, 4, u32::MAX),       // others
    ] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    acl
}

#[test]
fn extended_attributes_and_acls_are_kept() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("pod.yaml");
    fs::write(&path, POD).unwrap();
    let attributes = [
        ("user.kubeharden-test", b"kept".to_vec()),
        ("system.posix_acl_access", acl_for_user(65534)),
    ];
    for (name, value) in &attributes {
        if let Err(e) = rustix::fs::setxattr(&path, *name, value, rustix::fs::XattrFlags::empty()) {
            eprintln!("skipped: this file system does not take the attribute {name}: {e}");
            return;
        }
    }
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    let out = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&path).unwrap(), fixed(POD));
    for (name, value) in &attributes {
        assert_eq!(attribute(&path, name).as_ref(), Some(value), "{name}");
    }
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode(), mode);
}

#[test]
fn a_file_with_hard_links_is_refused_and_its_links_kept() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("pod.yaml");
    fs::write(&path, POD).unwrap();
    fs::hard_link(&path, dir.path().join("same.yaml")).unwrap();
    let out = kubeharden(dir.path(), &["fix", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pod.yaml: it has 2 hard links"),
        "{}",
        stderr(&out)
    );
    let (one, other) = (
        fs::metadata(&path).unwrap(),
        fs::metadata(dir.path().join("same.yaml")).unwrap(),
    );
    assert_eq!((one.ino(), one.nlink()), (other.ino(), 2));
    assert_eq!(fs::read_to_string(&path).unwrap(), POD);
}

#[test]
fn reading_stops_at_the_size_limit() {
    let dir = TempDir::new().unwrap();
    // Without a bound this reads until memory runs out.
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("/dev/zero: larger than the limit of 64 MiB; raise it with --max-file-size"),
        "{}",
        stderr(&out)
    );
    fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    fs::write(dir.path().join("small.yaml"), "a: 1\n").unwrap();
    let out = kubeharden(
        dir.path(),
        &["fix", "--max-file-size", "100", "pod.yaml", "small.yaml"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "error: pod.yaml: larger than the limit of 100 bytes; raise it with --max-file-size\n"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("pod.yaml")).unwrap(),
        POD
    );
    let out = kubeharden(dir.path(), &["fix", "--max-file-size", "1K", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = kubeharden(dir.path(), &["fix", "--max-file-size", "12T", "pod.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown unit `T`"),
        "{}",
        stderr(&out)
    );
}

/// One situation a file can be in when `fix` runs.
#[derive(Debug, Clone, Copy)]
enum Situation {
    /// A regular file, needing fixes or not, writable or not.
    Regular { needs_fixes: bool, read_only: bool },
    /// A symbolic link to a regular file beside it.
    LinkInside,
    /// A symbolic link to a regular file outside the folder fixed.
    LinkOutside,
    /// A regular file with a second hard link beside it.
    HardLinked,
    /// A FIFO, met by walking the folder (naming one would block on it).
    Fifo,
    /// A regular file of another user, mode 0640 (an ordinary file when not running as root).
    ForeignOwner,
    /// A regular file named twice: one rewrite changes it while the other works on it.
    NamedTwice,
}

fn situation() -> impl Strategy<Value = Situation> {
    prop_oneof![
        (any::<bool>(), any::<bool>()).prop_map(|(needs_fixes, read_only)| Situation::Regular {
            needs_fixes,
            read_only
        }),
        Just(Situation::LinkInside),
        Just(Situation::LinkOutside),
        Just(Situation::HardLinked),
        Just(Situation::Fifo),
        Just(Situation::ForeignOwner),
        Just(Situation::NamedTwice),
    ]
}

/// What a run must not change about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    kind: String,
    mode: u32,
    owner: (u32, u32),
    links: u64,
    inode: u64,
    /// A regular file's bytes.
    bytes: Option<Vec<u8>>,
    /// A symbolic link's target.
    target: Option<PathBuf>,
}

/// Every path below `root` (itself excluded), with its state.
fn states(root: &Path) -> BTreeMap<PathBuf, State> {
    let mut out = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            if kind.is_dir() {
                folders.push(path.clone());
            }
            out.insert(
                path.strip_prefix(root).unwrap().to_path_buf(),
                State {
                    kind: format!("{kind:?}"),
                    mode: meta.mode(),
                    owner: (meta.uid(), meta.gid()),
                    links: meta.nlink(),
                    inode: meta.ino(),
                    bytes: kind.is_file().then(|| fs::read(&path).unwrap()),
                    target: kind.is_symlink().then(|| fs::read_link(&path).unwrap()),
                },
            );
        }
    }
    out
}

/// Lays out `situations` in `root/tree` (and `root/outside`); returns the PATH arguments that
/// name them, and the files that a run without --dry-run must fix.
fn lay_out(root: &Path, situations: &[Situation], as_root: bool) -> (Vec<String>, Vec<PathBuf>) {
    let fixed_pod = fixed(POD);
    let tree = root.join("tree");
    let outside = root.join("outside");
    fs::create_dir_all(&tree).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let mut named = Vec::new();
    let mut must_fix = Vec::new();
    for (i, situation) in situations.iter().enumerate() {
        let name = format!("tree/f{i}.yaml");
        let path = root.join(&name);
        match *situation {
            Situation::Regular {
                needs_fixes,
                read_only,
            } => {
                fs::write(&path, if needs_fixes { POD } else { &fixed_pod }).unwrap();
                if read_only {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
                }
                must_fix.push(path);
            }
            Situation::LinkInside => {
                fs::write(tree.join(format!("f{i}-target.yaml")), POD).unwrap();
                std::os::unix::fs::symlink(format!("f{i}-target.yaml"), &path).unwrap();
            }
            Situation::LinkOutside => {
                let target = outside.join(format!("f{i}.yaml"));
                fs::write(&target, POD).unwrap();
                std::os::unix::fs::symlink(&target, &path).unwrap();
            }
            Situation::HardLinked => {
                fs::write(&path, POD).unwrap();
                fs::hard_link(&path, tree.join(format!("f{i}-link.yaml"))).unwrap();
            }
            Situation::Fifo => {
                mkfifo(&path);
                continue;
            }
            Situation::ForeignOwner => {
                fs::write(&path, POD).unwrap();
                if as_root {
                    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
                must_fix.push(path);
            }
            Situation::NamedTwice => {
                fs::write(&path, POD).unwrap();
                named.push(name.clone());
                must_fix.push(path);
            }
        }
        named.push(name);
    }
    (named, must_fix)
}

#[test]
fn no_file_changes_but_by_the_verified_rewrite_of_a_regular_file() {
    let fixed_pod = fixed(POD).into_bytes();
    let as_root = running_as_root(&std::env::temp_dir());
    if !as_root {
        eprintln!("foreign owners are not generated: giving a file away needs root");
    }
    let config = Config {
        cases: 24,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x6669_6c65),
        ..Config::default()
    };
    let strategy = (
        prop::collection::vec(situation(), 1..5),
        any::<bool>(),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |(situations, walk, dry_run)| {
        let root = TempDir::new().unwrap();
        let (named, must_fix) = lay_out(root.path(), &situations, as_root);
        let before = states(root.path());
        let mut args = vec!["fix"];
        if dry_run {
            args.push("--dry-run");
        }
        if walk {
            args.push("tree");
        } else {
            args.extend(named.iter().map(String::as_str));
        }
        let out = kubeharden(root.path(), &args);
        prop_assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{:?}: {}",
            out.status,
            stderr(&out)
        );
        let after = states(root.path());
        prop_assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "files appeared or vanished: {}",
            stderr(&out)
        );
        for (path, was) in &before {
            let now = &after[path];
            let rewritten = now.bytes != was.bytes;
            if rewritten {
                prop_assert!(
                    !dry_run && was.links == 1 && now.bytes.as_ref() == Some(&fixed_pod),
                    "{} changed to something else than its verified rewrite",
                    path.display()
                );
            }
            // A rewrite is a new file: only its inode may differ.
            let kept = |s: &State| State {
                inode: if rewritten { 0 } else { s.inode },
                bytes: None,
                ..s.clone()
            };
            prop_assert_eq!(kept(was), kept(now), "{}", path.display());
        }
        if !dry_run {
            for path in &must_fix {
                prop_assert_eq!(
                    fs::read(path).unwrap(),
                    fixed_pod.clone(),
                    "{} was not fixed: {}",
                    path.display(),
                    stderr(&out)
                );
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
