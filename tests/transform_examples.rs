//! Every transform's declared example is true: the transform alone turns `before` into
//! `after`, byte for byte, and changes nothing on a second run.

use kubeharden::fix::fix_text;
use kubeharden::transform;

#[test]
fn each_declared_example_is_what_the_transform_does() {
    assert!(!transform::all().is_empty());
    for t in transform::all() {
        assert_ne!(
            t.example.before, t.example.after,
            "{}: the example shows no change",
            t.id
        );
        let fixed = fix_text(&t.example.before, &[t]).unwrap_or_else(|e| panic!("{}: {e}", t.id));
        let output = fixed
            .output
            .unwrap_or_else(|| panic!("{}: the example was not changed", t.id));
        assert_eq!(
            output, t.example.after,
            "{}: the example's `after` is not what the transform writes",
            t.id
        );
        assert!(fixed.changes.iter().all(|c| c.transform == t.id));
        let again = fix_text(&output, &[t]).unwrap();
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
            !t.title.is_empty() && !t.why.is_empty() && !t.rules.is_empty(),
            "{}",
            t.id
        );
        assert!(!t.references.pod_security_standards.is_empty(), "{}", t.id);
        assert_eq!(t.profile, "default", "{}", t.id);
    }
}
