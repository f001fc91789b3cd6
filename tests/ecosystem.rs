//! Keeps the integrations honest: `action.yml` (the GitHub Action) and `.pre-commit-hooks.yaml`
//! must only use flags the real binary accepts, must not interpolate expressions into shell
//! code, and the hooks must do what the README says on real files.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_yaml(name: &str) -> Value {
    let text = fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

fn action() -> Value {
    read_yaml("action.yml")
}

fn hooks() -> Vec<Value> {
    match read_yaml(".pre-commit-hooks.yaml") {
        Value::Array(hooks) => hooks,
        other => panic!(".pre-commit-hooks.yaml must be a list of hooks, got {other}"),
    }
}

fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` must be a string in {value}"))
}

/// The action's steps.
fn steps(action: &Value) -> &Vec<Value> {
    action["runs"]["steps"]
        .as_array()
        .expect("action.yml has runs.steps")
}

/// Every `run:` script of the action, with the step's name.
fn run_scripts(action: &Value) -> Vec<(String, String)> {
    steps(action)
        .iter()
        .filter_map(|step| {
            let run = step.get("run")?.as_str()?;
            let name = step["name"].as_str().unwrap_or("(unnamed)").to_owned();
            Some((name, run.to_owned()))
        })
        .collect()
}

/// The long flags (`--name`, without a value) passed to `kubeharden SUBCOMMAND` in a shell
/// script: line continuations are joined, `echo` lines (messages) are ignored, the bare `--`
/// that ends the options is not a flag. Also returns how many invocations were found.
fn flags_in_script(script: &str, subcommand: &str) -> (BTreeSet<String>, usize) {
    let joined = script.replace("\\\n", " ");
    let mut flags = BTreeSet::new();
    let mut invocations = 0;
    for line in joined.lines() {
        let line = line.trim();
        if line.starts_with("echo") || line.starts_with('#') {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(start) = tokens
            .windows(2)
            .position(|w| w[0] == "kubeharden" && w[1] == subcommand)
        else {
            continue;
        };
        invocations += 1;
        for token in &tokens[start + 2..] {
            if *token == "--" || matches!(*token, "||" | "&&" | ">" | "|") {
                break;
            }
            if let Some(flag) = token.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap();
                flags.insert(format!("--{flag}"));
            }
        }
    }
    (flags, invocations)
}

/// The long flags `kubeharden SUBCOMMAND --help` lists as options, or its stderr when it fails.
fn accepted_flags(subcommand: &str) -> Result<BTreeSet<String>, String> {
    let output = Command::cargo_bin("kubeharden")
        .unwrap()
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let help = String::from_utf8(output.stdout).expect("help is UTF-8");
    let flags = help
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            // Option lines: `--dry-run`, `--color <COLOR>`, `-h, --help`.
            let line = line.strip_prefix("-h, ").unwrap_or(line);
            let rest = line.strip_prefix("--")?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then(|| format!("--{name}"))
        })
        .collect();
    Ok(flags)
}

fn assert_accepted(used: &BTreeSet<String>, accepted: &BTreeSet<String>, place: &str, sub: &str) {
    let unknown: Vec<&String> = used.difference(accepted).collect();
    assert!(
        unknown.is_empty(),
        "{place} passes {unknown:?} to `kubeharden {sub}`, which accepts only {accepted:?}"
    );
}

#[test]
fn hooks_run_kubeharden_fix_with_accepted_flags() {
    let accepted = accepted_flags("fix").expect("kubeharden fix --help succeeds");
    assert!(
        accepted.contains("--dry-run"),
        "the help parser found {accepted:?}"
    );
    let hooks = hooks();
    let ids: BTreeSet<&str> = hooks.iter().map(|h| str_field(h, "id")).collect();
    assert_eq!(ids, BTreeSet::from(["kubeharden", "kubeharden-check"]));
    for hook in &hooks {
        let id = str_field(hook, "id");
        let entry = str_field(hook, "entry");
        assert!(
            entry.starts_with("kubeharden fix"),
            "hook {id}: the entry `{entry}` must start with `kubeharden fix`"
        );
        assert_eq!(str_field(hook, "language"), "rust", "hook {id}");
        assert!(!str_field(hook, "name").is_empty(), "hook {id} has a name");
        assert!(
            !str_field(hook, "description").is_empty(),
            "hook {id} has a description"
        );
        let (used, invocations) = flags_in_script(entry, "fix");
        assert_eq!(invocations, 1, "hook {id}");
        assert_accepted(&used, &accepted, &format!("hook {id}"), "fix");
        assert_eq!(
            used.contains("--dry-run"),
            id == "kubeharden-check",
            "hook {id}: only kubeharden-check is a dry run"
        );
    }
}

#[test]
fn action_runs_kubeharden_with_accepted_flags() {
    let action = action();
    let scripts = run_scripts(&action);

    let fix_flags = accepted_flags("fix").expect("kubeharden fix --help succeeds");
    let mut fix_used = BTreeSet::new();
    let mut fix_invocations = 0;
    let mut pr_used = BTreeSet::new();
    let mut pr_invocations = 0;
    for (name, script) in &scripts {
        let (used, n) = flags_in_script(script, "fix");
        fix_invocations += n;
        assert_accepted(&used, &fix_flags, &format!("action step `{name}`"), "fix");
        fix_used.extend(used);
        let (used, n) = flags_in_script(script, "pr");
        pr_invocations += n;
        pr_used.extend(used);
    }
    assert_eq!(
        fix_invocations, 1,
        "the check step runs `kubeharden fix` once"
    );
    assert_eq!(pr_invocations, 1, "the pr step runs `kubeharden pr` once");
    for flag in ["--dry-run", "--report", "--pr-body"] {
        assert!(fix_used.contains(flag), "the check step passes {flag}");
    }
    for flag in ["--github-repo", "--api-url"] {
        assert!(pr_used.contains(flag), "the pr step passes {flag}");
    }

    let pr_flags = accepted_flags("pr").expect("kubeharden pr --help succeeds");
    assert_accepted(&pr_used, &pr_flags, "action.yml", "pr");

    let check_flags = accepted_flags("check").expect("kubeharden check --help succeeds");
    let all: Vec<&str> = scripts.iter().map(|(_, script)| script.as_str()).collect();
    let (check_used, check_invocations) = flags_in_script(&all.join("\n"), "check");
    assert_eq!(
        check_invocations, 1,
        "`sarif: true` runs `kubeharden check` once"
    );
    assert_accepted(&check_used, &check_flags, "action.yml", "check");
    assert!(
        check_used.contains("--format"),
        "the SARIF step asks for --format sarif"
    );
}

#[test]
fn action_never_interpolates_expressions_into_shell_code() {
    let action = action();
    let scripts = run_scripts(&action);
    assert!(scripts.len() >= 3, "the action has its run steps");
    for (name, script) in &scripts {
        assert!(
            !script.contains("${{"),
            "action step `{name}` interpolates an expression into shell code (script \
             injection): pass it through `env:` and quote the variable"
        );
    }
    for step in steps(&action) {
        if step.get("run").is_some() {
            assert_eq!(
                step["shell"], "bash",
                "step {}: run steps use bash",
                step["name"]
            );
        }
    }
    // The raw text too, in case a run block escaped the parse above (e.g. a second `runs:`).
    let text = fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(!text.contains("run: ${{"));
}

#[test]
fn action_declares_its_interface() {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = &action["inputs"];
    for (input, default) in [
        ("command", "check"),
        ("paths", "."),
        ("profile", ""),
        ("args", ""),
        ("token", "${{ github.token }}"),
    ] {
        assert_eq!(
            inputs[input]["default"].as_str(),
            Some(default),
            "input {input}'s default"
        );
        assert!(inputs[input]["description"].is_string(), "input {input}");
    }
    for output in ["exit-code", "pull-request-url"] {
        assert!(
            action["outputs"][output]["value"].is_string(),
            "output {output}"
        );
    }
    let scripts: String = run_scripts(&action)
        .into_iter()
        .map(|(_, s)| s + "\n")
        .collect();
    assert!(scripts.contains("cargo install --locked"));
    assert!(scripts.contains("$GITHUB_STEP_SUMMARY"));
    // paths and args are split into arrays, never evaluated.
    assert!(scripts.contains("read -ra paths") && scripts.contains("read -ra extra"));
    assert!(!scripts.contains("eval "));
}

#[test]
fn readme_documents_the_hooks_and_the_inputs() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for hook in hooks() {
        let id = str_field(&hook, "id");
        assert!(
            readme.contains(&format!("`{id}`")),
            "README names hook {id}"
        );
    }
    for line in readme.lines() {
        if let Some(id) = line.trim().strip_prefix("- id: ") {
            let id = id.split_whitespace().next().unwrap();
            assert!(
                hooks().iter().any(|h| h["id"] == id),
                "README's pre-commit example uses hook {id}, which .pre-commit-hooks.yaml lacks"
            );
        }
    }
    let action = action();
    for input in action["inputs"].as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("| `{input}` |")),
            "README's input table lists {input}"
        );
    }
}

fn hook(id: &str) -> Value {
    hooks()
        .into_iter()
        .find(|h| h["id"] == id)
        .unwrap_or_else(|| panic!("hook {id} exists"))
}

/// Runs a hook's entry as pre-commit would: the entry's words, then the file names.
fn run_entry(dir: &Path, entry: &str, files: &[&str]) -> std::process::Output {
    let mut words = entry.split_whitespace();
    assert_eq!(words.next(), Some("kubeharden"));
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir)
        .args(words)
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn hooks_fix_and_check_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = ["deploy/deployment.yaml", "cronjob.json"];
    fs::create_dir(dir.path().join("deploy")).unwrap();
    fs::copy(
        root().join("examples/deployment.yaml"),
        dir.path().join(files[0]),
    )
    .unwrap();
    fs::copy(
        root().join("examples/cronjob.json"),
        dir.path().join(files[1]),
    )
    .unwrap();
    let before: Vec<String> = files
        .iter()
        .map(|f| fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    let read_all = || -> Vec<String> {
        files
            .iter()
            .map(|f| fs::read_to_string(dir.path().join(f)).unwrap())
            .collect()
    };

    let check = hook("kubeharden-check");
    let out = run_entry(dir.path(), str_field(&check, "entry"), &files);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the check hook fails on changes"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("+++ b/deploy/deployment.yaml"));
    assert_eq!(read_all(), before, "the check hook writes nothing");

    let fix = hook("kubeharden");
    let out = run_entry(dir.path(), str_field(&fix, "entry"), &files);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = read_all();
    for (i, file) in files.iter().enumerate() {
        assert_ne!(after[i], before[i], "the fix hook changed {file}");
    }

    let out = run_entry(dir.path(), str_field(&check, "entry"), &files);
    assert_eq!(out.status.code(), Some(0), "nothing left to change");
}

/// The hooks' `files` and `exclude` patterns, read as pre-commit reads them (Python `re.search`
/// on the path relative to the repository root). No regex crate here: the patterns are pinned
/// literally and their documented intent is spelt out by hand below.
const FILES_PATTERN: &str = r"\.(ya?ml|json)$";
const EXCLUDE_PATTERN: &str = "(^|/)templates/";

fn selected(path: &str) -> bool {
    let manifest = [".yaml", ".yml", ".json"].iter().any(|e| path.ends_with(e));
    let template = path.starts_with("templates/") || path.contains("/templates/");
    manifest && !template
}

#[test]
fn hooks_leave_helm_templates_out() {
    for hook in hooks() {
        let id = str_field(&hook, "id");
        assert_eq!(str_field(&hook, "files"), FILES_PATTERN, "hook {id}");
        assert_eq!(str_field(&hook, "exclude"), EXCLUDE_PATTERN, "hook {id}");
    }
    for path in [
        "deploy/app.yaml",
        "app.yml",
        "k8s/cronjob.json",
        "my-templates/pod.yaml",
        "templatesx/pod.yaml",
    ] {
        assert!(selected(path), "{path} is checked");
    }
    for path in [
        "chart/templates/pod.yaml",
        "templates/pod.yaml",
        "charts/a/templates/sub/deployment.yml",
        "README.md",
        "app.yaml.bak",
    ] {
        assert!(!selected(path), "{path} is left out");
    }

    // Why: a Helm template named on the command line, as pre-commit would name it, is an error.
    let dir = tempfile::tempdir().unwrap();
    let template = "chart/templates/pod.yaml";
    fs::create_dir_all(dir.path().join("chart/templates")).unwrap();
    fs::write(
        dir.path().join(template),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\nspec:\n  containers:\n  - name: app\n    image: nginx\n",
    )
    .unwrap();
    assert!(!selected(template));
    let out = run_entry(
        dir.path(),
        str_field(&hook("kubeharden"), "entry"),
        &[template],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a named Helm template is an error"
    );
}
