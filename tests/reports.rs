//! The JSON report and the pull-request body, from the real binary.
//!
//! Golden cases: each folder under `golden/reports/` holds `inputs/` (manifests, run as
//! `kubeharden fix --dry-run --format json --pr-body FILE inputs` from the case's folder, plus
//! the settings of an optional `args` file), `expected.json` and `expected.md`. The version of
//! kubeharden reads `VERSION` in them. `KUBEHARDEN_BLESS=1 cargo test --test reports` rewrites
//! them; read every diff before committing it. Every report is also validated against
//! `schema/report-v1.json`.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(root().join("golden/reports"))
        .expect("golden/reports exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&fs::read_to_string(root().join("schema/report-v1.json")).unwrap())
            .expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// The schema's complaints about `report`, one a line.
fn schema_errors(validator: &jsonschema::Validator, report: &Value) -> Vec<String> {
    validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Runs the case: the JSON on stdout, the body written to a file.
fn run(case: &Path) -> (String, String) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::cargo_bin("kubeharden").unwrap();
    command
        .current_dir(case)
        .args(["fix", "--dry-run", "--format", "json", "--pr-body"])
        .arg(body.path());
    if let Ok(args) = fs::read_to_string(case.join("args")) {
        command.args(args.split_whitespace());
    }
    let output = command.arg("inputs").output().unwrap();
    let stdout = String::from_utf8(output.stdout).expect("the report is UTF-8");
    let version = env!("CARGO_PKG_VERSION");
    (
        stdout.replace(version, "VERSION"),
        fs::read_to_string(body.path())
            .expect("the body is written")
            .replace(version, "VERSION"),
    )
}

#[test]
fn reports_and_bodies_match_their_golden_files_and_the_schema() {
    let bless = std::env::var_os("KUBEHARDEN_BLESS").is_some();
    let validator = validator();
    let cases = cases();
    assert!(cases.len() >= 2, "expected report cases, found {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let (json, body) = run(case);
        let report: Value = serde_json::from_str(&json).unwrap_or_else(|e| {
            panic!("{}: the report is not JSON ({e}):\n{json}", case.display())
        });
        for error in schema_errors(&validator, &report) {
            failures.push(format!("{}: schema: {error}", case.display()));
        }
        for (name, actual) in [("expected.json", &json), ("expected.md", &body)] {
            let path = case.join(name);
            if bless {
                fs::write(&path, actual).unwrap();
                continue;
            }
            let expected = fs::read_to_string(&path).unwrap_or_default();
            if &expected != actual {
                let diff = similar::TextDiff::from_lines(&expected, actual)
                    .unified_diff()
                    .header("expected", "actual")
                    .to_string();
                failures.push(format!("{}: differs:\n{diff}", path.display()));
            }
        }
        // The same input gives the same text.
        assert_eq!(
            run(case),
            (json, body),
            "{}: a second run differs",
            case.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_totals_add_up_and_every_status_appears_in_the_mixed_case() {
    let (json, _) = run(&root().join("golden/reports/mixed"));
    let report: Value = serde_json::from_str(&json).unwrap();
    let files = report["files"].as_array().unwrap();
    let totals = &report["totals"];
    let count = |status: &str| files.iter().filter(|f| f["status"] == status).count();
    for (status, total) in [
        ("changed", "changed"),
        ("unchanged", "unchanged"),
        ("error", "errors"),
        ("helm-skipped", "helm_skipped"),
    ] {
        assert!(count(status) > 0, "no file is {status}");
        assert_eq!(totals[total], count(status), "{total}");
    }
    let changes: usize = files
        .iter()
        .map(|f| f["changes"].as_array().unwrap().len())
        .sum();
    assert_eq!(totals["changes"], changes);
    for kind in ["warning", "note", "skipped", "suppressed"] {
        let found = files
            .iter()
            .flat_map(|f| f["findings"].as_array().unwrap())
            .filter(|f| f["kind"] == kind)
            .count();
        assert!(found > 0, "no {kind} finding in the mixed case");
    }
    let broken = files
        .iter()
        .find(|f| f["status"] == "error")
        .expect("an error");
    assert!(broken["error"]["line"].as_u64().is_some(), "{broken}");
}

#[test]
fn the_schema_rejects_reports_that_break_it() {
    let validator = validator();
    let (json, _) = run(&root().join("golden/reports/mixed"));
    let good: Value = serde_json::from_str(&json).unwrap();
    assert!(schema_errors(&validator, &good).is_empty());
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 4] = [
        ("a wrong version", |r| r["schema_version"] = 2.into()),
        ("an unknown status", |r| {
            r["files"][0]["status"] = "fixed".into()
        }),
        ("a change without its transform", |r| {
            let file = r["files"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|f| !f["changes"].as_array().unwrap().is_empty())
                .unwrap();
            file["changes"][0]
                .as_object_mut()
                .unwrap()
                .remove("transform");
        }),
        ("a negative total", |r| r["totals"]["changes"] = (-1).into()),
    ];
    for (what, breakage) in breakages {
        let mut broken = good.clone();
        breakage(&mut broken);
        assert!(
            !schema_errors(&validator, &broken).is_empty(),
            "the schema accepts {what}"
        );
    }
}

#[test]
fn report_file_beside_the_diff_and_json_refused_where_stdout_holds_the_fixed_text() {
    let case = root().join("golden/reports/mixed");
    let report = tempfile::NamedTempFile::new().unwrap();
    let output = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(&case)
        .args(["fix", "--dry-run", "--report"])
        .arg(report.path())
        .arg("inputs/deploy/web.yaml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    // Named as `git diff` would: from the top level of the repository, when there is one.
    let top = if root().join(".git").exists() {
        "golden/reports/mixed/"
    } else {
        ""
    };
    assert!(
        stdout.starts_with(&format!("diff --git a/{top}inputs/deploy/web.yaml")),
        "{stdout}"
    );
    let written: Value = serde_json::from_str(&fs::read_to_string(report.path()).unwrap()).unwrap();
    assert_eq!(written["files"][0]["path"], "inputs/deploy/web.yaml");
    assert_eq!(written["files"][0]["status"], "changed");

    let output = Command::cargo_bin("kubeharden")
        .unwrap()
        .args(["fix", "--format", "json", "-"])
        .write_stdin("apiVersion: v1\nkind: Pod\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("use --report FILE"), "{stderr}");
}

#[test]
fn a_large_run_keeps_the_body_within_what_github_accepts() {
    let dir = tempfile::TempDir::new().unwrap();
    for i in 0..150 {
        // Each pod gets changes, a note for the comment that goes with NET_RAW and one for
        // its image, whose writable folders kubeharden does not know.
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i}\nspec:\n  containers:\n    - name: app\n      image: busybox:1.37\n      securityContext:\n        capabilities:\n          add:\n            - CHOWN\n            # for ping\n            - NET_RAW\n"
        );
        fs::write(dir.path().join(format!("pod-{i:03}.yaml")), pod).unwrap();
    }
    let body = dir.path().join("body.md");
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir.path())
        .args(["fix", "--dry-run", "--pr-body", "body.md", "."])
        .assert()
        .code(1);
    let body = fs::read_to_string(body).unwrap();
    assert!(body.len() < 65_536, "{} characters", body.len());
    assert!(
        body.contains("… and 50 more resources;"),
        "the table is cut"
    );
    assert!(body.contains("- … and 260 more;"), "the notes are cut");
    assert!(body.contains("### Keeping a fix out"));
}

#[test]
fn the_pr_body_shows_file_names_names_and_comments_as_written_and_inert() {
    let dir = tempfile::TempDir::new().unwrap();
    // A table cell ends at `|`; backticks, tags, links and emphasis would become Markdown.
    let name = "a|b `c` <i>.yaml";
    let pod = "\
apiVersion: v1
kind: Pod
metadata:
  name: \"web|<b>x</b>\"
spec:
  containers:
    - name: \"app*x*\"
      image: busybox
      securityContext:
        capabilities:
          add:
            - CHOWN
            # see `docs` | <img src=x> [here](https://example.com)
            - NET_RAW
";
    fs::write(dir.path().join(name), pod).unwrap();
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir.path())
        .args(["fix", "--dry-run", "--pr-body", "body.md", name])
        .assert()
        .code(1);
    let body = fs::read_to_string(dir.path().join("body.md")).unwrap();
    let row = body
        .lines()
        .find(|l| l.starts_with("| ``a"))
        .unwrap_or_else(|| panic!("no row for the file:\n{body}"));
    assert!(
        row.starts_with("| ``a\\|b `c` <i>.yaml`` | Pod `web\\|<b>x</b>` | "),
        "{row}"
    );
    let unescaped_pipes = row
        .char_indices()
        .filter(|&(i, c)| c == '|' && !row[..i].ends_with('\\'))
        .count();
    assert_eq!(unescaped_pipes, 5, "four cells: {row}");
    assert!(row.contains("(app\\*x\\*)"), "{row}");
    let note = body
        .lines()
        .find(|l| l.starts_with("- ") && l.contains(" note ") && l.contains("the comment"))
        .unwrap_or_else(|| panic!("no note:\n{body}"));
    assert_eq!(
        note,
        "- ``a|b `c` <i>.yaml:13`` note `drop-capabilities`: Pod/web|\\<b\\>x\\</b\\> container app\\*x\\*: the comment `# see `docs` | <img src=x> [here](https://example.com)` was on lines this fix removed and went with them; carry it over by hand if it still matters"
    );
}
