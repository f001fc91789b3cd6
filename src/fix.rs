//! The pipeline for one input: read → index → plan → edit → verify → emit.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::k8s;
use crate::transform::{self, Change, ChangeCounts, Finding, Settings};
use crate::yaml::{self, Node, NodeKind, Position, ScalarStyle, Text};

/// What one input became.
#[derive(Debug)]
pub struct Fixed {
    /// The verified edits, when anything changed: [`yaml::Written::text`] gives the new text,
    /// [`yaml::Written::documents`] its documents without building the whole.
    pub output: Option<yaml::Written>,
    /// Every field changed, when the changes are [`ChangeDetail::Listed`].
    pub changes: Vec<Change>,
    /// How many changes each transform made that `changes` does not list: every change, when
    /// they are [`ChangeDetail::Counted`].
    pub unlisted: ChangeCounts,
    /// Warnings, skips and suppressions, in line order.
    pub findings: Vec<Finding>,
}

/// How much of the changes [`fix_text`] keeps: its callers choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDetail {
    /// Each change, with its field and values: for the outputs that show them one by one
    /// (the reports, `check`, pull requests).
    Listed,
    /// Only how many each transform made, which is all a summary line needs. A stream whose
    /// every document is edited makes about one change per 25 of its bytes, each kept in about
    /// 200: listed to the end, they took most of the memory.
    Counted,
}

/// Why an input was not processed. Nothing was written for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixError {
    /// The input holds a NUL byte, here.
    Binary(Position),
    /// The input starts with the byte order mark of UTF-16 or UTF-32: the encoding's name.
    WideEncoding(&'static str),
    /// An edit was due in a text whose line breaks are a bare CR (classic Mac OS) here, which
    /// YAML reads as line breaks and kubeharden's editing does not.
    BareCarriageReturn(Position),
    /// The input is not UTF-8.
    NotUtf8(Position),
    /// The input is a Helm template (Go template actions outside YAML strings).
    HelmTemplate(Position),
    /// The input is not valid YAML.
    Parse(yaml::ParseError),
    /// A resource of a kind declared in the configuration has no pod spec where the declaration
    /// says (here): the message names both.
    Misdeclared(Position, String),
    /// An edit has no faithful rendering in this text (a known limitation, named).
    Unsupported(yaml::RenderError),
    /// The edited text did not read back as intended; a bug in kubeharden.
    Internal(String),
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixError::Binary(_) => f.write_str("a binary file (NUL byte), not a manifest"),
            FixError::WideEncoding(encoding) => {
                let family = &encoding[..6];
                write!(
                    f,
                    "encoded in {encoding} (byte order mark); kubeharden reads UTF-8: convert it with `iconv -f {family} -t UTF-8`"
                )
            }
            FixError::BareCarriageReturn(_) => f.write_str(
                "the lines end in a bare CR (classic Mac OS), which kubeharden does not edit; convert them to LF (`tr '\\r' '\\n'`) and run again; the file was left unchanged",
            ),
            FixError::NotUtf8(_) => f.write_str("not valid UTF-8; save the file as UTF-8"),
            FixError::HelmTemplate(_) => f.write_str(
                "a Helm template, not YAML; fix the rendered output instead: helm template … | kubeharden fix -",
            ),
            FixError::Parse(e) => f.write_str(&e.message),
            FixError::Misdeclared(_, message) => f.write_str(message),
            FixError::Unsupported(e) => write!(f, "{e}; the file was left unchanged"),
            FixError::Internal(e) => write!(
                f,
                "internal error, the file was left unchanged: the edited text does not read back as intended ({e}); please report it"
            ),
        }
    }
}

impl FixError {
    /// Where in the input the problem is, when it has a place.
    pub fn position(&self) -> Option<Position> {
        match self {
            FixError::Binary(p)
            | FixError::NotUtf8(p)
            | FixError::HelmTemplate(p)
            | FixError::BareCarriageReturn(p)
            | FixError::Misdeclared(p, _) => Some(*p),
            FixError::WideEncoding(_) => Some(Position { line: 1, column: 1 }),
            FixError::Parse(e) => Some(e.position),
            FixError::Unsupported(_) | FixError::Internal(_) => None,
        }
    }

    /// Whether this error marks a Helm template, which a folder walk skips rather than reports.
    pub fn is_helm_template(&self) -> bool {
        matches!(self, FixError::HelmTemplate(_))
    }
}

