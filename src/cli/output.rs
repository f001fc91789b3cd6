//! What the command prints: unified diffs, coloured on a terminal.

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;
use similar::{ChangeTag, DiffOp};

use crate::source::Lifecycle;
use crate::yaml;

/// A unified diff of one file with the headers `git diff` writes for `path` (relative to the
/// repository's top level): `a/PATH` and `b/PATH`, quoted as git quotes them, and a TAB after
/// a name holding a space on the `---` and `+++` lines, where `patch` expects the name to end.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    file_diff(path, old, new, Lifecycle::Changed)
}

/// A unified diff of one file, as [`unified_diff`], from the text read and its verified edits,
/// in pieces to print one after the other: the new text of each edited document is made alone
/// when it is needed, never the whole new text, and the hunks, written in parts on several
/// cores, are not copied into one string (a large stream's new text and diff are each several
/// times its size).
pub fn written_diff(path: &str, old: &str, written: &yaml::Written) -> Vec<String> {
    match written.documents(old) {
        Some(new) => {
            let mut pieces = vec![headers(path, Lifecycle::Changed)];
            pieces.extend(document_hunks(old, new.len(), &|index| new.get(index)));
            pieces
        }
        None => vec![unified_diff(path, old, &written.text(old))],
    }
}

/// A unified diff of one file that may be created or deleted, as `git diff` writes it
/// (`new file mode 100644` and `--- /dev/null`, or `deleted file mode 100644` and
/// `+++ /dev/null`), which `git apply` and `patch -p1` accept.
pub fn file_diff(path: &str, old: &str, new: &str, lifecycle: Lifecycle) -> String {
    let new_documents: Vec<&str> = yaml::document_texts(new).collect();
    let hunks = document_hunks(old, new_documents.len(), &|index| {
        Cow::Borrowed(new_documents[index])
    });
    let mut diff = headers(path, lifecycle);
    diff.reserve(hunks.iter().map(String::len).sum());
    hunks.iter().for_each(|part| diff.push_str(part));
    diff
}

/// The headers `git diff` writes for `path` before its hunks.
fn headers(path: &str, lifecycle: Lifecycle) -> String {
    let (a, b) = (
        git_quoted(&format!("a/{path}")),
        git_quoted(&format!("b/{path}")),
    );
    let (mode, old_name, new_name) = match lifecycle {
        Lifecycle::Created => ("new file mode 100644\n", "/dev/null".to_owned(), b.clone()),
        Lifecycle::Deleted => (
            "deleted file mode 100644\n",
            a.clone(),
            "/dev/null".to_owned(),
        ),
        Lifecycle::Changed => ("", a.clone(), b.clone()),
    };
    format!(
        "diff --git {a} {b}\n{mode}--- {old_name}{}\n+++ {new_name}{}\n",
        name_end(&old_name),
        name_end(&new_name),
    )
}

/// The lines of context around each change.
const CONTEXT: usize = 3;

