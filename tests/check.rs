//! `kubeharden check`, from the real binary: its formats and exit codes, SARIF validated
//! against `schema/sarif-schema-2.1.0.json`, fingerprints that survive lines added above, and
//! on `../shared/corpus` the agreement with `fix --dry-run` and with what `fix` writes.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

const PRIVILEGED: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: app
      image: nginx:1.27
      securityContext:
        privileged: true
";

fn kubeharden(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn folder_with(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn sarif(dir: &Path, args: &[&str]) -> Value {
    let args: Vec<&str> = ["check", "--format", "sarif"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    let output = kubeharden(dir, &args);
    let log: Value = serde_json::from_str(&stdout(&output)).expect("SARIF is JSON");
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid SARIF 2.1.0:\n{}",
        errors.join("\n")
    );
    log
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn text_lines_name_file_line_column_rule_and_the_change() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED)]);
    let output = kubeharden(
        dir.path(),
        &["check", "--only", "no-privileged", "pod.yaml"],
    );
    assert_eq!(
        stdout(&output),
        "pod.yaml:10:9: no-privileged: Pod/web container app: set spec.containers[0].securityContext.privileged to false (was true)\n"
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        fs::read_to_string(dir.path().join("pod.yaml")).unwrap(),
        PRIVILEGED
    );
    let never = kubeharden(dir.path(), &["check", "--fail-on", "never", "pod.yaml"]);
    assert_eq!(never.status.code(), Some(0));
}

#[test]
fn fail_on_fix_ignores_warnings_and_fail_on_warning_counts_them() {
    let host_path = "\
apiVersion: v1
kind: Pod
metadata:
  name: agent
spec:
  containers:
    - name: agent
      image: agent:1
  volumes:
    - name: logs
      hostPath:
        path: /var/log
";
    let dir = folder_with(&[("pod.yaml", host_path)]);
    let run = |fail_on: &str| {
        kubeharden(
            dir.path(),
            &[
                "check",
                "--only",
                "no-host-path",
                "--fail-on",
                fail_on,
                "pod.yaml",
            ],
        )
    };
    let warning = run("warning");
    assert_eq!(warning.status.code(), Some(1));
    assert!(
        stdout(&warning).starts_with("pod.yaml:10:5: no-host-path: Pod/agent: mounts host paths"),
        "{}",
        stdout(&warning)
    );
    assert_eq!(run("fix").status.code(), Some(0));
}

#[test]
fn what_fix_wrote_gives_nothing_and_a_bad_input_exit_2() {
    let dir = folder_with(&[("ok.yaml", PRIVILEGED)]);
    assert_eq!(
        kubeharden(dir.path(), &["fix", "ok.yaml"]).status.code(),
        Some(0)
    );
    let output = kubeharden(dir.path(), &["check", "ok.yaml"]);
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("", Some(0))
    );
    fs::write(dir.path().join("bad.yaml"), "a: [\n").unwrap();
    let output = kubeharden(dir.path(), &["check", "ok.yaml", "bad.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("error: bad.yaml:"));
}

#[test]
fn github_format_escapes_properties_and_data() {
    let dir = folder_with(&[("a,b:c.yaml", PRIVILEGED)]);
    let output = kubeharden(
        dir.path(),
        &[
            "check",
            "--format",
            "github",
            "--only",
            "no-privileged",
            "a,b:c.yaml",
        ],
    );
    assert_eq!(
        stdout(&output),
        "::error file=a%2Cb%3Ac.yaml,line=10,col=9,title=no-privileged::Pod/web container app: set spec.containers[0].securityContext.privileged to false (was true)\n"
    );
}

#[test]
fn json_format_is_the_report_of_the_dry_run() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED)]);
    let check = kubeharden(dir.path(), &["check", "--format", "json", "pod.yaml"]);
    let fix = kubeharden(
        dir.path(),
        &["fix", "--dry-run", "--format", "json", "pod.yaml"],
    );
    assert_eq!(stdout(&check), stdout(&fix));
}

#[test]
fn sarif_has_a_rule_per_transform_with_the_explain_text_and_suppressions() {
    let suppressed = PRIVILEGED.replace(
        "privileged: true",
        "privileged: true # kubeharden: ignore[no-privileged]",
    );
    let dir = folder_with(&[("pod.yaml", &suppressed)]);
    let log = sarif(dir.path(), &["pod.yaml"]);
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let listed = stdout(&kubeharden(dir.path(), &["transforms"]));
    assert_eq!(rules.len(), listed.lines().count() - 2, "{listed}");
    let explain = stdout(&kubeharden(dir.path(), &["explain", "no-privileged"]));
    let rule = &rules[0];
    assert_eq!(rule["id"], "no-privileged");
    assert_eq!(rule["help"]["text"], explain.as_str());
    // Every rule links to its own section of the generated reference.
    let reference = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/transforms.md"),
    )
    .unwrap();
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        let uri = rule["helpUri"].as_str().unwrap();
        assert!(uri.ends_with(&format!("docs/transforms.md#{id}")), "{uri}");
        assert!(reference.contains(&format!("\n## {id}\n")), "{id}");
    }
    assert_eq!(rule["properties"]["security-severity"], "7.0");
    let suppressed: Vec<&Value> = results(&log)
        .iter()
        .filter(|r| r["ruleId"] == "no-privileged")
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["suppressions"][0]["kind"], "inSource");
    // A suppressed finding is carried but does not fail the check on its own.
    let output = kubeharden(
        dir.path(),
        &["check", "--only", "no-privileged", "pod.yaml"],
    );
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("", Some(0))
    );
}

