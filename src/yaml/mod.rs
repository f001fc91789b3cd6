//! The lossless YAML layer. It reads a stream into trees that remember where every node came
//! from, lets callers edit copies of those trees, writes the difference back as splices of the
//! original text in the style around each edit, and checks the result by parsing it again.
//! It knows nothing about Kubernetes.

mod batches;
mod comments;
mod edit;
mod node;
mod parse;
mod parts;
mod render;
mod text;

use std::fmt;

use rayon::prelude::*;

pub use batches::{Batch, Batches, BeforeReading};
pub use edit::{
    Guard, Refusal, Step, append, children, lookup, lookup_mut, path_to_string, remove, set,
};
pub use node::{CollectionStyle, Node, NodeKind, ScalarStyle};
pub use parse::{Document, ParseError, Reader, Stream, parse};
use parts::through_comment_lines;
pub use render::{Layout, RenderError, Splice, apply as apply_splices, flow_text, splices};
pub use text::{Position, Text, bare_carriage_return, document_texts};

/// Why edited documents were not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// An edit could not be rendered as text.
    Render(RenderError),
    /// The edited text did not parse back to the intended data.
    Verify(String),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Render(e) => write!(f, "cannot write the edit: {e}"),
            WriteError::Verify(e) => {
                write!(f, "the edited text does not read back as intended: {e}")
            }
        }
    }
}

/// What [`write()`] wrote: the verified edits of a text, which give the new text applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The edits, sorted and disjoint.
    pub splices: Vec<Splice>,
    /// The comments of the source that were on lines the edits removed or rewrote and are no
    /// longer there: callers report them, so none is lost silently.
    pub lost_comments: Vec<LostComment>,
}

/// A comment of the source that an edit removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostComment {
    /// Its bytes in the source.
    pub span: std::ops::Range<usize>,
    /// The document whose edit removed it, 0-based.
    pub document: usize,
}

impl Written {
    /// The new text: `source`, the text written over, with the edits applied.
    pub fn text(&self, source: &str) -> String {
        render::apply_sorted(source, &self.splices)
    }

    /// The new text in pieces, to be written one after the other without building it whole:
    /// the parts of `source` the edits leave, and the edits' texts.
    pub fn pieces<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a str> {
        render::applied_pieces(source, 0..source.len(), &self.splices)
    }

    /// The documents of `source` (as [`document_texts`] cuts them), each as the edits leave it,
    /// made when asked for: the new text of a document without building the whole. `None`
    /// when an edit reaches over from one document to another.
    pub fn documents<'w, 's>(&'w self, source: &'s str) -> Option<EditedDocuments<'w, 's>> {
        let mut rest = self.splices.as_slice();
        let mut start = 0;
        let mut documents = Vec::new();
        for document in document_texts(source) {
            let end = start + document.len();
            // The edits that start in the document; one at the very end of the text is the
            // last document's.
            let mine = match end == source.len() {
                true => rest.len(),
                false => rest.partition_point(|s| s.range.start < end),
            };
            let (edits, after) = rest.split_at(mine);
            if edits.last().is_some_and(|s| s.range.end > end) {
                return None;
            }
            documents.push((start..end, edits));
            rest = after;
            start = end;
        }
        if !rest.is_empty() {
            return None;
        }
        Some(EditedDocuments { source, documents })
    }
}

/// The documents of a text as its edits leave them ([`Written::documents`]), each made when
/// asked for: the edited documents of a large stream are most of its text, and need not all
/// be held at once.
pub struct EditedDocuments<'w, 's> {
    source: &'s str,
    /// Each document's bytes in the source, with the edits inside them.
    documents: Vec<(std::ops::Range<usize>, &'w [Splice])>,
}

impl<'s> EditedDocuments<'_, 's> {
    /// How many documents the text has.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether the text has no document (an empty text).
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// Document `index` as the edits leave it: a part of the source when no edit is in it.
    pub fn get(&self, index: usize) -> std::borrow::Cow<'s, str> {
        match &self.documents[index] {
            (range, []) => std::borrow::Cow::Borrowed(&self.source[range.clone()]),
            (range, edits) => {
                std::borrow::Cow::Owned(render::apply_within(self.source, range.clone(), edits))
            }
        }
    }
}