/// The hunks turning `old` into the text of `count` documents, each made by
/// `new_document_of` from its index, with [`CONTEXT`] lines of context, in parts to be joined.
///
/// Where both texts hold as many YAML documents, they are compared a document at a time: edits
/// stay inside documents, so an unchanged one costs one comparison, and the line lists and
/// tables of the diff only ever hold one document (those of a whole 50 MB stream take several
/// times its size). The documents' operations, joined, are grouped into hunks as `similar`
/// groups them, and printed as it prints them. A new document is made when it is needed and
/// dropped after, so that they are never all held at once.
fn document_hunks<'n>(
    old: &str,
    count: usize,
    new_document_of: &(dyn Fn(usize) -> Cow<'n, str> + Sync),
) -> Vec<String> {
    let old_documents: Vec<&str> = yaml::document_texts(old).collect();
    let whole_diff = || {
        let new: String = (0..count).map(new_document_of).collect();
        vec![
            similar::TextDiff::from_lines(old, &new)
                .unified_diff()
                .context_radius(CONTEXT)
                .to_string(),
        ]
    };
    // `similar` ends lines at a bare CR too, which the line cursors below do not. A new
    // document that is a part of `old` (unedited) is looked at with it.
    let bare_carriage_return = |t: &str| yaml::bare_carriage_return(t).is_some();
    let in_old = |d: &str| old.as_bytes().as_ptr_range().contains(&d.as_ptr());
    if old_documents.len() != count || bare_carriage_return(old) {
        return whole_diff();
    }
    // Each document's operations from its first line, on every core of the pool the caller
    // runs in (a large stream has tens of thousands), then joined in order; none for a new
    // document with a bare CR.
    let document_ops: Option<Vec<Vec<DiffOp>>> = old_documents
        .par_iter()
        .enumerate()
        .map(|(index, old_document)| {
            let new_document = new_document_of(index);
            let new_document: &str = &new_document;
            // An unedited document is a part of `old`: equal without reading it.
            let unedited =
                std::ptr::eq(*old_document, new_document) || *old_document == new_document;
            match unedited {
                true => Some(vec![DiffOp::Equal {
                    old_index: 0,
                    new_index: 0,
                    len: line_count(old_document),
                }]),
                false if !in_old(new_document) && bare_carriage_return(new_document) => None,
                false => Some(document_ops(old_document, new_document)),
            }
        })
        .collect();
    let Some(document_ops) = document_ops else {
        return whole_diff();
    };
    let mut ops = Operations::default();
    // How many lines each document has, old and new: the cursors pass over whole documents.
    let mut line_counts = Vec::with_capacity(document_ops.len());
    for document in document_ops {
        let (old_start, new_start) = (ops.old_line, ops.new_line);
        for op in document {
            ops.push(shifted(op, old_start, new_start));
        }
        line_counts.push((ops.old_line - old_start, ops.new_line - new_start));
    }
    let hunks = similar::group_diff_ops(ops.ops, CONTEXT);
    // The hunks are written in runs on every core ([`hunk_runs`]), each run's cursors starting
    // at a document's first line, old and new.
    let first_lines = |side: fn(&(usize, usize)) -> usize| -> Vec<usize> {
        line_counts
            .iter()
            .scan(0, |next, counts| {
                let first = *next;
                *next += side(counts);
                Some(first)
            })
            .collect()
    };
    let (old_first, new_first) = (first_lines(|c| c.0), first_lines(|c| c.1));
    let runs = hunk_runs(&hunks, &old_first, &new_first);
    runs.into_par_iter()
        .map(|(hunk_range, (old_document, new_document))| {
            let old_lines = LineCursor::new(
                old_documents[old_document..]
                    .iter()
                    .map(|d| Cow::Borrowed(*d))
                    .zip(line_counts[old_document..].iter().map(|c| c.0)),
                old_first[old_document],
            );
            let new_lines = LineCursor::new(
                (new_document..count)
                    .map(new_document_of)
                    .zip(line_counts[new_document..].iter().map(|c| c.1)),
                new_first[new_document],
            );
            write_hunks(&hunks[hunk_range], old_lines, new_lines)
        })
        .collect()
}

/// `hunks` cut into runs of consecutive hunks to write on the cores of the current pool (about
/// four per core), each with the documents, old and new, holding its first lines
/// (`old_first` and `new_first` are the first line of each document). A run starts only in
/// later documents than the run before, so that their cursors pass over the documents about
/// once in all: hunks in one large document stay one run.
fn hunk_runs(
    hunks: &[Vec<DiffOp>],
    old_first: &[usize],
    new_first: &[usize],
) -> Vec<(Range<usize>, (usize, usize))> {
    // The last document starting at or before a line: a document with no line holds none.
    let document_of = |first: &[usize], line| first.partition_point(|&f| f <= line) - 1;
    let per_run = hunks.len().div_ceil(4 * rayon::current_num_threads());
    let mut starts: Vec<(usize, (usize, usize))> = Vec::new();
    for (index, hunk) in hunks.iter().enumerate() {
        let documents = (
            document_of(old_first, hunk[0].old_range().start),
            document_of(new_first, hunk[0].new_range().start),
        );
        let starts_run = starts.last().is_none_or(|&(start, (old, new))| {
            index - start >= per_run && documents.0 > old && documents.1 > new
        });
        if starts_run {
            starts.push((index, documents));
        }
    }
    let ends = starts.iter().skip(1).map(|s| s.0).chain([hunks.len()]);
    (starts.iter().zip(ends))
        .map(|(&(start, documents), end)| (start..end, documents))
        .collect()
}

