//! The lossless YAML layer. It reads a stream into trees that remember where every node came
//! from, lets callers edit copies of those trees, writes the difference back as splices of the
//! original text in the style around each edit, and checks the result by parsing it again.
//! It knows nothing about Kubernetes.

mod edit;
mod node;
mod parse;
mod render;
mod text;

use std::fmt;

pub use edit::{Guard, Refusal, Step, append, lookup, path_to_string, remove, set};
pub use node::{CollectionStyle, Node, NodeKind, ScalarStyle};
pub use parse::{ParseError, Stream, parse};
pub use render::{Layout, RenderError, Splice, apply as apply_splices, flow_text, splices};
pub use text::{Position, Text};

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

/// The text written by [`write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The whole new text.
    pub text: String,
    /// The comments of the source (byte spans) that were on lines the edits removed or
    /// rewrote and are no longer there: callers report them, so none is lost silently.
    pub lost_comments: Vec<std::ops::Range<usize>>,
}

/// Writes the `intended` documents over `text`, whose parse is `stream`, touching only what
/// differs, then checks the result: each edited document is parsed again and must hold exactly
/// its intended data. Documents with no edit are passed as `None`.
pub fn write(
    text: &Text<'_>,
    stream: &Stream<'_>,
    intended: &[Option<Node<'_>>],
) -> Result<Written, WriteError> {
    let mut splices = Vec::new();
    // For each edited document: its index, the whole lines it spans when its edits stay inside
    // them, and how much its edits lengthen the text.
    let mut checks = Vec::new();
    for (index, (original, edited)) in stream.documents.iter().zip(intended).enumerate() {
        if let Some(edited) = edited {
            let layout = Layout::detect(text, original);
            let edits =
                render::splices(text, &layout, original, edited).map_err(WriteError::Render)?;
            let lines = text.line_start(original.full_start())
                ..through_comment_lines(text.source, text.next_line_start(original.end()));
            let inside = edits
                .iter()
                .all(|e| lines.start <= e.range.start && e.range.end <= lines.end);
            let growth: isize = edits
                .iter()
                .map(|e| e.text.len() as isize - e.range.len() as isize)
                .sum();
            checks.push((index, inside.then_some(lines), growth));
            splices.extend(edits);
        }
    }
    // Splices never overlap: sorted by start, the one that may cover a comment is the last
    // that starts at or before it.
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    let lost_comments = stream
        .comments
        .iter()
        .filter(|c| {
            let candidates = splices.partition_point(|s| s.range.start <= c.start);
            candidates.checked_sub(1).is_some_and(|i| {
                let splice = &splices[i];
                c.end <= splice.range.end && !splice.text.contains(&text.source[(*c).clone()])
            })
        })
        .cloned()
        .collect();
    let output = render::apply(text.source, &mut splices).map_err(WriteError::Render)?;
    // `%TAG` directives change how tags read, so a document cut out of the stream could read
    // differently: then the whole stream is checked.
    let has_tag_directive = text.source.lines().any(|l| l.starts_with("%TAG"));
    if has_tag_directive || checks.iter().any(|(_, lines, _)| lines.is_none()) {
        verify_stream(&output, stream, intended)?;
        return Ok(Written {
            text: output,
            lost_comments,
        });
    }
    // Documents are disjoint and in order: each one's lines are shifted in the output by the
    // growth of the documents before it.
    let mut shift = 0isize;
    for (index, lines, growth) in checks {
        let lines = lines.unwrap_or_default();
        let start = lines.start.saturating_add_signed(shift);
        let end = lines.end.saturating_add_signed(shift + growth);
        verify_document(&output[start..end], index, intended[index].as_ref())?;
        shift += growth;
    }
    Ok(Written {
        text: output,
        lost_comments,
    })
}

/// The end of the blank and comment-only lines from `offset` on: they belong to the document
/// before them when it is read in its stream (an edit that left a block scalar open at its end
/// would take them in as content), so a document's lines are verified together with them.
fn through_comment_lines(source: &str, mut offset: usize) -> usize {
    while offset < source.len() {
        let end = source[offset..]
            .find('\n')
            .map_or(source.len(), |i| offset + i + 1);
        let line = source[offset..end].trim();
        if !line.is_empty() && !line.starts_with('#') {
            break;
        }
        offset = end;
    }
    offset
}

/// Parses one edited document's lines, with the comments and blank lines after them, on their
/// own and compares them with the intended data. The lines around them are untouched, and a
/// document ends at a line of its own (`---`, `...`, a directive or the end of the text), so
/// the document reads the same inside the stream.
fn verify_document(
    slice: &str,
    index: usize,
    intended: Option<&Node<'_>>,
) -> Result<(), WriteError> {
    let reparsed = parse::parse_numbering_anchors_from(
        &Text::new(slice),
        false,
        intended.and_then(Node::first_anchor),
    )
    .map_err(|e| WriteError::Verify(format!("document {} no longer parses ({e})", index + 1)))?;
    match (reparsed.documents.as_slice(), intended) {
        ([got], Some(want)) if got.same_data(want) => Ok(()),
        ([_], _) => Err(WriteError::Verify(format!(
            "document {} differs from the intended data",
            index + 1
        ))),
        (documents, _) => Err(WriteError::Verify(format!(
            "document {} became {} documents",
            index + 1,
            documents.len()
        ))),
    }
}

/// Parses the whole `output` and checks each document against the intended one (or the
/// original, where nothing was edited).
fn verify_stream(
    output: &str,
    stream: &Stream<'_>,
    intended: &[Option<Node<'_>>],
) -> Result<(), WriteError> {
    let text = Text::new(output);
    let reparsed = parse(&text, false)
        .map_err(|e| WriteError::Verify(format!("it no longer parses ({e})")))?;
    if reparsed.documents.len() != stream.documents.len() {
        return Err(WriteError::Verify(format!(
            "{} documents became {}",
            stream.documents.len(),
            reparsed.documents.len()
        )));
    }
    for (index, (got, (original, edited))) in reparsed
        .documents
        .iter()
        .zip(stream.documents.iter().zip(intended))
        .enumerate()
    {
        let want = edited.as_ref().unwrap_or(original);
        if !got.same_data(want) {
            return Err(WriteError::Verify(format!(
                "document {} differs from the intended data",
                index + 1
            )));
        }
    }
    Ok(())
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
}
