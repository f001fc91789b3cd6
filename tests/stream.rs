//! A large stream's documents are read in pieces and fixed in parallel inside a thread pool (as
//! the command line runs them) and one after another outside one: both must give the same text,
//! changes and findings, in the same order, or the same error.

use std::fs;
use std::path::Path;

use kubeharden::fix::{ChangeDetail, fix_text};
use kubeharden::transform::Settings;

/// The inputs of the golden cases fixed with the default settings, as one stream. Directives,
/// byte order marks and bare CRs are left out: they are valid only at the start of a stream or
/// make the whole stream an error.
fn golden_inputs() -> String {
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
    documents.join("\n---\n")
}

/// Copies of `once` as one stream, enough for it to be fixed in parallel and read in several
/// batches.
fn copies_of(once: &str) -> (usize, String) {
    let copies = (2 << 20) / once.len() + 2;
    (copies, vec![once; copies].join("\n---\n"))
}

/// The golden inputs, repeated as one stream until it is large enough to be fixed in parallel.
fn large_stream() -> String {
    copies_of(&golden_inputs()).1
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .stack_size(16 << 20)
        .build()
        .expect("a thread pool")
}

#[test]
fn parallel_documents_give_the_sequential_result() {
    let stream = large_stream();
    let settings = Settings::default();
    let sequential = fix_text(&stream, &settings, ChangeDetail::Listed);
    let fixed = sequential.as_ref().expect("the stream is fixed");
    assert!(fixed.output.is_some() && !fixed.findings.is_empty());
    let parallel = pool().install(|| fix_text(&stream, &settings, ChangeDetail::Listed));
    assert_eq!(format!("{parallel:?}"), format!("{sequential:?}"));
}

/// A stream is read a batch of documents at a time, and each batch fixed while the next is
/// read: each copy of a text in a stream, whichever batches it falls in, must come out as the
/// text alone does (a suppression comment, an anchor or a binding read in another batch than
/// the document it concerns would show here).
#[test]
fn each_copy_in_a_stream_read_in_batches_is_fixed_as_the_text_alone() {
    let once = golden_inputs();
    let (copies, stream) = copies_of(&once);
    let settings = Settings::default();
    let alone =
        fix_text(&once, &settings, ChangeDetail::Listed).expect("the golden inputs are fixed");
    let alone_output = alone.output.expect("the golden inputs change").text(&once);
    for whole in [
        fix_text(&stream, &settings, ChangeDetail::Listed),
        pool().install(|| fix_text(&stream, &settings, ChangeDetail::Listed)),
    ] {
        let whole = whole.expect("the stream is fixed");
        let written = whole.output.expect("the stream changes");
        let output = written.text(&stream);
        // What the dry-run diff is made of: each document as the edits leave it.
        let documents = written
            .documents(&stream)
            .expect("edits stay in their documents");
        assert!(
            (0..documents.len())
                .map(|index| documents.get(index))
                .collect::<String>()
                == output,
            "the documents as edited are not the output"
        );
        assert!(
            output == vec![alone_output.as_str(); copies].join("\n---\n"),
            "the stream's output is not its copies' outputs"
        );
        assert_eq!(whole.changes.len(), copies * alone.changes.len());
        assert_eq!(whole.findings.len(), copies * alone.findings.len());
        let suppressed = |findings: &[kubeharden::transform::Finding]| {
            findings
                .iter()
                .filter(|f| f.message.contains("suppressed by the comment"))
                .count()
        };
        assert!(suppressed(&alone.findings) > 0);
        assert_eq!(
            suppressed(&whole.findings),
            copies * suppressed(&alone.findings)
        );
    }
}

/// Read in pieces, a stream that does not parse, or whose aliases reach the limit, far into it,
/// fails with the error, and the position, of a whole reading.
#[test]
fn an_error_deep_in_a_stream_read_in_pieces_is_the_error_read_whole() {
    let stream = large_stream();
    let settings = Settings::default();
    // Aliases standing for 345,562 nodes per document: the third passes the limit.
    let mut aliases = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..=4 {
        aliases.push_str(&format!(
            "l{level}: &l{level} [{}]\n",
            vec![format!("*l{}", level - 1); 10].join(", ")
        ));
    }
    aliases.push_str("top: [*l4, *l4]\n");
    // Each document in a piece of its own: the limit is the stream's, not a piece's.
    aliases.push_str(&format!("padding: {}\n", "x".repeat(100_000)));
    let aliases = [aliases.as_str(); 4].join("---\n");
    for error in [
        "kind: Pod\nspec: [unclosed\n",
        "kind: Pod\nspec: *nowhere\n",
        &aliases,
    ] {
        let broken = format!("{stream}\n---\n{error}---\n{stream}");
        let sequential = fix_text(&broken, &settings, ChangeDetail::Listed);
        assert!(sequential.is_err(), "{error:?} is an error");
        let parallel = pool().install(|| fix_text(&broken, &settings, ChangeDetail::Listed));
        assert_eq!(format!("{parallel:?}"), format!("{sequential:?}"));
    }
}
