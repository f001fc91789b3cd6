//! The source text with a line table: positions for messages, line boundaries for edits.

use std::fmt;

/// The text of each document of the YAML stream `source`, found without parsing it: `---` at
/// the start of a line, followed by a blank or the line's end, starts a document wherever it
/// stands (YAML forbids it inside a scalar).
pub fn document_texts(source: &str) -> impl Iterator<Item = &str> {
    let markers = memchr::memmem::find_iter(source.as_bytes(), b"\n---")
        .map(|at| at + 1)
        .filter(|&at| is_document_marker(source, at));
    let starts: Vec<usize> = std::iter::once(0)
        .chain(markers)
        .chain(std::iter::once(source.len()))
        .collect();
    (0..starts.len() - 1).map(move |i| &source[starts[i]..starts[i + 1]])
}

/// Where the first document that starts at or after `from` starts, as [`document_texts`] tells
/// document starts (the text's end when none does): a stream can be cut there into pieces that
/// read alone as its documents do.
pub fn document_start_from(source: &str, from: usize) -> usize {
    if from == 0 && is_document_marker(source, 0) {
        return 0;
    }
    if from >= source.len() {
        return source.len();
    }
    // A marker at `from` itself follows the line break just before it.
    let mut at = from.saturating_sub(1);
    while let Some(found) = memchr::memmem::find(&source.as_bytes()[at..], b"\n---") {
        let start = at + found + 1;
        if start >= from && is_document_marker(source, start) {
            return start;
        }
        at = start;
    }
    source.len()
}

/// How many spaces start `text`: a line's indentation, or the blanks before a comment.
pub(super) fn leading_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

/// Whether `---` at the start of a line at `at` is a document marker: a blank or the line's end
/// follows it.
fn is_document_marker(source: &str, at: usize) -> bool {
    source.as_bytes().get(at..at + 3) == Some(b"---")
        && matches!(
            source.as_bytes().get(at + 3),
            None | Some(b' ' | b'\t' | b'\r' | b'\n')
        )
}

/// The offset of the first bare CR of `source` (a line break of classic Mac OS, not followed by
/// LF), if it has one: YAML and line diffs read it as a line break, the line table does not.
pub fn bare_carriage_return(source: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    memchr::memchr_iter(b'\r', bytes).find(|&offset| bytes.get(offset + 1) != Some(&b'\n'))
}

/// The start of the header (`|`, `>-`, `|2+`) of the block scalar whose content starts at
/// `content` (or, for one with no content, at whatever the parser's span starts from past
/// the header): the last word that reads as one on the last line with text above, outside
/// quotes and before a comment. The content itself may start with `|` or `>`, and a comment
/// after the header may hold words like `|+` (which would make it keep its trailing blank
/// lines).
pub(super) fn block_scalar_header(source: &str, content: usize) -> Option<usize> {
    let above = source[..content].trim_end_matches([' ', '\t', '\r', '\n']);
    let line_start = above.rfind('\n').map_or(0, |i| i + 1);
    let is_header = |word: &[u8]| {
        word.len() <= 3
            && matches!(word.first(), Some(b'|' | b'>'))
            && word[1..]
                .iter()
                .all(|&b| b.is_ascii_digit() || b == b'+' || b == b'-')
    };
    let line = &above.as_bytes()[line_start..];
    let mut header = None;
    let mut at = 0;
    while at < line.len() {
        let word_end = match line[at] {
            b' ' | b'\t' => {
                at += 1;
                continue;
            }
            b'#' => break,
            // A quoted key or value: `'` doubled, or `"` escaped by `\`, does not close it.
            quote @ (b'\'' | b'"') => closing_quote(line, at, quote).map_or(line.len(), |q| q + 1),
            _ => (at..line.len())
                .find(|&i| matches!(line[i], b' ' | b'\t'))
                .unwrap_or(line.len()),
        };
        if is_header(&line[at..word_end]) {
            header = Some(line_start + at);
        }
        at = word_end;
    }
    header
}