/// Prints `hunks` as `similar` prints them, their lines read with `old_lines` and `new_lines`.
fn write_hunks<'o, 'n>(
    hunks: &[Vec<DiffOp>],
    mut old_lines: LineCursor<'o, impl Iterator<Item = (Cow<'o, str>, usize)>>,
    mut new_lines: LineCursor<'n, impl Iterator<Item = (Cow<'n, str>, usize)>>,
) -> String {
    let mut out = String::new();
    for hunk in hunks {
        out.push_str(&format!(
            "{}\n",
            similar::udiff::UnifiedHunkHeader::new(hunk)
        ));
        for op in hunk {
            let (old_range, new_range) = (op.old_range(), op.new_range());
            let (removed, added) = match op {
                DiffOp::Equal { .. } => {
                    for index in old_range {
                        push_line(&mut out, ChangeTag::Equal, old_lines.line(index));
                    }
                    continue;
                }
                DiffOp::Delete { .. } => (old_range, 0..0),
                DiffOp::Insert { .. } => (0..0, new_range),
                DiffOp::Replace { .. } => (old_range, new_range),
            };
            for index in removed {
                push_line(&mut out, ChangeTag::Delete, old_lines.line(index));
            }
            for index in added {
                push_line(&mut out, ChangeTag::Insert, new_lines.line(index));
            }
        }
    }
    // Kept until it is printed, grown by doubling: up to twice the text it holds.
    out.shrink_to_fit();
    out
}

/// Diff operations over whole texts, joined from those of their documents.
#[derive(Default)]
struct Operations {
    ops: Vec<DiffOp>,
    /// The lines of the old and new texts the operations cover.
    old_line: usize,
    new_line: usize,
}

impl Operations {
    /// Appends `op`, merged into the one before when both keep lines: `similar` groups hunks
    /// by the length of each kept run.
    fn push(&mut self, op: DiffOp) {
        self.old_line += op.old_range().len();
        self.new_line += op.new_range().len();
        match (self.ops.last_mut(), op) {
            (_, DiffOp::Equal { len: 0, .. }) => {}
            (Some(DiffOp::Equal { len, .. }), DiffOp::Equal { len: more, .. }) => *len += more,
            (_, op) => self.ops.push(op),
        }
    }
}

/// `op` of a document whose first lines are `old` and `new` in the whole texts.
fn shifted(op: DiffOp, old: usize, new: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + old,
            new_index: new_index + new,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + old,
            old_len,
            new_index: new_index + new,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + old,
            new_index: new_index + new,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + old,
            old_len,
            new_index: new_index + new,
            new_len,
        },
    }
}

/// The operations turning `old` into `new`, two versions of one document holding no bare CR,
/// as `similar` finds them over the two whole texts, from the lines around where they differ:
/// see [`windowed_ops`].
fn document_ops(old: &str, new: &str) -> Vec<DiffOp> {
    windowed_ops(old, new, WINDOW_MARGIN)
        .unwrap_or_else(|| similar::TextDiff::from_lines(old, new).ops().to_vec())
}

/// The lines of unchanged text around the changes of a document that [`windowed_ops`] hands
/// to `similar`, above and below: room for its compaction to slide a change along the lines
/// around it, as far as most slides go.
const WINDOW_MARGIN: usize = 8;