/// Runs the transforms of `settings` over the bytes of one input, keeping `detail` of the
/// changes.
pub fn fix_bytes(
    bytes: &[u8],
    settings: &Settings,
    detail: ChangeDetail,
) -> Result<Fixed, FixError> {
    if let Some(encoding) = wide_encoding(bytes) {
        return Err(FixError::WideEncoding(encoding));
    }
    // Both scans read the whole input: a large one's run side by side.
    let (nul, utf8) = join_if(
        on_all_cores(bytes.len()),
        || memchr::memchr(0, bytes),
        || std::str::from_utf8(bytes),
    );
    if let Some(nul) = nul {
        return Err(FixError::Binary(position_in_bytes(&bytes[..nul])));
    }
    let source =
        utf8.map_err(|e| FixError::NotUtf8(position_in_bytes(&bytes[..e.valid_up_to()])))?;
    fix_text(source, settings, detail)
}

/// The encoding that the byte order mark starting `bytes` announces, when it is UTF-16 or
/// UTF-32 (whose text is full of NUL bytes). UTF-32LE's mark starts like UTF-16LE's.
fn wide_encoding(bytes: &[u8]) -> Option<&'static str> {
    const MARKS: [(&[u8], &str); 4] = [
        (&[0xFF, 0xFE, 0, 0], "UTF-32LE"),
        (&[0, 0, 0xFE, 0xFF], "UTF-32BE"),
        (&[0xFF, 0xFE], "UTF-16LE"),
        (&[0xFE, 0xFF], "UTF-16BE"),
    ];
    MARKS
        .iter()
        .find(|(mark, _)| bytes.starts_with(mark))
        .map(|(_, encoding)| *encoding)
}

/// The position just after `prefix`, which may hold invalid UTF-8 (counted as one column each).
fn position_in_bytes(prefix: &[u8]) -> Position {
    let prefix = String::from_utf8_lossy(prefix);
    Text::new(&prefix).position(prefix.len())
}

/// The size of an input from which its documents are fixed in parallel: below it, splitting
/// the work costs more than it saves.
const PARALLEL_FROM: usize = 1 << 20;

/// How much of the source a batch of documents spans before it is fixed: a stream is read,
/// planned, rendered and checked a batch at a time, and each batch dropped before the one
/// after the next is read, so that memory follows the batch, not the stream.
const BATCH_BYTES: usize = 1 << 18;

/// [`BATCH_BYTES`] for a stream fixed on all cores: each batch ends with the cores waiting for
/// its last task, so fewer, larger batches keep them busier. On two cores the 50 MB stream's
/// batches took 0.93 s in all at 256 KiB, 0.85 s at 1 MiB, 0.79 s at 2 MiB and no less at 4 MiB
/// when documents were fixed on any thread; since each thread fixes the documents it read,
/// the whole run's idle core-time read 0.23 s at 2 MiB, 0.22 s at 4 MiB and 0.18 s at 8 MiB
/// (wall 1.25, 1.20 and 1.17 s), for a peak of 103, 112 and 120 MB (medians of 11 runs in
/// turn). Memory still follows the batch, not the stream.
const PARALLEL_BATCH_BYTES: usize = 1 << 23;

/// What fixing one document gave.
struct FixedDocument<'a> {
    /// Its changes, when they are listed; when they are counted, those of a document whose
    /// edits may remove a comment, kept to name the change that removed it.
    changes: Vec<Change>,
    /// How many changes each transform made, when the changes are counted.
    counted: ChangeCounts,
    /// Its warnings, notes, skips and suppressions.
    findings: Vec<Finding>,
    /// Its rendered edits, if any.
    edits: Option<Result<yaml::DocumentEdits<'a>, yaml::WriteError>>,
}

/// What is kept of every document of a stream once it is dropped: what the whole-stream
/// checks and the final report need.
#[derive(Default)]
struct Kept {
    /// Every comment, in order.
    comments: Vec<std::ops::Range<usize>>,
    /// The spans of quoted and block scalars, kept only when the source holds `{{` (for
    /// telling a Helm template from a manifest whose strings hold template text).
    strings: Option<Vec<std::ops::Range<usize>>>,
    /// How many documents were read.
    documents: usize,
    /// The first document of a kind declared in the configuration with no pod spec where the
    /// declaration says.
    misdeclared: Option<FixError>,
}

