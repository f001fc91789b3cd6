//! Byte-exact golden cases: each folder under `golden/` holds an `input.*` and either an
//! `expected.*` (same extension) with the fixed text, or `expected.err` with the one-line error.
//! An optional `args` file holds settings written as on the command line: `--profile NAME`,
//! `--only ID,ID`, `--skip ID,ID`; without it the default profile runs. An optional
//! `.kubeharden.yaml` in the folder is read as the configuration (options, secret readers), the
//! `args` winning over it as the command line does. When the folder holds an
//! `expected.findings`, the warnings, skips and suppressions must match it too, one a line
//! (create it empty, then bless).
//! `KUBEHARDEN_BLESS=1 cargo test --test golden` rewrites the expectations; read every diff it
//! makes before committing it. `golden/reports/` holds the cases of the reports (tests/reports.rs).

use std::fs;
use std::path::{Path, PathBuf};

use kubeharden::config::{Config, FILE_NAME as CONFIG_FILE, Overrides};
use kubeharden::fix::{ChangeDetail, fix_bytes};
use kubeharden::transform::{ChangeCounts, Profile, Settings};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("golden/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir() && !p.ends_with("reports"))
        .collect();
    cases.sort();
    cases
}

fn input_of(case: &Path) -> PathBuf {
    fs::read_dir(case)
        .expect("case folder readable")
        .map(|e| e.expect("readable entry").path())
        .find(|p| p.file_stem().is_some_and(|s| s == "input"))
        .unwrap_or_else(|| panic!("{} has no input.* file", case.display()))
}

/// The settings of `case`: its `.kubeharden.yaml` under the settings its `args` file names, or the
/// default profile.
fn settings_of(case: &Path) -> Settings {
    let mut overrides = Overrides::default();
    if let Ok(args) = fs::read_to_string(case.join("args")) {
        let mut words = args.split_whitespace();
        while let Some(flag) = words.next() {
            let value = words
                .next()
                .unwrap_or_else(|| panic!("{}/args: {flag} needs a value", case.display()));
            let ids = || value.split(',').map(str::to_owned);
            match flag {
                "--profile" => {
                    overrides.profile =
                        Some(Profile::named(value).unwrap_or_else(|| {
                            panic!("{}/args: no profile {value}", case.display())
                        }))
                }
                "--only" => overrides.only.extend(ids()),
                "--skip" => overrides.skip.extend(ids()),
                _ => panic!("{}/args: unknown setting {flag}", case.display()),
            }
        }
    }
    let config = case.join(CONFIG_FILE);
    let loaded = if config.exists() {
        Config::load(&config, &overrides)
    } else {
        Config::from_overrides(&overrides)
    };
    loaded
        .unwrap_or_else(|e| panic!("{}: {e}", case.display()))
        .settings
}

#[test]
fn golden_cases_match_byte_for_byte_and_a_second_run_changes_nothing() {
    let bless = std::env::var_os("KUBEHARDEN_BLESS").is_some();
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "expected at least 30 golden cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let settings = settings_of(case);
        let input_path = input_of(case);
        let input = fs::read(&input_path).unwrap();
        let extension = input_path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("yaml");
        let findings_path = case.join("expected.findings");
        let mut outputs = Vec::new();
        let (actual, expected_path) = match fix_bytes(&input, &settings, ChangeDetail::Listed) {
            Ok(fixed) => {
                if findings_path.exists() {
                    let findings: String = fixed
                        .findings
                        .iter()
                        .map(|f| {
                            let kind = format!("{:?}", f.kind).to_lowercase();
                            format!("{}: {kind} {}: {f}\n", f.line, f.transform)
                        })
                        .collect();
                    outputs.push((findings_path, findings.into_bytes()));
                }
                // Fixed, so UTF-8.
                let source = String::from_utf8_lossy(&input);
                let text = fixed.output.as_ref().map(|w| w.text(&source));
                let output = text
                    .clone()
                    .map(String::into_bytes)
                    .unwrap_or_else(|| input.clone());
                if let Some(text) = &text {
                    let again = fix_bytes(text.as_bytes(), &settings, ChangeDetail::Listed)
                        .expect("the output parses again");
                    if again.output.is_some() {
                        failures.push(format!(
                            "{}: a second run changed the output again",
                            case.display()
                        ));
                    }
                }
                (output, case.join(format!("expected.{extension}")))
            }
            Err(e) => {
                let place = e.position().map_or(String::new(), |p| format!("{p}: "));
                (
                    format!("{place}{e}\n").into_bytes(),
                    case.join("expected.err"),
                )
            }
        };
        outputs.push((expected_path, actual));
        for (expected_path, actual) in outputs {
            if bless {
                fs::write(&expected_path, &actual).unwrap();
                continue;
            }
            match fs::read(&expected_path) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(format!(
                    "{}: output differs from {}\n--- expected\n{}\n--- actual\n{}",
                    case.display(),
                    expected_path.display(),
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&actual)
                )),
                Err(_) => failures.push(format!(
                    "{}: missing {}",
                    case.display(),
                    expected_path.display()
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// What `fix` keeps when only the summary line counts the changes (`ChangeDetail::Counted`):
/// for every golden case, the same output, findings (the notes on comments an edit removed
/// name the nearest change in full) and errors, and as many changes of each transform.
#[test]
fn counted_changes_give_what_listed_changes_give() {
    for case in cases() {
        let settings = settings_of(&case);
        let input = fs::read(input_of(&case)).unwrap();
        let listed = fix_bytes(&input, &settings, ChangeDetail::Listed);
        let counted = fix_bytes(&input, &settings, ChangeDetail::Counted);
        let (listed, counted) = match (listed, counted) {
            (Ok(listed), Ok(counted)) => (listed, counted),
            (Err(listed), Err(counted)) => {
                assert_eq!(listed, counted, "{}", case.display());
                continue;
            }
            (listed, counted) => panic!(
                "{}: listed gave {listed:?}, counted {counted:?}",
                case.display()
            ),
        };
        let mut by_transform = ChangeCounts::default();
        by_transform.add(&listed.changes);
        assert_eq!(counted.unlisted, by_transform, "{}", case.display());
        assert!(counted.changes.is_empty(), "{}", case.display());
        assert_eq!(listed.unlisted.total(), 0, "{}", case.display());
        assert_eq!(counted.findings, listed.findings, "{}", case.display());
        assert_eq!(counted.output, listed.output, "{}", case.display());
    }
}