/// The operations `similar` finds between the whole texts `old` and `new` (no bare CR in
/// either), found by cutting every line into tokens only in a window around the bytes where
/// they differ, with `margin` lines around them; `None` when the window cannot tell (the whole
/// texts must be compared).
///
/// A document's edits touch a few of its lines, and cutting all of them into tokens cost
/// nearly as much as the search (the corpus: 18.7 M instructions against 22.4 M). `similar`'s
/// diff first sets aside the lines both texts share at their start and end, and searches only
/// the lines between; its compaction then slides each insertion or deletion up or down while
/// the line it leaves equals the one it takes. Outside the window, the texts are the same
/// lines, so the lines set aside and searched are the same; a slide that stops inside the
/// window stops where it would in the whole texts. Only a slide that reaches the window's edge
/// (the window's first or last operation then changes lines) might go further in the whole
/// texts: then `None`.
fn windowed_ops(old: &str, new: &str, margin: usize) -> Option<Vec<DiffOp>> {
    let (old_bytes, new_bytes) = (old.as_bytes(), new.as_bytes());
    let prefix = common_prefix(old_bytes, new_bytes);
    let suffix = common_suffix(&old_bytes[prefix..], &new_bytes[prefix..]);
    // From a line start at or before the first difference, up `margin` lines; to a line start
    // after a line break of the shared end (in both texts, as far from their ends), down
    // `margin` lines.
    let start = (0..=margin).fold(prefix, |at, _| line_start_before(old_bytes, at));
    let differ_end = old.len() - suffix;
    let old_end = (0..=margin).fold(differ_end, |at, _| next_line_start(old_bytes, at));
    let new_end = new.len() - (old.len() - old_end);
    let (cut_above, cut_below) = (start > 0, old_end < old.len());
    if !cut_above && !cut_below {
        return None;
    }
    let ops = similar::TextDiff::from_lines(&old[start..old_end], &new[start..new_end])
        .ops()
        .to_vec();
    let keeps_lines =
        |op: Option<&DiffOp>| matches!(op, Some(DiffOp::Equal { len, .. }) if *len > 0);
    if (cut_above && !keeps_lines(ops.first())) || (cut_below && !keeps_lines(ops.last())) {
        return None;
    }
    let above = old[..start].bytes().filter(|&b| b == b'\n').count();
    let below = line_count(&old[old_end..]);
    let mut whole = Operations::default();
    whole.push(DiffOp::Equal {
        old_index: 0,
        new_index: 0,
        len: above,
    });
    for op in ops {
        whole.push(shifted(op, above, above));
    }
    whole.push(DiffOp::Equal {
        old_index: whole.old_line,
        new_index: whole.new_line,
        len: below,
    });
    Some(whole.ops)
}

/// How many bytes `a` and `b` share at their start.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    // Eight bytes at a time, then one at a time in the first eight that differ.
    let words = a.chunks_exact(8).zip(b.chunks_exact(8));
    let same_words = words.take_while(|(x, y)| x == y).count() * 8;
    same_words
        + (a[same_words..].iter().zip(&b[same_words..]))
            .take_while(|(x, y)| x == y)
            .count()
}

/// How many bytes `a` and `b` share at their end.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let words = a.rchunks_exact(8).zip(b.rchunks_exact(8));
    let same_words = words.take_while(|(x, y)| x == y).count() * 8;
    let (a, b) = (&a[..a.len() - same_words], &b[..b.len() - same_words]);
    same_words
        + (a.iter().rev().zip(b.iter().rev()))
            .take_while(|(x, y)| x == y)
            .count()
}

/// The start of the line holding `at` when `at` is past a line's start, else of the line
/// before (0 at the text's start).
fn line_start_before(text: &[u8], at: usize) -> usize {
    match at {
        0 => 0,
        at => memchr::memrchr(b'\n', &text[..at - 1]).map_or(0, |i| i + 1),
    }
}

/// The start of the line after the line break at or after `at`; the text's end when none.
fn next_line_start(text: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &text[at.min(text.len())..]).map_or(text.len(), |i| at + i + 1)
}

/// The lines `similar` counts in `text` (which holds no bare CR): one per line break, and the
/// last one when it has none.
fn line_count(text: &str) -> usize {
    let breaks = text.bytes().filter(|&b| b == b'\n').count();
    breaks + usize::from(!text.is_empty() && !text.ends_with('\n'))
}

