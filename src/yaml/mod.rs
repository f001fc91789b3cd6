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
pub use render::{Layout, RenderError, Splice};
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

/// Writes the `intended` documents over `text`, whose parse is `stream`, touching only what
/// differs, then parses the result and compares it with `intended`. Documents with no edit are
/// passed as `None`.
pub fn write(
    text: &Text<'_>,
    stream: &Stream<'_>,
    intended: &[Option<Node<'_>>],
) -> Result<String, WriteError> {
    let mut splices = Vec::new();
    for (original, edited) in stream.documents.iter().zip(intended) {
        if let Some(edited) = edited {
            let layout = Layout::detect(text, original);
            splices.extend(
                render::splices(text, &layout, original, edited).map_err(WriteError::Render)?,
            );
        }
    }
    let output = render::apply(text.source, &mut splices).map_err(WriteError::Render)?;
    verify(&output, stream, intended)?;
    Ok(output)
}

/// Parses `output` and checks each document against the intended one (or the original, where
/// nothing was edited).
fn verify(
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
