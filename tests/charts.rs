//! Helm charts, rendered with the real helm: the golden chart cases of `golden-charts/` (chart
//! in, chart out, byte for byte), the scaffold of `helm create` made at test time, and every
//! chart of `../shared/charts`. Helm is found as kubeharden finds it (`$KUBEHARDEN_HELM`, then
//! `PATH`), or in `target/tools/bin` where `scripts/install-tools.sh` puts it. Without helm the
//! tests say so and pass, except under CI (`CI` set), where a missing helm fails them.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use common::rendered::{self, compare, copy, golden_cases, stderr};
use common::{helm, snapshot};

/// Fixes `chart` in `dir` with `helm`: see [`rendered::fix_and_check`].
fn fix_and_check(helm: &Path, dir: &Path, chart: &str, args: &[&str]) -> Output {
    rendered::fix_and_check(("KUBEHARDEN_HELM", helm), dir, chart, args)
}

#[test]
fn golden_chart_cases_match_byte_for_byte() {
    let Some(helm) = helm() else { return };
    golden_cases("golden-charts", "chart", ("KUBEHARDEN_HELM", &helm));
}

/// A folder holding the scaffold of `helm create demo`, in `demo`.
fn helm_create(helm: &Path) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    let created = Command::new(helm)
        .args(["create", "demo"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    work
}

#[test]
fn the_helm_create_scaffold_is_hardened_in_its_values_and_templates() {
    let Some(helm) = helm() else { return };
    let work = helm_create(&helm);
    let before = snapshot(&work.path().join("demo"));
    let out = fix_and_check(&helm, work.path(), "demo", &[]);
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-charts/helm-create");
    let mut failures = Vec::new();
    compare(&case.join("expected.stderr"), &out.stderr, &mut failures);
    let after = snapshot(&work.path().join("demo"));
    // The files it changes are in `expected/`; every other file is left as it was.
    if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
        let _ = fs::remove_dir_all(case.join("expected"));
    }
    for (path, bytes) in &after {
        let expected = case.join("expected").join(path);
        if before.get(path) != Some(bytes) {
            compare(&expected, bytes, &mut failures);
        } else if expected.exists() {
            failures.push(format!("{} did not change", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let lint = Command::new(&helm)
        .args(["lint", "demo"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );
}

/// A chart in `chart` with one template.
fn small_chart(chart: &Path) {
    fs::create_dir_all(chart.join("templates")).unwrap();
    fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    fs::write(
        chart.join("templates/pod.yaml"),
        "kind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n",
    )
    .unwrap();
}

#[test]
fn without_helm_each_chart_is_one_error_and_plain_files_are_still_fixed() {
    let work = tempfile::tempdir().unwrap();
    let chart = work.path().join("repo/chart");
    small_chart(&chart);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostPID: true\n  containers:\n  - name: a\n    image: a\n";
    fs::write(work.path().join("repo/pod.yaml"), pod).unwrap();
    let out = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(work.path())
        .env("KUBEHARDEN_HELM", work.path().join("no-helm-here"))
        .args(["fix", "--only", "no-host-namespaces", "repo"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("error: repo/chart: helm not found"),
        "{err}"
    );
    assert!(errors[0].contains("install helm"), "{err}");
    assert!(!err.contains("Helm template"), "{err}");
    let fixed = fs::read_to_string(work.path().join("repo/pod.yaml")).unwrap();
    assert!(fixed.contains("hostPID: false"), "{fixed}");
}

/// Each unmappable change the JSON report warns about: the resource (`Kind/name`) and the
/// rendered field its message names first.
fn unmapped_fields(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in report["files"].as_array().unwrap() {
        for finding in file["findings"].as_array().unwrap() {
            let message = finding["message"].as_str().unwrap_or("");
            if !message.contains("cannot be set from the chart's values") {
                continue;
            }
            let field = message.split('`').nth(1).unwrap_or("").to_owned();
            let resource = &finding["resource"];
            let label = format!(
                "{}/{}",
                resource["kind"].as_str().unwrap_or(""),
                resource["name"].as_str().unwrap_or("")
            );
            out.push((label, field));
        }
    }
    out
}

/// What kubeharden would still change in `rendered` manifests: resource and field.
fn changes_left(rendered: &[u8]) -> Vec<(String, String)> {
    let settings = kubeharden::transform::Settings::default();
    let fixed =
        kubeharden::fix::fix_bytes(rendered, &settings, kubeharden::fix::ChangeDetail::Listed)
            .expect("the rendering reads");
    fixed
        .changes
        .iter()
        .map(|c| (c.resource.label(), c.path.clone()))
        .collect()
}

/// How many workloads (pod specs) `rendered` manifests hold.
fn workloads(rendered: &[u8]) -> usize {
    let source = String::from_utf8_lossy(rendered);
    let text = kubeharden::yaml::Text::new(&source);
    let stream = kubeharden::yaml::parse(&text, false).expect("the rendering parses");
    stream
        .documents
        .iter()
        .map(|d| kubeharden::k8s::pod_specs(d, &[]).len())
        .sum()
}

/// The comment lines of `text`, in order.
fn comments(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect()
}

/// The template actions (`{{ … }}`) of `text`, in order.
fn actions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push(&rest[open..open + close + 2]);
        rest = &rest[open + close + 2..];
    }
    out
}

#[test]
fn every_shared_chart_still_renders_and_lints_and_keeps_its_comments() {
    let Some(helm) = helm() else { return };
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/charts");
    if !shared.is_dir() {
        eprintln!("../shared/charts absent: shared chart test skipped");
        return;
    }
    let mut charts: Vec<PathBuf> = fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Chart.yaml").is_file())
        .collect();
    charts.sort();
    let mut failures = Vec::new();
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().into_owned();
        let work = tempfile::tempdir().unwrap();
        copy(chart, &work.path().join(&name));
        let before = snapshot(&work.path().join(&name));
        let helm_ok = |args: &[&str]| {
            Command::new(&helm)
                .args(args)
                .current_dir(work.path())
                .output()
                .unwrap()
                .status
                .success()
        };
        let linted = helm_ok(&["lint", &name]);
        let report_file = tempfile::NamedTempFile::new().unwrap();
        let report_path = report_file.path().to_str().unwrap();
        let out = fix_and_check(&helm, work.path(), &name, &["--report", report_path]);
        if out.status.code() != Some(0) {
            failures.push(format!("{name}: {}", stderr(&out)));
            continue;
        }
        let rendered = Command::new(&helm)
            .args(["template", "kubeharden", &name])
            .current_dir(work.path())
            .output()
            .unwrap();
        if !rendered.status.success() {
            failures.push(format!("{name}: no longer renders"));
            continue;
        }
        let report: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(report_file.path()).unwrap()).unwrap();
        let unmapped = unmapped_fields(&report);
        let left = changes_left(&rendered.stdout);
        for (resource, path) in &left {
            let explained = unmapped
                .iter()
                .any(|(r, field)| r == resource && path.starts_with(field.as_str()));
            if !explained {
                failures.push(format!(
                    "{name}: {resource} still needs `{path}`, and no warning says why"
                ));
            }
        }
        let changes_in = |values: bool| -> usize {
            report["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["path"].as_str().unwrap().ends_with("values.yaml") == values)
                .map(|f| f["changes"].as_array().unwrap().len())
                .sum()
        };
        let (values_changes, template_changes) = (changes_in(true), changes_in(false));
        let workloads = workloads(&rendered.stdout);
        let unhardened: std::collections::BTreeSet<&String> = left.iter().map(|(r, _)| r).collect();
        eprintln!(
            "{name}: {workloads} workloads rendered, {} hardened; {values_changes} changes in values, {template_changes} in templates, {} unmappable",
            workloads.saturating_sub(unhardened.len()),
            unmapped.len()
        );
        if linted && !helm_ok(&["lint", &name]) {
            failures.push(format!("{name}: helm lint passed before, fails after"));
        }
        for (path, after) in snapshot(&work.path().join(&name)) {
            let Some(original) = before.get(&path) else {
                failures.push(format!("{name}: {} was created", path.display()));
                continue;
            };
            let (original, after) = (
                String::from_utf8_lossy(original),
                String::from_utf8_lossy(&after),
            );
            // Every comment kept, in order; every line not edited byte-identical: the diff
            // only removes lines that are not comments.
            let kept = comments(&after);
            let mut rest = kept.iter();
            for comment in comments(&original) {
                if !rest.any(|c| *c == comment) {
                    failures.push(format!("{name}: {} lost `{comment}`", path.display()));
                    break;
                }
            }
            if actions(&original) != actions(&after) {
                failures.push(format!(
                    "{name}: {} changed a template action",
                    path.display()
                ));
            }
            for change in similar::TextDiff::from_lines(&*original, &*after).iter_all_changes() {
                if change.tag() == similar::ChangeTag::Delete
                    && change.value().trim_start().starts_with('#')
                {
                    failures.push(format!(
                        "{name}: {} rewrote the comment line `{}`",
                        path.display(),
                        change.value().trim_end()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_template_named_on_its_own_is_an_error_naming_its_chart() {
    let work = tempfile::tempdir().unwrap();
    let chart = work.path().join("chart");
    small_chart(&chart);
    let out = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(work.path())
        .args(["fix", "chart/templates/pod.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(
            "error: chart/templates/pod.yaml:3:9: a template of the Helm chart chart, not YAML; name the chart instead: kubeharden fix chart\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_report_names_the_chart_file_and_line_edited_and_the_body_splits_values_from_templates() {
    let Some(helm) = helm() else { return };
    let work = helm_create(&helm);
    let out = rendered::kubeharden(
        ("KUBEHARDEN_HELM", &helm),
        work.path(),
        &[
            "fix",
            "--dry-run",
            "--report",
            "r.json",
            "--pr-body",
            "body.md",
            "demo",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(work.path().join("r.json")).unwrap()).unwrap();
    let changes_of = |path: &str| -> Vec<serde_json::Value> {
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"] == path)
            .flat_map(|f| f["changes"].as_array().unwrap().clone())
            .collect()
    };
    // Each change: the chart file and its line that was edited, beside the rendered
    // resource, container and field.
    let values = changes_of("demo/values.yaml");
    let pod = changes_of("demo/templates/tests/test-connection.yaml");
    assert!(!values.is_empty() && !pod.is_empty(), "{report:#}");
    let line_of = |file: &str, text: &str| {
        let source = fs::read_to_string(work.path().join(file)).unwrap();
        source.lines().position(|l| l == text).unwrap() + 1
    };
    let security_context = line_of("demo/values.yaml", "securityContext: {}");
    let pod_security_context = line_of("demo/values.yaml", "podSecurityContext: {}");
    let volumes = line_of("demo/values.yaml", "volumes: []");
    for change in &values {
        let field = change["path"].as_str().unwrap();
        let expected = match field {
            _ if field.starts_with("spec.template.spec.securityContext.") => pod_security_context,
            _ if field.contains(".securityContext.") => security_context,
            _ if field.starts_with("spec.template.spec.volumes[") => volumes,
            _ => continue,
        };
        assert_eq!(change["line"], expected, "{change}");
        assert_eq!(change["resource"]["kind"], "Deployment");
    }
    let wget = line_of(
        "demo/templates/tests/test-connection.yaml",
        "    - name: wget",
    );
    let container_changes = pod.iter().filter(|c| {
        c["path"]
            .as_str()
            .unwrap()
            .starts_with("spec.containers[0].")
    });
    assert!(container_changes.clone().count() > 0);
    for change in container_changes {
        assert_eq!(change["line"], wget, "{change}");
        assert_eq!(change["resource"]["kind"], "Pod");
    }
    let templates = pod.len() + changes_of("demo/templates/deployment.yaml").len();
    let body = fs::read_to_string(work.path().join("body.md")).unwrap();
    let sentence = format!(
        "In Helm charts, {} fixes went into values files and {templates} into templates",
        values.len()
    );
    assert!(body.contains(&sentence), "{body}");
}