/// Reads the lines of a text given in pieces, each with its number of lines (as [`line_count`]
/// counts them; each piece ends at a line break, but the last), forward, by index, without an
/// index of all of them: a piece before the line asked for is passed over by its count. A
/// piece made for the cursor is dropped once it is passed.
struct LineCursor<'a, P> {
    /// The piece being read.
    piece: Cow<'a, str>,
    /// Where the rest of `piece` starts: its lines are not read yet.
    at: usize,
    /// The lines of the rest of `piece`.
    rest_lines: usize,
    /// The pieces after `piece`.
    pieces: P,
    /// The index of the first line of the rest of `piece`.
    line: usize,
}

impl<'a, P: Iterator<Item = (Cow<'a, str>, usize)>> LineCursor<'a, P> {
    /// A cursor over `pieces`, whose first line is line `first` of the text.
    fn new(pieces: P, first: usize) -> Self {
        LineCursor {
            piece: Cow::Borrowed(""),
            at: 0,
            rest_lines: 0,
            pieces,
            line: first,
        }
    }

    /// Line `index`, with its line break; never one before the last asked for.
    fn line(&mut self, index: usize) -> &str {
        while self.line < index && self.next_lines() {
            let n = (index - self.line).min(self.rest_lines);
            let rest = &self.piece[self.at..];
            // The line break ending the last line passed over: memchr's iterator finds them
            // many bytes at a time.
            let after = match n == self.rest_lines {
                true => rest.len(),
                false => memchr::memchr_iter(b'\n', rest.as_bytes())
                    .nth(n - 1)
                    .map_or(rest.len(), |at| at + 1),
            };
            self.at += after;
            self.rest_lines -= n;
            self.line += n;
        }
        self.next_lines();
        let start = self.at;
        let rest = &self.piece[start..];
        self.at += memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |i| i + 1);
        self.rest_lines = self.rest_lines.saturating_sub(1);
        self.line += 1;
        &self.piece[start..self.at]
    }

    /// Moves on to the next piece with lines when the rest of `piece` has none; whether there
    /// is one.
    fn next_lines(&mut self) -> bool {
        while self.rest_lines == 0 {
            match self.pieces.next() {
                Some((piece, lines)) => (self.piece, self.at, self.rest_lines) = (piece, 0, lines),
                None => return false,
            }
        }
        true
    }
}

/// The sign of a diff line: `-` removed, `+` added, a space kept.
pub(super) fn sign(tag: ChangeTag) -> char {
    match tag {
        ChangeTag::Delete => '-',
        ChangeTag::Insert => '+',
        ChangeTag::Equal => ' ',
    }
}

/// Prints one line of a hunk as `similar` does: with a note when it has no line break.
fn push_line(out: &mut String, tag: ChangeTag, line: &str) {
    out.push(sign(tag));
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

/// What follows a name on the `---` and `+++` lines: a TAB when it holds a space, where
/// `patch` expects the name to end.
fn name_end(name: &str) -> &'static str {
    if name.contains(' ') { "\t" } else { "" }
}

/// `name` as git writes a path (`core.quotePath`, its default): as it is, or in double quotes
/// with C escapes when it holds a double quote, a backslash, a control character or a
/// non-ASCII byte.
fn git_quoted(name: &str) -> String {
    let needs_quotes = |b: u8| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b);
    if !name.bytes().any(needs_quotes) {
        return name.to_owned();
    }
    let mut quoted = String::from("\"");
    for byte in name.bytes() {
        match byte {
            b'\x07' => quoted.push_str("\\a"),
            b'\x08' => quoted.push_str("\\b"),
            b'\t' => quoted.push_str("\\t"),
            b'\n' => quoted.push_str("\\n"),
            b'\x0b' => quoted.push_str("\\v"),
            b'\x0c' => quoted.push_str("\\f"),
            b'\r' => quoted.push_str("\\r"),
            b'"' => quoted.push_str("\\\""),
            b'\\' => quoted.push_str("\\\\"),
            b if needs_quotes(b) => quoted.push_str(&format!("\\{b:03o}")),
            b => quoted.push(char::from(b)),
        }
    }
    quoted.push('"');
    quoted
}