/// Where the quoted scalar opened by `quote` at `open` in `line` closes, if on that line.
fn closing_quote(line: &[u8], open: usize, quote: u8) -> Option<usize> {
    let mut at = open + 1;
    while at < line.len() {
        match line[at] {
            b'\\' if quote == b'"' => at += 2,
            b'\'' if quote == b'\'' && line.get(at + 1) == Some(&b'\'') => at += 2,
            b if b == quote => return Some(at),
            _ => at += 1,
        }
    }
    None
}

/// A 1-based line and column, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A source text and where its lines start.
#[derive(Debug)]
pub struct Text<'a> {
    /// The whole text, a byte-order mark included.
    pub source: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Text<'a> {
    /// Indexes the lines of `source`.
    pub fn new(source: &'a str) -> Self {
        // Sized for lines of 32 bytes (a manifest's are 30 to 40 on average), so that the
        // table is rarely copied as it grows.
        let mut line_starts = Vec::with_capacity(source.len() / 32 + 1);
        line_starts.push(0);
        // memchr skips the bytes between line breaks many at a time.
        line_starts.extend(memchr::memchr_iter(b'\n', source.as_bytes()).map(|i| i + 1));
        Text {
            source,
            line_starts,
        }
    }

    /// The line break this text uses: `\r\n` when its first line ends that way, else `\n`.
    pub fn line_break(&self) -> &'static str {
        match self.source.find('\n') {
            Some(i) if i > 0 && self.source.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }

    /// The 0-based index of the line holding `offset`.
    pub fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// Where the line holding `offset` starts.
    pub fn line_start(&self, offset: usize) -> usize {
        self.line_starts[self.line_index(offset)]
    }

    /// Where the line holding `offset` ends: at its line break, or at the end of the text.
    pub fn line_end(&self, offset: usize) -> usize {
        let rest = &self.source[offset..];
        match rest.find('\n') {
            Some(i) if i > 0 && rest.as_bytes()[i - 1] == b'\r' => offset + i - 1,
            Some(i) => offset + i,
            None => self.source.len(),
        }
    }

    /// Where the line after the one holding `offset` starts, or the end of the text.
    pub fn next_line_start(&self, offset: usize) -> usize {
        self.line_starts
            .get(self.line_index(offset) + 1)
            .copied()
            .unwrap_or(self.source.len())
    }

    /// The byte column of `offset` within its line.
    pub fn column(&self, offset: usize) -> usize {
        offset - self.line_start(offset)
    }

    /// Whether only blanks stand between the start of the line and `offset`.
    pub fn starts_line(&self, offset: usize) -> bool {
        self.source[self.line_start(offset)..offset]
            .bytes()
            .all(|b| b == b' ' || b == b'\t')
    }

    /// The line and column of `offset`, for messages.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.source.len());
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let column = self
            .source
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Position {
            line: line + 1,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_scalar_header_is_the_last_one_outside_quotes_and_comments() {
        // Each source's content starts its last line, after two spaces.
        let cases = [
            ("k: |\n  c\n", 3),
            ("k: >-\n  c\n", 3),
            ("- |2+\n  c\n", 2),
            ("k: | # not |+ but\n  c\n", 3),
            ("k: > # a > b\n\n  c\n", 3),
            ("'a # b': |\n  c\n", 9),
            ("\"a | b\": >+\n  c\n", 9),
            ("'it''s': |\n  c\n", 9),
            ("\"\\\" #\": |\n  c\n", 8),
            ("a'b: |\n  c\n", 5),
            ("k: &a !t |\n  c\n", 9),
            ("k:\n  # above\n  |\n  c\n", 15),
            ("k: |\n  | c\n", 3),
        ];
        for (source, header) in cases {
            let content = source.rfind("\n  ").expect("content") + 3;
            assert_eq!(
                block_scalar_header(source, content),
                Some(header),
                "{source:?}"
            );
        }
        assert_eq!(block_scalar_header("k: v # |\nc\n", 9), None);
    }
}