/// Writes the `intended` documents over `text`, whose parse is `stream`, touching only what
/// differs, then checks the result: each edited document is parsed again and must hold exactly
/// its intended data. Documents with no edit are passed as `None`.
pub fn write(
    text: &Text<'_>,
    stream: &Stream<'_>,
    intended: &[Option<Node<'_>>],
) -> Result<Written, WriteError> {
    Writer::new(text).write(stream, intended)
}

/// Writes edited documents over one stream a document at a time, so that each document, original
/// and intended, can be dropped once its edits are rendered and checked ([`write()`] does it all
/// at once).
pub struct Writer<'t, 'a> {
    text: &'t Text<'a>,
    /// `%TAG` directives change how tags read, so a document cut out of the stream could read
    /// differently: then every document is checked inside the whole output.
    has_tag_directive: bool,
    /// The habits to write in, when not those each document shows.
    layout: Option<Layout>,
}

/// The edits of one document, rendered, and checked when the document could be read alone.
#[derive(Debug)]
pub struct DocumentEdits<'a> {
    /// The document, 0-based.
    index: usize,
    splices: Vec<Splice>,
    /// The intended tree of a document that can only be checked inside the whole output (its
    /// edits leave its lines, or the stream has `%TAG` directives).
    unchecked: Option<Node<'a>>,
}

impl DocumentEdits<'_> {
    /// Whether an edit replaces text holding a `#`: only such an edit can remove a comment.
    pub fn may_remove_comments(&self, source: &str) -> bool {
        (self.splices.iter())
            .any(|s| memchr::memchr(b'#', source[s.range.clone()].as_bytes()).is_some())
    }

    /// The `comments` of `source` (spans, in order) that the edits removed: inside the text an
    /// edit replaced, and not in what it wrote there.
    fn lost_comments<'c>(
        &'c self,
        source: &'c str,
        comments: &'c [std::ops::Range<usize>],
    ) -> impl Iterator<Item = LostComment> + 'c {
        // Splices are sorted and never overlap: the one that may cover a comment is the last
        // that starts at or before it.
        let splices = &self.splices;
        let reach = match (splices.first(), splices.last()) {
            (Some(first), Some(last)) => first.range.start..last.range.end,
            _ => 0..0,
        };
        let from = comments.partition_point(|c| c.start < reach.start);
        let to = comments.partition_point(|c| c.start < reach.end);
        let removed = move |c: &&std::ops::Range<usize>| {
            let candidates = splices.partition_point(|s| s.range.start <= c.start);
            candidates.checked_sub(1).is_some_and(|i| {
                let splice = &splices[i];
                c.end <= splice.range.end && !splice.text.contains(&source[(*c).clone()])
            })
        };
        comments[from..to]
            .iter()
            .filter(removed)
            .map(|span| LostComment {
                span: span.clone(),
                document: self.index,
            })
    }
}

/// Whether `source` declares a `%TAG` directive, which changes what tags its edits may copy.
/// A search of the whole text, not a walk over its lines, by memchr's searcher, not
/// `str::contains`'s (on the 50 MB stream 3 ms where that took 8).
pub fn has_tag_directive(source: &str) -> bool {
    source.starts_with("%TAG") || memchr::memmem::find(source.as_bytes(), b"\n%TAG").is_some()
}

impl<'t, 'a> Writer<'t, 'a> {
    /// A writer over `text`.
    pub fn new(text: &'t Text<'a>) -> Self {
        Self::knowing_tags(text, has_tag_directive(text.source))
    }

    /// A writer over `text`, whose [`has_tag_directive`] the caller already searched (a large
    /// text's while its lines were indexed).
    pub fn knowing_tags(text: &'t Text<'a>, has_tag_directive: bool) -> Self {
        Writer {
            text,
            has_tag_directive,
            layout: None,
        }
    }

    /// Writes the `intended` documents of `stream`, the parse of the text (`None` for a
    /// document with no edit), as [`write()`].
    pub fn write(
        self,
        stream: &Stream<'a>,
        intended: &[Option<Node<'a>>],
    ) -> Result<Written, WriteError> {
        let edits: Vec<_> = intended
            .iter()
            .zip(&stream.documents)
            .enumerate()
            .filter_map(|(index, (edited, original))| {
                Some(self.edit_document(index, original, edited.as_ref()?))
            })
            .collect();
        self.finish(edits, &stream.comments)
    }

    /// This writer, inserting in `layout` rather than in the habits each document shows: for
    /// documents made from almost nothing, which should look like the files beside them.
    pub fn with_layout(self, layout: Layout) -> Self {
        Writer {
            layout: Some(layout),
            ..self
        }
    }

    /// Renders document `index`, read as `original`, as `edited` and, when its edits stay
    /// inside its own lines, checks it at once by parsing those lines alone.
    pub fn edit_document(
        &self,
        index: usize,
        original: &Node<'a>,
        edited: &Node<'a>,
    ) -> Result<DocumentEdits<'a>, WriteError> {
        let text = self.text;
        let layout = (self.layout.clone()).unwrap_or_else(|| Layout::detect(text, original));
        let splices =
            render::splices(text, &layout, original, edited).map_err(WriteError::Render)?;
        self.check_document(index, original, edited, splices)
    }