/// Colours a unified diff for a terminal: removals red, additions green, hunk headers cyan.
pub fn colorize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let colour =
            if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
                "\x1b[1m"
            } else if line.starts_with('+') {
                "\x1b[32m"
            } else if line.starts_with('-') {
                "\x1b[31m"
            } else if line.starts_with("@@") {
                "\x1b[36m"
            } else {
                ""
            };
        if colour.is_empty() {
            out.push_str(line);
        } else {
            let body = line.trim_end_matches('\n');
            out.push_str(&format!("{colour}{body}\x1b[0m{}", &line[body.len()..]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunks(old: &str, new: &str) -> String {
        let new_documents: Vec<&str> = yaml::document_texts(new).collect();
        document_hunks(old, new_documents.len(), &|index| {
            Cow::Borrowed(new_documents[index])
        })
        .concat()
    }

    fn whole_text_hunks(old: &str, new: &str) -> String {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(CONTEXT)
            .to_string()
    }

    /// The operations found in a window around the changes are those of the whole texts, over
    /// texts made of few distinct lines, where compaction slides changes far: lines inserted,
    /// removed and replaced at the start, the end and between, with and without a last line
    /// break, CRLF lines among them; with windows small enough for slides to reach their edge.
    #[test]
    fn operations_found_in_a_window_are_the_whole_texts() {
        const LINES: [&str; 6] = ["a\n", "b\n", "  - x\n", "\n", "c: d\r\n", "a"];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for margin in [0, 2, WINDOW_MARGIN] {
            let (mut windowed, mut whole) = (0, 0);
            for _ in 0..10_000 {
                let length = 1 + random(40);
                let mut lines: Vec<&str> = (0..length).map(|_| LINES[random(5)]).collect();
                if random(3) == 0 {
                    lines.push(LINES[5]);
                }
                let old = lines.concat();
                for _ in 0..1 + random(3) {
                    let at = random(lines.len() + 1);
                    let removed = random(3).min(lines.len() - at);
                    let added: Vec<&str> = (0..random(4)).map(|_| LINES[random(5)]).collect();
                    lines.splice(at..at + removed, added);
                }
                let new = lines.concat();
                if new == old {
                    continue;
                }
                let expected = similar::TextDiff::from_lines(&old, &new).ops().to_vec();
                match windowed_ops(&old, &new, margin) {
                    Some(ops) => {
                        windowed += 1;
                        assert_eq!(ops, expected, "margin {margin}: {old:?} -> {new:?}");
                    }
                    None => whole += 1,
                }
            }
            // Both ways are taken: the cases check the window, not only the fallback.
            assert!(
                windowed > 3_000 && whole > 300,
                "margin {margin}: {windowed} windowed, {whole} whole"
            );
        }
    }

    #[test]
    fn documents_diffed_one_at_a_time_give_the_whole_texts_hunks() {
        let old = "a: 1\nb: 2\n---\nc: 3\n---\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\ni: 9\nj: 10\n---\nk: 11\nl: 12";
        let cases = [
            // Changes two documents apart, whose context joins them into one hunk across `---`.
            old.replace("b: 2\n", "b: 2\nx: 0\n").replace("d: 4\n", ""),
            // Changes far enough apart for two hunks; the last line gains a line break.
            old.replace("a: 1\n", "a: 0\n").replace("l: 12", "l: 12\n"),
            // A change in the last document, which has no line break at its end.
            old.replace("k: 11\n", "k: 11\ny: 1\n"),
            old.to_owned(),
        ];
        for new in cases {
            assert_eq!(hunks(old, &new), whole_text_hunks(old, &new), "{new}");
        }
    }

    /// Hunks written in runs on several cores, each run's cursors starting in a later
    /// document, are those of the whole texts: hunks one per document, hunks joined across
    /// `---`, documents without a change and documents that gain or lose lines.
    #[test]
    fn hunks_written_in_runs_are_the_whole_texts_hunks() {
        let documents: Vec<String> = (0..60)
            .map(|i| format!("a: {i}\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\ng: 7\nh: 8\n"))
            .collect();
        let old = documents.join("---\n");
        let new: Vec<String> = (documents.iter().enumerate())
            .map(|(i, d)| match i % 5 {
                0 => d.replace("b: 2\n", "b: 2\nx: 0\ny: 0\n"),
                1 => d.replace("h: 8\n", "h: 9\n"),
                2 => d.replace("a: ", "z: ").replace("c: 3\n", ""),
                3 => d.clone(),
                _ => d.replace("e: 5\n", "e: 55\n"),
            })
            .collect();
        let new = new.join("---\n");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .expect("a pool");
        assert_eq!(
            pool.install(|| hunks(&old, &new)),
            whole_text_hunks(&old, &new)
        );
    }

    /// The diff of verified edits, made a document at a time and written in runs on several
    /// cores, is the diff of the new text.
    #[test]
    fn a_written_diff_is_the_diff_of_the_new_text() {
        let lines: String = ('b'..='p').map(|key| format!("{key}: 1\n")).collect();
        let documents: Vec<String> = (0..80).map(|i| format!("a: {i}\n{lines}")).collect();
        let old = documents.join("---\n");
        // Edits in most documents: a line replaced, lines added, a line removed, and two
        // lines far enough apart for two hunks in one document; some documents keep theirs.
        let splices: Vec<yaml::Splice> = (documents.iter().enumerate())
            .scan(0, |start, (i, document)| {
                let at = |line: &str| *start + document.find(line).expect("a line of the document");
                let splices = match i % 5 {
                    0 => vec![(at("b: 1\n")..at("c: 1\n"), "b: 22\n")],
                    1 => vec![(at("p: 1\n")..at("p: 1\n"), "x: 1\ny: 2\n")],
                    2 => vec![(at("a: ")..at("b: 1\n"), "")],
                    3 => vec![
                        (at("c: 1\n")..at("d: 1\n"), "c: 2\n"),
                        (at("o: 1\n")..at("p: 1\n"), "o: 2\n"),
                    ],
                    _ => Vec::new(),
                };
                *start += document.len() + "---\n".len();
                Some(splices)
            })
            .flatten()
            .map(|(range, text)| yaml::Splice {
                range,
                text: text.to_owned(),
            })
            .collect();
        let written = yaml::Written {
            splices,
            lost_comments: Vec::new(),
        };
        let expected = unified_diff("m.yaml", &old, &written.text(&old));
        // Runs of as many hunks as the cores allow: with some, a run starts at the second hunk
        // of a document.
        for threads in 1..=8 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            let pieces = pool.install(|| written_diff("m.yaml", &old, &written));
            assert!(pieces.len() > 2, "the hunks are written in several runs");
            assert_eq!(pieces.concat(), expected, "{threads} threads");
        }
    }

    #[test]
    fn a_line_cursor_skips_to_each_line_asked_for_across_pieces() {
        let pieces = ["a\nb\n", "c\n", "", "d\ne\nf\n", "g"];
        let whole = pieces.concat();
        let lines: Vec<&str> = whole.split_inclusive('\n').collect();
        for step in 1..=lines.len() {
            let mut cursor = LineCursor::new(
                pieces
                    .into_iter()
                    .map(|p| (Cow::Borrowed(p), line_count(p))),
                0,
            );
            for index in (0..lines.len()).step_by(step) {
                assert_eq!(
                    cursor.line(index),
                    lines[index],
                    "step {step}, line {index}"
                );
            }
        }
    }

    /// `similar` ends a line at a bare CR, so a text holding one, old or new, is diffed whole.
    #[test]
    fn texts_with_a_bare_carriage_return_are_diffed_whole() {
        for (old, new) in [
            ("a: 1\nb: 2\n", "a: 1\rb: 3\n"),
            ("a: 1\rb: 2\n", "a: 1\nb: 2\n"),
        ] {
            assert_eq!(hunks(old, new), whole_text_hunks(old, new));
        }
    }

    #[test]
    fn texts_with_different_documents_are_diffed_whole() {
        let (old, new) = ("a: 1\n", "a: 1\n---\nb: 2\n");
        assert_eq!(hunks(old, new), whole_text_hunks(old, new));
        assert!(hunks(old, new).contains("+---\n"));
    }
}
