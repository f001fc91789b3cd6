//! The harness of rendered sources (Helm charts, Kustomize trees), shared by their tests: the
//! tool found as kubeharden finds it, runs that must keep the contract, golden trees compared
//! byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;

use super::snapshot;

/// The `program` binary (`$env`, else `PATH`, else `target/tools/bin` where
/// `scripts/install-tools.sh` puts it), or `None` with a message; under CI (`CI` set) a missing
/// tool fails the test instead.
pub fn tool(program: &str, env: &str) -> Option<PathBuf> {
    let installed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tools/bin")
        .join(program);
    let found = std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|folder| folder.join(program))
                .find(|candidate| candidate.is_file())
        })
        .or_else(|| installed.is_file().then_some(installed))
        .filter(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is missing: CI must run these tests; run scripts/install-tools.sh"
        );
        eprintln!("{program} not found: tests skipped (run scripts/install-tools.sh)");
    }
    found
}

/// The variable naming a tool, and the tool.
pub type ToolEnv<'a> = (&'a str, &'a Path);

/// Runs kubeharden in `dir` with the tool of `env`.
pub fn kubeharden(env: ToolEnv<'_>, dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir)
        .env(env.0, env.1)
        .args(args)
        .output()
        .unwrap()
}

/// Copies `from` into the new folder `to`.
pub fn copy(from: &Path, to: &Path) {
    for (path, bytes) in snapshot(from) {
        let target = to.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, bytes).unwrap();
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fixes `chart` (a chart or a tree) in `dir` in place, then checks what every run must keep: a second run
/// changes nothing, and the dry-run diff of a fresh copy, applied with `patch -p1`, gives the
/// same files. Returns the first run's output.
pub fn fix_and_check(env: ToolEnv<'_>, dir: &Path, chart: &str, args: &[&str]) -> Output {
    let pristine = tempfile::tempdir().unwrap();
    copy(dir, pristine.path());
    let mut fix_args = vec!["fix", chart];
    fix_args.extend_from_slice(args);
    let out = kubeharden(env, dir, &fix_args);
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "{chart}: {}",
        stderr(&out)
    );
    let again = kubeharden(env, dir, &fix_args);
    let summary = stderr(&again);
    assert!(
        summary.contains(" 0 changed, "),
        "{chart}: a second run changed something: {summary}"
    );
    let mut dry_args = vec!["fix", "--dry-run", chart];
    dry_args.extend_from_slice(args);
    let dry = kubeharden(env, pristine.path(), &dry_args);
    let patch = Command::new("patch")
        .args(["-p1", "--quiet", "--no-backup-if-mismatch"])
        .current_dir(pristine.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&dry.stdout)?;
            child.wait()
        })
        .expect("patch runs");
    assert!(patch.success(), "{chart}: the dry-run diff does not apply");
    assert!(
        snapshot(pristine.path()) == snapshot(dir),
        "{chart}: the dry-run diff applied differs from the in-place result"
    );
    out
}

/// Compares `actual` with the file `expected`, or writes it when blessing.
pub fn compare(expected: &Path, actual: &[u8], failures: &mut Vec<String>) {
    if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
        fs::create_dir_all(expected.parent().unwrap()).unwrap();
        fs::write(expected, actual).unwrap();
        return;
    }
    match fs::read(expected) {
        Ok(bytes) if bytes == actual => {}
        Ok(bytes) => failures.push(format!(
            "{} differs\n--- expected\n{}\n--- actual\n{}",
            expected.display(),
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(actual)
        )),
        Err(_) => failures.push(format!("{} is missing", expected.display())),
    }
}

/// Runs every case of the folder `cases` (beside the crate): `input/` fixed by naming `target`
/// in it (or the folder the case's file `target` names) with the arguments of `args`, compared
/// with `expected/` and `expected.stderr`.
pub fn golden_cases(cases: &str, target: &str, env: ToolEnv<'_>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(cases);
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {}", root.display());
    let mut failures = Vec::new();
    for case in &cases {
        let work = tempfile::tempdir().unwrap();
        copy(&case.join("input"), work.path());
        let args = fs::read_to_string(case.join("args")).unwrap_or_default();
        let args: Vec<&str> = args.split_whitespace().collect();
        let named = fs::read_to_string(case.join("target")).unwrap_or_default();
        let target = Some(named.trim())
            .filter(|t| !t.is_empty())
            .unwrap_or(target);
        let out = fix_and_check(env, work.path(), target, &args);
        compare(&case.join("expected.stderr"), &out.stderr, &mut failures);
        let actual = snapshot(work.path());
        if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
            let _ = fs::remove_dir_all(case.join("expected"));
        }
        for (path, bytes) in &actual {
            compare(&case.join("expected").join(path), bytes, &mut failures);
        }
        let expected = snapshot(&case.join("expected"));
        for path in expected.keys().filter(|p| !actual.contains_key(*p)) {
            failures.push(format!(
                "{}: {} went missing",
                case.display(),
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