    /// Checks `splices`, the edits that should make document `index`, read as `original`,
    /// hold `edited`, when they stay inside its own lines: the lines the edits touched are
    /// parsed again alone when the document can be cut at them, else the whole document.
    /// [`Writer::edit_document`] renders the splices; the fuzzer hands in splices it mangled.
    pub fn check_document(
        &self,
        index: usize,
        original: &Node<'a>,
        edited: &Node<'a>,
        mut splices: Vec<Splice>,
    ) -> Result<DocumentEdits<'a>, WriteError> {
        let text = self.text;
        render::sort(&mut splices).map_err(WriteError::Render)?;
        // The blank and comment lines after a document belong to it when it is read in its
        // stream (an edit that left a block scalar open at its end would take them in as
        // content), so a document's lines are verified together with them.
        let lines = text.line_start(original.full_start())
            ..through_comment_lines(text.source, text.next_line_start(original.end()));
        let inside = splices
            .iter()
            .all(|e| lines.start <= e.range.start && e.range.end <= lines.end);
        let checked = !self.has_tag_directive
            && inside
            && self.checked_alone(index, original, edited, &splices, lines)?;
        // Kept until the whole text is written, as rendered: grown by doubling, a text holds
        // up to twice its bytes.
        splices.iter_mut().for_each(|s| s.text.shrink_to_fit());
        Ok(DocumentEdits {
            index,
            unchecked: (!checked).then(|| edited.clone()),
            splices,
        })
    }

    /// Checks document `index`, read as `original`, edited into `edited` by `splices` inside
    /// its `lines`, apart from the stream: by the parts its edits touched when it can be cut
    /// there, else by its lines whole. `false` when its lines as edited would not read alone
    /// as they do in the stream (they no longer end with a line break, or hold a document
    /// marker): the document is then checked inside the whole output.
    fn checked_alone(
        &self,
        index: usize,
        original: &Node<'a>,
        edited: &Node<'a>,
        splices: &[Splice],
        lines: std::ops::Range<usize>,
    ) -> Result<bool, WriteError> {
        let source = self.text.source;
        if parts::verified_in_parts(self.text, original, edited, splices, lines.clone()) {
            return Ok(true);
        }
        // A document ends at a line of its own and documents are disjoint, so its lines with
        // its own splices applied are its lines in the output.
        let slice = render::apply_within(source, lines.clone(), splices);
        if !parts::reads_alone(&slice, lines.end, source) {
            return Ok(false);
        }
        verify_document(&slice, index, edited)?;
        Ok(true)
    }

    /// Applies the edits of every edited document, given in document order, and checks inside
    /// the whole output the documents that could not be checked alone. A document that could
    /// not be rendered is reported before one that did not read back as intended. `comments`
    /// are the spans of the text's comments, in order, for telling which the edits removed.
    pub fn finish(
        self,
        edits: Vec<Result<DocumentEdits<'a>, WriteError>>,
        comments: &[std::ops::Range<usize>],
    ) -> Result<Written, WriteError> {
        let text = self.text;
        // Each document's edits against the comments they reach over, on every core: a large
        // stream has hundreds of thousands of comments.
        let lost_comments = (edits.par_iter().flatten())
            .flat_map_iter(|document| document.lost_comments(text.source, comments))
            .collect();
        let mut splices = Vec::new();
        let mut unchecked = Vec::new();
        let mut edited = Vec::with_capacity(edits.len());
        let mut unverified = None;
        for document in edits {
            let document = match document {
                Ok(document) => document,
                Err(error @ WriteError::Render(_)) => return Err(error),
                Err(error) => {
                    unverified.get_or_insert(error);
                    continue;
                }
            };
            splices.extend(document.splices);
            edited.push(document.index);
            if let Some(tree) = document.unchecked {
                unchecked.push((document.index, tree));
            }
        }
        render::sort(&mut splices).map_err(WriteError::Render)?;
        if let Some(error) = unverified {
            return Err(error);
        }
        if !unchecked.is_empty() {
            let output = render::apply_sorted(text.source, &splices);
            verify_stream(text, &output, &edited, &unchecked)?;
        }
        Ok(Written {
            splices,
            lost_comments,
        })
    }
}