impl Kept {
    /// Keeps what is needed of `document`, read from `text`.
    fn note(&mut self, text: &Text<'_>, settings: &Settings, document: &yaml::Document<'_>) {
        let root = &document.root;
        self.comments.extend(document.comments.iter().cloned());
        if let Some(strings) = &mut self.strings {
            collect_string_spans(root, strings);
        }
        self.documents += 1;
        if self.misdeclared.is_none()
            && let Some((resource, declaration)) = k8s::misdeclared(root, &settings.kinds)
        {
            let at = yaml::lookup(root, &resource.path).map_or(0, Node::full_start);
            self.misdeclared = Some(FixError::Misdeclared(
                text.position(at),
                format!(
                    "{} ({}) has no pod spec at {}, where {} puts it",
                    resource.label(),
                    resource.api_version,
                    declaration.pod_spec,
                    declaration.label()
                ),
            ));
        }
    }
}

/// The next batch of `batches`, its documents noted in `kept` as they are read, each thread
/// that reads running `before` first.
fn next_noted<'a>(
    batches: &mut yaml::Batches<'_, 'a>,
    bytes: usize,
    kept: &mut Kept,
    settings: &Settings,
    before: &yaml::BeforeReading<'_>,
) -> Result<yaml::Batch<'a>, yaml::ParseError> {
    let batch = batches.next_batch(bytes, before)?;
    for document in &batch.documents {
        kept.note(batches.text(), settings, document);
    }
    Ok(batch)
}

