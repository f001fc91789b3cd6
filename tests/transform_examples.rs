//! Every transform's declared example is true: the transform alone, in its profile, turns
//! `before` into `after`, byte for byte, and changes nothing on a second run. A report-only
//! transform changes nothing and reports a warning.

use kubeharden::fix::{ChangeDetail, fix_text};
use kubeharden::transform::{self, FindingKind, Safety, Settings, network_policy};

#[test]
fn each_declared_example_is_what_the_transform_does() {
    assert!(transform::all().len() >= 13);
    for t in transform::all() {
        if t.new_file {
            let inventory = network_policy::Inventory::of(&t.example.before, &[]);
            let namespaces: Vec<Option<&str>> =
                network_policy::namespaces_without_policy(&[&inventory])
                    .iter()
                    .map(|(_, workload, _)| workload.namespace.as_deref())
                    .collect();
            assert_eq!(
                network_policy::render(&namespaces, false),
                t.example.after,
                "{}: the example's `after` is not the new file",
                t.id
            );
            continue;
        }
        let settings = Settings::just(t);
        let fixed = fix_text(&t.example.before, &settings, ChangeDetail::Listed)
            .unwrap_or_else(|e| panic!("{}: {e}", t.id));
        assert!(fixed.changes.iter().all(|c| c.transform == t.id));
        if t.safety == Safety::ReportOnly {
            assert_eq!(
                t.example.before, t.example.after,
                "{}: a report-only example changes nothing",
                t.id
            );
            assert!(
                fixed.output.is_none(),
                "{}: a report-only transform changed the example",
                t.id
            );
            assert!(
                fixed
                    .findings
                    .iter()
                    .any(|f| f.kind == FindingKind::Warning && f.transform == t.id),
                "{}: the example raises no warning",
                t.id
            );
            continue;
        }
        assert_ne!(
            t.example.before, t.example.after,
            "{}: the example shows no change",
            t.id
        );
        let output = fixed
            .output
            .unwrap_or_else(|| panic!("{}: the example was not changed", t.id))
            .text(&t.example.before);
        assert_eq!(
            output, t.example.after,
            "{}: the example's `after` is not what the transform writes",
            t.id
        );
        let again = fix_text(&output, &settings, ChangeDetail::Listed).unwrap();
        assert!(
            again.output.is_none(),
            "{}: a second run changed the example again",
            t.id
        );
    }
}

#[test]
fn declarations_are_complete() {
    for t in transform::all() {
        assert!(
            !t.title.is_empty() && !t.why.is_empty() && (!t.rules.is_empty() || t.new_file),
            "{}",
            t.id
        );
        assert!(!t.references.pod_security_standards.is_empty(), "{}", t.id);
    }
}

#[test]
fn the_readme_table_is_generated_from_the_declarations() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = kubeharden::cli::docs::transform_table();
    assert!(
        readme.contains(&table),
        "README.md's transform table is out of date; replace it with the output of `kubeharden transforms`:\n{table}"
    );
}

#[test]
fn the_reference_in_docs_is_generated_from_the_declarations() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/transforms.md");
    let reference = kubeharden::cli::docs::reference();
    if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
        std::fs::write(path, &reference).unwrap();
    }
    let written = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        written == reference,
        "docs/transforms.md is out of date; run KUBEHARDEN_BLESS=1 cargo test --test transform_examples"
    );
}