/// Parses one edited document's lines, with the comments and blank lines after them, on their
/// own and compares them with the intended data. The lines around them are untouched, and a
/// document ends at a line of its own (`---`, `...`, a directive or the end of the text), so
/// the document reads the same inside the stream.
fn verify_document(slice: &str, index: usize, intended: &Node<'_>) -> Result<(), WriteError> {
    let reread = parse::reread(
        slice,
        intended.first_anchor(),
        parse::Want::Document(intended),
    )
    .map_err(|e| WriteError::Verify(format!("document {} no longer parses ({e})", index + 1)))?;
    match reread {
        parse::Reread::Same => Ok(()),
        parse::Reread::Differs => Err(WriteError::Verify(format!(
            "document {} differs from the intended data",
            index + 1
        ))),
        parse::Reread::Documents(count) => Err(WriteError::Verify(format!(
            "document {} became {count} documents",
            index + 1
        ))),
    }
}

/// Parses the whole `output` and checks each document against its `unchecked` intended tree,
/// or against the document of the original `text` where nothing was `edited`; the other edited
/// documents were checked alone. Both texts are read a document at a time.
fn verify_stream(
    text: &Text<'_>,
    output: &str,
    edited: &[usize],
    unchecked: &[(usize, Node<'_>)],
) -> Result<(), WriteError> {
    let output = Text::new(output);
    let no_longer_parses = |e: ParseError| WriteError::Verify(format!("it no longer parses ({e})"));
    let mut originals = Reader::new(text, false);
    let mut reparsed = Reader::new(&output, false);
    let mut index = 0;
    loop {
        let (got, original) = match (reparsed.next(), originals.next()) {
            (None, None) => return Ok(()),
            (Some(got), Some(original)) => (got.map_err(no_longer_parses)?, original),
            (got, original) => {
                // The original parsed before (it was planned on): only the counts differ.
                let had = index + usize::from(original.is_some()) + originals.count();
                let has = index + usize::from(got.is_some()) + reparsed.count();
                return Err(WriteError::Verify(format!("{had} documents became {has}")));
            }
        };
        let original = original
            .map_err(|e| WriteError::Verify(format!("the original no longer parses ({e})")))?;
        let want = match unchecked.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(found) => &unchecked[found].1,
            Err(_) if edited.binary_search(&index).is_ok() => {
                index += 1;
                continue;
            }
            Err(_) => &original.root,
        };
        if !got.root.same_data(want) {
            return Err(WriteError::Verify(format!(
                "document {} differs from the intended data",
                index + 1
            )));
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_verified_with_the_comments_and_blank_lines_after_it() {
        let source = "a: |\n  x\n  # read as a comment here, as content after an open `|`\n\n# c\n---\nb: 2\n";
        let after_x = source.find("  #").unwrap();
        assert_eq!(
            &source[through_comment_lines(source, after_x)..],
            "---\nb: 2\n"
        );
        let last = source.find("b: 2").unwrap();
        assert_eq!(through_comment_lines(source, last), last);
        assert_eq!(through_comment_lines(source, source.len()), source.len());
    }

    /// Whether the writer accepts `splices` (ranges and texts) as the edits that make document
    /// `index` of `source` hold the data of the document `intended`.
    fn accepts(
        source: &str,
        index: usize,
        splices: &[(std::ops::Range<usize>, &str)],
        intended: &str,
    ) -> bool {
        let text = Text::new(source);
        let stream = parse(&text, true).unwrap();
        let intended_text = Text::new(intended);
        let intended = parse(&intended_text, false).unwrap().documents.remove(0);
        let splices = splices
            .iter()
            .map(|(range, text)| Splice {
                range: range.clone(),
                text: text.to_string(),
            })
            .collect();
        let writer = Writer::new(&text);
        let edits = writer.check_document(index, &stream.documents[index], &intended, splices);
        Writer::new(&text)
            .finish(vec![edits], &stream.comments)
            .is_ok()
    }

    #[test]
    fn a_document_whose_lines_no_longer_end_with_a_line_break_is_checked_in_the_stream() {
        // `b: 2` removed with its line break, and a blank left, which runs on into the next
        // line: `---` no longer starts a document. The document's lines alone read `a: 1`.
        let source = "a: 1\nb: 2\n---\nc: 3\n";
        let b = source.find("b: 2").unwrap();
        assert!(!accepts(source, 0, &[(b..b + 5, " ")], "a: 1\n"));
        assert!(accepts(source, 0, &[(b..b + 5, "")], "a: 1\n"));
    }

    #[test]
    fn a_document_whose_lines_hold_a_document_marker_is_checked_in_the_stream() {
        // After `---`, a `...` ends an empty document, and the lines after it start another;
        // the lines alone read as one document.
        let source = "a: 1\n---\nb: 2\n";
        let b = source.find("b: 2").unwrap();
        assert!(!accepts(source, 1, &[(b..b, "...\n")], "b: 2\n"));
        assert!(accepts(source, 1, &[(b..b, "# note\n")], "b: 2\n"));
    }
}