/// The work of one thread on a stream read on many: the documents it read of the last batch,
/// to fix and drop, and what fixing them gave, each with its number in the stream.
#[derive(Default)]
struct ThreadWork<'s> {
    documents: Vec<(usize, yaml::Document<'s>)>,
    fixed: Vec<(usize, FixedDocument<'s>)>,
}

/// Runs the transforms of `settings` over one UTF-8 input.
///
/// The input is read a batch of documents at a time; each batch is planned, rendered and
/// checked and then dropped: only the edits are kept for the output. A large input is read and
/// fixed on all the cores of the pool the caller runs in, each thread fixing the documents it
/// read before it reads more.
pub fn fix_text<'s>(
    source: &'s str,
    settings: &Settings,
    detail: ChangeDetail,
) -> Result<Fixed, FixError> {
    // A large stream is fixed on all the cores of the pool the caller runs in (the walk over
    // files runs in one, so no core is asked twice), read in pieces as well; a small one is
    // not worth a split, nor is any on a pool of one thread.
    let parallel = on_all_cores(source.len());
    // Scans of the whole text, run beside the indexing of its lines when it is large. Most
    // inputs hold no `{{`, which one scan tells. Only LF and CRLF line breaks are known to the
    // editing; a bare CR would put new lines in the wrong place (a file without edits is read
    // well enough).
    let (text, (first_action, bare_carriage_return, has_tag_directive)) = join_if(
        parallel,
        || Text::new(source),
        || {
            (
                memchr::memmem::find(source.as_bytes(), b"{{"),
                yaml::bare_carriage_return(source),
                yaml::has_tag_directive(source),
            )
        },
    );
    let mut kept = Kept {
        strings: first_action.is_some().then(Vec::new),
        ..Kept::default()
    };
    // Objects of kinds no transform reads (ConfigMaps, CustomResourceDefinitions…, two thirds
    // of a typical stream's bytes) are parsed but not built; the Helm check needs the string
    // spans of every document.
    let is_read = |kind: &str| k8s::is_read(kind, &settings.kinds);
    let mut batches = yaml::Batches::new(&text);
    if kept.strings.is_none() {
        batches = batches.building_only("kind", &is_read);
    }
    if parallel {
        batches = batches.in_pieces();
    }
    let batch_bytes = match parallel {
        true => PARALLEL_BATCH_BYTES,
        false => BATCH_BYTES,
    };
    let writer = yaml::Writer::knowing_tags(&text, has_tag_directive);
    let fix_document = |index: usize,
                        document: &yaml::Document<'s>,
                        reading: &transform::StreamReading|
     -> FixedDocument<'s> {
        if !document.built {
            return FixedDocument {
                changes: Vec::new(),
                counted: ChangeCounts::default(),
                findings: Vec::new(),
                edits: None,
            };
        }
        let (root, anchors) = (&document.root, &document.anchor_names);
        let plan = transform::plan(settings, &text, root, anchors, index, reading);
        let edits = plan
            .intended
            .filter(|_| bare_carriage_return.is_none())
            .map(|intended| writer.edit_document(index, &document.root, &intended));
        let mut changes = plan.changes;
        let mut counted = ChangeCounts::default();
        if detail == ChangeDetail::Counted {
            counted.add(&changes);
            // The change nearest to a comment an edit removed names it, so the changes of a
            // document whose edits may remove one are kept until the edits are checked
            // (rarely: few edits replace text holding a `#`).
            let may_remove_comments = (edits.as_ref())
                .is_some_and(|e| e.as_ref().is_ok_and(|e| e.may_remove_comments(source)));
            if !may_remove_comments {
                changes = Vec::new();
            }
        }
        FixedDocument {
            changes,
            counted,
            findings: plan.findings,
            edits,
        }
    };
    // What the documents gave, moved out of each batch's as it ends, so that nothing is kept
    // per document but its edits and its findings.
    let (mut changes, mut findings, mut edits) = (Vec::new(), Vec::new(), Vec::new());
    let mut unlisted = ChangeCounts::default();
    let threads: Vec<Mutex<ThreadWork<'s>>> =
        (0..batches.threads()).map(|_| Mutex::default()).collect();
    let work_of = |thread: usize| {
        threads[thread]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    };
    // The stream's bindings: read ahead while the first batch is read when it has more, for a
    // role may come before the binding that grants it; else found in the one batch's trees.
    let one_batch = batches.all_in_first(batch_bytes);
    let (mut batch, reading) = join_if(
        parallel,
        || next_noted(&mut batches, batch_bytes, &mut kept, settings, &|_| {}),
        || (!one_batch).then(|| transform::StreamReading::ahead(source)),
    );
    let mut reading = reading.unwrap_or_else(|| {
        let documents = batch.iter().flat_map(|batch| &batch.documents);
        transform::StreamReading::of_documents(documents.map(|document| &document.root))
    });
    let parse_error = loop {
        let yaml::Batch { documents, read_on } = match batch {
            Ok(batch) if batch.documents.is_empty() => break None,
            Ok(batch) => batch,
            Err(error) => break Some(error),
        };
        let first = kept.documents - documents.len();
        for document in &documents {
            reading.read_comments(&text, &document.comments);
        }
        // Once an error is certain, the rest is only read, for an earlier-reported error.
        if kept.misdeclared.is_none() {
            let mut documents = (first..).zip(documents);
            for (thread, count) in read_on {
                (work_of(thread).documents).extend(documents.by_ref().take(count));
            }
        }
        // Each thread fixes and drops the documents it read before it reads a piece of the next
        // batch (see `yaml::Batch`), so a thread with more to fix reads less.
        let fix = |(index, document): (usize, yaml::Document<'s>)| {
            (index, fix_document(index, &document, &reading))
        };
        let fix_on_thread = |thread: usize| {
            let documents = std::mem::take(&mut work_of(thread).documents);
            if documents.is_empty() {
                return;
            }
            let fixed: Vec<_> = documents.into_iter().map(fix).collect();
            work_of(thread).fixed.extend(fixed);
        };
        batch = next_noted(
            &mut batches,
            batch_bytes,
            &mut kept,
            settings,
            &fix_on_thread,
        );
        // Those of threads that read no piece (busy elsewhere, or the stream ended) are fixed
        // once the batch is read, on every core: on one, the last batch kept the others idle.
        let left: Vec<_> = (0..threads.len())
            .flat_map(|thread| std::mem::take(&mut work_of(thread).documents))
            .collect();
        let mut batch_fixed: Vec<_> = match parallel {
            true => left.into_par_iter().with_max_len(1).map(fix).collect(),
            false => left.into_iter().map(fix).collect(),
        };
        batch_fixed.extend(
            (0..threads.len()).flat_map(|thread| std::mem::take(&mut work_of(thread).fixed)),
        );
        batch_fixed.sort_unstable_by_key(|&(index, _)| index);
        for (_, document) in batch_fixed {
            changes.extend(document.changes);
            findings.extend(document.findings);
            edits.extend(document.edits);
            unlisted.merge(document.counted);
        }
    };
    kept.comments.extend(batches.take_trailing_comments());
    let allowed = parse_error.is_none().then_some(&kept);
    if let Some(offset) = helm_action(source, first_action, allowed) {
        return Err(FixError::HelmTemplate(text.position(offset)));
    }
    if let Some(error) = parse_error {
        return Err(FixError::Parse(error));
    }
    if let Some(error) = kept.misdeclared {
        return Err(error);
    }
    if changes.is_empty() && unlisted.total() == 0 {
        findings.sort_by_key(|f| f.line);
        return Ok(Fixed {
            output: None,
            changes,
            unlisted,
            findings,
        });
    }
    if let Some(offset) = bare_carriage_return {
        return Err(FixError::BareCarriageReturn(text.position(offset)));
    }
    let written = writer.finish(edits, &kept.comments).map_err(|e| match e {
        yaml::WriteError::Render(e) => FixError::Unsupported(e),
        yaml::WriteError::Verify(e) => FixError::Internal(e),
    })?;
    findings.extend(
        written
            .lost_comments
            .iter()
            .filter_map(|comment| lost_comment(&text, comment, &changes)),
    );
    if detail == ChangeDetail::Counted {
        // They named the comments the edits removed; they are counted.
        changes = Vec::new();
    }
    // In line order, whichever step found them.
    findings.sort_by_key(|f| f.line);
    Ok(Fixed {
        output: Some(written),
        changes,
        unlisted,
        findings,
    })
}

