//! Byte-exact golden cases: each folder under `golden/` holds an `input.*` and either an
//! `expected.*` (same extension) with the fixed text, or `expected.err` with the one-line error.
//! `KUBEHARDEN_BLESS=1 cargo test --test golden` rewrites the expectations; read every diff it
//! makes before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use kubeharden::fix::fix_bytes;
use kubeharden::transform;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("golden/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
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

#[test]
fn golden_cases_match_byte_for_byte_and_a_second_run_changes_nothing() {
    let bless = std::env::var_os("KUBEHARDEN_BLESS").is_some();
    let transforms: Vec<_> = transform::all().iter().collect();
    let cases = cases();
    assert!(
        cases.len() >= 30,
        "expected at least 30 golden cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let input_path = input_of(case);
        let input = fs::read(&input_path).unwrap();
        let extension = input_path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("yaml");
        let (actual, expected_path) = match fix_bytes(&input, &transforms) {
            Ok(fixed) => {
                let output = fixed
                    .output
                    .clone()
                    .map(String::into_bytes)
                    .unwrap_or_else(|| input.clone());
                if let Some(text) = &fixed.output {
                    let again =
                        fix_bytes(text.as_bytes(), &transforms).expect("the output parses again");
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
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
