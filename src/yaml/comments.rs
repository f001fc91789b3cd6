//! Finding the comments of a stream between the parser's events.
//!
//! granit-parser can report comments as events, but asking it to costs about a sixth of its
//! parse: comments are then buffered while it looks ahead, and each is copied out. The
//! comments can be found without it. Between the spans of the parser's events stand only
//! blanks, line breaks, indicators (`-`, `?`, `:`, `,`, brackets), node properties (anchors,
//! tags), directives, document markers and comments; a `#` there that starts the text or
//! follows a blank, a line break or a byte-order mark starts a comment running to the end of
//! its line (any other `#` there is inside an anchor, tag or directive). Every scalar, `#` in
//! its text or not, lies inside its event's span, with one exception: the span of a block
//! scalar with no content starts at its header (`|`, `>`) and takes in the comment after it.
//! Which document a comment belongs to follows when the parser would report it: before the
//! end of a document with no `...` come the comments up to the next token.
//!
//! The parse fuzz target checks that the comments found here, document by document, are those
//! the parser reports.

use std::ops::Range;

use granit_parser::{Event, ScalarStyle};

/// A byte-order mark, which may stand in a document's prefix, before a comment.
const BOM: &[u8] = "\u{FEFF}".as_bytes();

/// Finds the comments of a text between the events the parser reads from it.
pub(super) struct CommentScan {
    /// Up to where the text was searched or covered by an event's span.
    scanned: usize,
    /// Where the parser's input ends in the text.
    end: usize,
}

impl CommentScan {
    /// A search of `text[input]`, the parser's input.
    pub(super) fn new(input: Range<usize>) -> Self {
        CommentScan {
            scanned: input.start,
            end: input.end,
        }
    }

    /// Adds to `comments`, in order, those before `event`, which spans `span` of `source`, and
    /// those inside its span that belong to no node.
    pub(super) fn before(
        &mut self,
        source: &str,
        event: &Event<'_>,
        span: Range<usize>,
        comments: &mut Vec<Range<usize>>,
    ) {
        let gap_end = match event {
            // The end of the stream may point before the blank and comment lines that end it.
            Event::StreamEnd => self.end,
            _ => span.start,
        };
        if gap_end > self.scanned {
            find_comments(source, self.scanned..gap_end, comments);
        }
        if let Event::Scalar(value, ScalarStyle::Literal | ScalarStyle::Folded, ..) = event
            && value.bytes().all(|b| b == b'\n')
            && source[span.start..].starts_with(['|', '>'])
        {
            // A block scalar with no content: its span starts at its header, whose line may end
            // with a comment.
            let header = &source[span.start..span.end];
            let line = header.find(['\n', '\r']).unwrap_or(header.len());
            find_comments(source, span.start..span.start + line, comments);
        }
        self.scanned = self.scanned.max(span.end).max(gap_end);
        if matches!(event, Event::DocumentEnd) && span.is_empty() {
            self.advance_to_next_token(source, comments);
        }
    }

    /// Adds to `comments` those up to the next token. The parser ends a document with no `...`
    /// once it sees what follows it (`---`, a directive, the end of the text), and reports the
    /// comments it passed on the way as the document's, though the end's span may point
    /// before them (to the end of the document's last node).
    fn advance_to_next_token(&mut self, source: &str, comments: &mut Vec<Range<usize>>) {
        let bytes = &source.as_bytes()[..self.end];
        let mut at = self.scanned;
        loop {
            let rest = &bytes[at..];
            let blank = rest
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            at += blank;
            if bytes[at..].starts_with(BOM) {
                at += BOM.len();
            } else if bytes.get(at) == Some(&b'#') {
                let comment = comment_at(bytes, at);
                at = comment.end;
                comments.push(comment);
            } else {
                break;
            }
        }
        self.scanned = at;
    }
}

/// Adds to `comments` those that start in `gap`, text of `source` that holds no node.
fn find_comments(source: &str, gap: Range<usize>, comments: &mut Vec<Range<usize>>) {
    let bytes = source.as_bytes();
    let mut at = gap.start;
    while let Some(found) = first_hash(&bytes[at..gap.end]) {
        let hash = at + found;
        let before = &bytes[..hash];
        let starts_comment = matches!(before.last(), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
            || before.ends_with(BOM);
        at = match starts_comment {
            true => {
                let comment = comment_at(bytes, hash);
                let end = comment.end;
                comments.push(comment);
                end
            }
            false => hash + 1,
        };
        if at >= gap.end {
            break;
        }
    }
}

/// Where the first `#` of `gap` is. Most gaps are the few blanks and indicators between two
/// events, shorter than a vector of memchr's search, which then costs more to set up than a
/// look at each byte.
fn first_hash(gap: &[u8]) -> Option<usize> {
    const SHORT: usize = 32;
    match gap.len() < SHORT {
        true => gap.iter().position(|&b| b == b'#'),
        false => memchr::memchr(b'#', gap),
    }
}

/// The comment whose `#` is at `hash`: up to the end of its line.
fn comment_at(bytes: &[u8], hash: usize) -> Range<usize> {
    let line = memchr::memchr2(b'\n', b'\r', &bytes[hash..]);
    hash..line.map_or(bytes.len(), |l| hash + l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use granit_parser::{Options, Parser};

    /// The comments of `source` as the scan finds them, and as the parser reports them.
    fn both(source: &str) -> (Vec<&str>, Vec<&str>) {
        let read = |emit_comments: bool| {
            let mut options = Options::default();
            options.set_emit_comments(emit_comments);
            options.max_buffered_comment_events = usize::MAX;
            let mut scan = CommentScan::new(0..source.len());
            let (mut found, mut reported) = (Vec::new(), Vec::new());
            for event in Parser::new_from_str_with_options(source, options) {
                let (event, span) = event.expect("the test input parses");
                let span = span.byte_range().expect("spans of a text");
                match event {
                    Event::Comment(..) => reported.push(&source[span]),
                    event => scan.before(source, &event, span, &mut found),
                }
            }
            (found, reported)
        };
        let found = read(false).0.iter().map(|c| &source[c.clone()]).collect();
        (found, read(true).1)
    }

    #[test]
    fn finds_what_the_parser_reports() {
        let cases = [
            "a: 1 # one\n# two\nb: \"x # no\" # three\n",
            "a: |\n  # not a comment\n  text\nb: >2 # header\n   # content\n",
            "a: |+ # on the header of an empty block scalar\nb: 1\n",
            "a: |\n    text\n  # less indented: a comment\nb: 1\n",
            "\u{FEFF}# after a byte-order mark\na: 1\n",
            "%YAML 1.2 # directive\n--- # marker\na: 1\n... # end\n# after\n",
            "%TAG ! tag:x,2000:#a\n--- !b 1\n",
            "a: &x # after an anchor\n  b: !t # after a tag\n    c: 2\n",
            "{a: 1, # in flow\n b: [x, y]} # after flow\n",
            "a: &x#y 1\nb: *x#y\n",
            "a: b\r\n#c\r\nd: e #f\r",
            "- x\n  #c\n- y # d\n#e",
            "# only comments\n\n# here\n",
            "a: |-\n   >- #!/bin/sh\n   text\n# after\n",
        ];
        for source in cases {
            let (found, reported) = both(source);
            assert_eq!(found, reported, "{source:?}");
        }
        assert_eq!(both(cases[0]).0, ["# one", "# two", "# three"]);
    }
}