/// Whether an input of `len` bytes is worked on with all the cores of the pool the caller runs
/// in: when it is large and the pool has several.
fn on_all_cores(len: usize) -> bool {
    len >= PARALLEL_FROM && in_pool_of_many()
}

/// Whether the caller runs in a rayon pool of more than one thread: where splitting work pays.
pub fn in_pool_of_many() -> bool {
    rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1
}

/// Runs `a` and `b`, at once on the current pool when `parallel` is set, else one after the
/// other.
fn join_if<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    match parallel {
        true => rayon::join(a, b),
        false => (a(), b()),
    }
}

/// A warning for a comment that an edit removed, told by the change of the same document
/// nearest to it.
fn lost_comment(
    text: &Text<'_>,
    comment: &yaml::LostComment,
    changes: &[Change],
) -> Option<Finding> {
    let line = text.position(comment.span.start).line;
    let change = changes
        .iter()
        .filter(|c| c.document == comment.document)
        .min_by_key(|c| c.line.abs_diff(line))?;
    Some(Finding {
        document: change.document,
        resource: change.resource.clone(),
        container: change.container.clone(),
        line,
        transform: change.transform,
        kind: transform::FindingKind::Note,
        message: format!(
            "the comment `{}` was on lines this fix removed and went with them; carry it over by hand if it still matters",
            text.source[comment.span.clone()].trim_end()
        ),
        reader: None,
    })
}

/// The offset of the first Go template action (`{{`) that makes `source` a Helm template: any,
/// when it does not parse; otherwise one outside the quoted strings, block scalars and
/// comments `parsed` kept, since rendered manifests legitimately carry `{{ }}` in strings
/// (alert templates, for one). `first` is where the first `{{` is, if anywhere.
fn helm_action(source: &str, first: Option<usize>, parsed: Option<&Kept>) -> Option<usize> {
    let first = first?;
    let Some(kept) = parsed else {
        return Some(first);
    };
    let mut allowed: Vec<std::ops::Range<usize>> = kept.comments.clone();
    allowed.extend(kept.strings.iter().flatten().cloned());
    // Comments and strings never overlap, so sorted by start the one that may hold an offset
    // is the last that starts at or before it.
    allowed.sort_unstable_by_key(|r| r.start);
    memchr::memmem::find_iter(&source.as_bytes()[first..], b"{{")
        .map(|offset| first + offset)
        .find(|&offset| {
            let candidates = allowed.partition_point(|r| r.start <= offset);
            !candidates
                .checked_sub(1)
                .is_some_and(|i| allowed[i].contains(&offset))
        })
}

fn collect_string_spans(node: &Node<'_>, out: &mut Vec<std::ops::Range<usize>>) {
    match &node.kind {
        NodeKind::Scalar { style, .. } if *style != ScalarStyle::Plain => {
            out.extend(node.span.clone())
        }
        NodeKind::Mapping { entries, .. } => entries.iter().for_each(|(k, v)| {
            collect_string_spans(k, out);
            collect_string_spans(v, out);
        }),
        NodeKind::Sequence { items, .. } => items.iter().for_each(|i| collect_string_spans(i, out)),
        _ => {}
    }
}
