//! A large stream's documents are fixed in parallel inside a thread pool (as the command line
//! runs them) and one after another outside one: both must give the same text, changes and
//! findings, in the same order.

use std::fs;
use std::path::Path;

use kubeharden::fix::fix_text;
use kubeharden::transform::Settings;

/// The inputs of the golden cases fixed with the default settings, as one stream repeated until
/// it is large enough to be fixed in parallel. Directives, byte order marks and bare CRs are
/// left out: they are valid only at the start of a stream or make the whole stream an error.
fn large_stream() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut cases: Vec<_> = fs::read_dir(&root)
        .expect("golden/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|case| {
            case.join("expected.yaml").exists()
                && !case.join("args").exists()
                && !case.join(".kubeharden.yaml").exists()
        })
        .collect();
    cases.sort();
    let documents: Vec<String> = cases
        .iter()
        .filter_map(|case| fs::read_to_string(case.join("input.yaml")).ok())
        .filter(|input| {
            !input.starts_with('\u{feff}')
                && !input.lines().any(|l| l.starts_with('%'))
                && !input.replace("\r\n", "\n").contains('\r')
        })
        .collect();
    let once = documents.join("\n---\n");
    let mut stream = once.clone();
    while stream.len() < 2 << 20 {
        stream.push_str("\n---\n");
        stream.push_str(&once);
    }
    stream
}

#[test]
fn parallel_documents_give_the_sequential_result() {
    let stream = large_stream();
    let settings = Settings::default();
    let sequential = fix_text(&stream, &settings);
    let fixed = sequential.as_ref().expect("the stream is fixed");
    assert!(fixed.output.is_some() && !fixed.findings.is_empty());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .stack_size(16 << 20)
        .build()
        .expect("a thread pool");
    let parallel = pool.install(|| fix_text(&stream, &settings));
    assert_eq!(format!("{parallel:?}"), format!("{sequential:?}"));
}