fn fingerprints(log: &Value) -> BTreeMap<String, u64> {
    results(log)
        .iter()
        .map(|r| {
            (
                r["partialFingerprints"]["kubeharden/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn fingerprints_stay_when_lines_are_added_above() {
    let dir = folder_with(&[("pod.yaml", PRIVILEGED)]);
    let before = fingerprints(&sarif(dir.path(), &["pod.yaml"]));
    fs::write(
        dir.path().join("pod.yaml"),
        format!("# added\n# above\n{PRIVILEGED}"),
    )
    .unwrap();
    let after = fingerprints(&sarif(dir.path(), &["pod.yaml"]));
    assert!(before.len() > 3, "{before:?}");
    assert_eq!(
        before.len(),
        results(&sarif(dir.path(), &["pod.yaml"])).len()
    );
    let shifted: BTreeMap<String, u64> = before.into_iter().map(|(f, l)| (f, l + 2)).collect();
    assert_eq!(after, shifted);
}

/// `uri` back to a path: percent-decoded.
fn path_of(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            out.push(u8::from_str_radix(&uri[at + 1..at + 3], 16).unwrap());
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Every replacement of every result, by file: (offset, length, text).
fn replacements(log: &Value) -> BTreeMap<String, Vec<(usize, usize, String)>> {
    let mut by_file: BTreeMap<String, Vec<(usize, usize, String)>> = BTreeMap::new();
    for result in results(log) {
        for change in result["fixes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["artifactChanges"].as_array().unwrap())
        {
            let file = path_of(change["artifactLocation"]["uri"].as_str().unwrap());
            for r in change["replacements"].as_array().unwrap() {
                by_file.entry(file.clone()).or_default().push((
                    r["deletedRegion"]["byteOffset"].as_u64().unwrap() as usize,
                    r["deletedRegion"]["byteLength"].as_u64().unwrap() as usize,
                    r["insertedContent"]["text"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    by_file
}

/// `original` with `replacements` applied (they never overlap).
fn apply(original: &[u8], mut replacements: Vec<(usize, usize, String)>) -> Vec<u8> {
    replacements.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut text = original.to_vec();
    for (offset, length, inserted) in replacements {
        text.splice(offset..offset + length, inserted.bytes());
    }
    text
}

#[test]
fn on_the_corpus_check_agrees_with_fix_and_its_fixes_give_what_fix_writes() {
    let Some(corpus) = common::corpus_dir() else {
        println!("../shared/corpus is absent; skipped");
        return;
    };
    let log = sarif(&corpus, &["--fail-on", "never", "."]);
    let dry_run: Value = serde_json::from_str(&stdout(&kubeharden(
        &corpus,
        &["fix", "--dry-run", "--format", "json", "."],
    )))
    .unwrap();
    let count = |level: &str| {
        results(&log)
            .iter()
            .filter(|r| r["level"] == level && r.get("suppressions").is_none())
            .count() as u64
    };
    assert_eq!(
        count("error"),
        dry_run["totals"]["changes"].as_u64().unwrap()
    );
    assert_eq!(
        count("warning"),
        dry_run["totals"]["warnings"].as_u64().unwrap()
    );
    let copy = TempDir::new().unwrap();
    let files = common::manifests(&corpus);
    for file in &files {
        let to = copy.path().join(file);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(corpus.join(file), to).unwrap();
    }
    let fixed = kubeharden(copy.path(), &["fix", "."]);
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let mut by_file = replacements(&log);
    let mut mismatches = Vec::new();
    let mut changed = 0;
    for file in &files {
        let original = fs::read(corpus.join(file)).unwrap();
        let written = fs::read(copy.path().join(file)).unwrap();
        let edits = by_file.remove(file.to_str().unwrap()).unwrap_or_default();
        changed += usize::from(!edits.is_empty());
        if apply(&original, edits) != written {
            mismatches.push(file.display().to_string());
        }
    }
    assert!(
        mismatches.is_empty(),
        "the fixes differ from fix: {mismatches:?}"
    );
    assert!(
        by_file.is_empty(),
        "fixes for files not in the corpus: {:?}",
        by_file.keys()
    );
    assert_eq!(
        changed as u64,
        dry_run["totals"]["changed"].as_u64().unwrap()
    );
}
