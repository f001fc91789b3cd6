//! Replays inputs through every fuzz target, with the invariants the fuzzer (`scripts/fuzz.sh`)
//! checks (`examples/fuzz/targets.rs`): no panic, written text that reads back as intended, a
//! second `fix` that changes nothing. The `edit` target's edits depend on a seed: each input
//! runs with several.
//!
//! The inputs, in `tests/fuzz-regressions/`: findings once fixed (named for what they found),
//! and inputs of syntax the mutations rarely build whole (CRLF, a BOM, anchors, explicit keys).

mod common;
#[path = "../examples/fuzz/targets.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use targets::TARGETS;

/// Seeds for the `edit` target's choice of edits.
const SEEDS: [u64; 8] = [1, 2, 3, 5, 8, 13, 21, 34];

/// The inputs in `tests/fuzz-regressions/`, in name order.
fn inputs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no input in {}", dir.display());
    inputs
}

/// Every failure of `path` under every target and seed, one line each.
fn failures(path: &Path) -> Vec<String> {
    let input = std::fs::read(path).expect("a readable input");
    let mut failures = Vec::new();
    for target in &TARGETS {
        for seed in SEEDS {
            let failure = match catch_unwind(AssertUnwindSafe(|| (target.run)(&input, seed))) {
                Ok(Ok(())) => continue,
                Ok(Err(reason)) => reason,
                Err(_) => "panic".to_owned(),
            };
            failures.push(format!(
                "{} ({} target, seed {seed}): {failure}",
                path.display(),
                target.name
            ));
        }
    }
    failures
}

#[test]
fn fixed_fuzz_findings_stay_fixed() {
    let failures: Vec<String> = inputs().iter().flat_map(|path| failures(path)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The parse target's invariants (among them: the comments found between the parser's events
/// are those it reports) on every manifest of the shared corpus, unmutated.
#[test]
fn corpus_holds_the_parse_invariants() {
    let Some(corpus) = common::corpus_dir() else {
        eprintln!("../shared/corpus is absent: skipped");
        return;
    };
    let parse = TARGETS
        .iter()
        .find(|t| t.name == "parse")
        .expect("a parse target");
    let manifests = common::manifests(&corpus);
    assert!(
        manifests.len() > 1000,
        "only {} manifests in {}",
        manifests.len(),
        corpus.display()
    );
    let failures: Vec<String> = manifests
        .iter()
        .filter_map(|path| {
            let input = std::fs::read(corpus.join(path)).expect("a readable manifest");
            let reason = (parse.run)(&input, 1).err()?;
            Some(format!("{}: {reason}", path.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
