//! Verifying an edited document by reading again only the children of its collections that
//! the edits touched.
//!
//! Every edited document is read again before it is written. Read whole, that is a fifth of
//! a run, though most edits touch a few lines of a large document. The children of a block
//! collection start lines at one column `c`: a mapping's keys, a sequence's `-`. Lines that
//! start at column `c` or less end everything inside a child, so what a child's lines mean
//! does not depend on the children around it. The lines of the touched children can then be
//! read alone, as a block collection of their own, and compared with the intended children;
//! the untouched children are unchanged text, and are compared with the intended children as
//! data.
//!
//! That holds under conditions each checked here, and otherwise the whole document is read:
//! - the document has no anchor or alias (ids and references reach across children);
//! - only blank and comment lines stand before a mapping's keys, so that each entry starts on
//!   its key's line (an empty explicit key starts after its `?`, on the next line);
//! - the part's first line in the output still starts at column `c`, so that it cannot be read
//!   as the inside of the child before it;
//! - the line after the part, which no edit touched, starts at a column below `c` (or is the
//!   next child, or ends the document), so that it cannot be read as the inside of the part;
//! - the part, read alone, is one document started without `---`, holding a block collection
//!   with no anchor or tag, and has no `...` or `---` line, which would end the document in
//!   place;
//! - the part takes the comment and blank lines after it along, which a block scalar left open
//!   at its end would read as content.
//!
//! A part that does not read as intended is not an error here: the whole document is then
//! read, and gives the verdict and its message.

use std::ops::Range;

use super::node::{CollectionStyle, Node, NodeKind};
use super::parse::{self, Reread, Want};
use super::render::{self, Splice};
use super::text::{Text, leading_spaces};

/// Whether `intended`, which `splices` (sorted, disjoint, in the coordinates of `text`) make of
/// the document `original`, reads as intended in the output, found by reading again only the
/// children the splices touched. `lines` are the document's lines with the comment and blank
/// lines after them, which hold every splice. `false` tells nothing: the whole document must
/// be read again.
pub(super) fn verified_in_parts(
    text: &Text<'_>,
    original: &Node<'_>,
    intended: &Node<'_>,
    splices: &[Splice],
    lines: Range<usize>,
) -> bool {
    // The root's tag stands before its children, where no part reads it.
    if splices.is_empty() || original.tag != intended.tag || has_anchor_or_alias(intended) {
        return false;
    }
    let parts = Parts {
        text,
        document_end: lines.end,
    };
    parts.collection(original, intended, splices, None) == Outcome::Verified
}

/// What the parts of one collection gave.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Each touched child read alone as intended; each other child holds the intended data.
    Verified,
    /// The collection cannot be cut into parts (not a block collection, a splice outside its
    /// children's lines, a child that does not start its line): its parent reads it whole.
    Whole,
    /// A part did not read as intended, or the intended children do not line up with the
    /// untouched ones: only the whole document can tell.
    Failed,
}

struct Parts<'t, 'a> {
    text: &'t Text<'a>,
    /// Where the lines of the document end.
    document_end: usize,
}

/// The children of a block collection.
#[derive(Clone, Copy)]
enum Children<'n, 'a> {
    Entries(&'n [(Node<'a>, Node<'a>)]),
    Items(&'n [Node<'a>]),
}

impl<'n, 'a> Children<'n, 'a> {
    /// The children of `node`, when it is a block collection.
    fn of(node: &'n Node<'a>) -> Option<Self> {
        match &node.kind {
            NodeKind::Mapping {
                style: CollectionStyle::Block,
                entries,
            } => Some(Children::Entries(entries)),
            NodeKind::Sequence {
                style: CollectionStyle::Block,
                items,
            } => Some(Children::Items(items)),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            Children::Entries(entries) => entries.len(),
            Children::Items(items) => items.len(),
        }
    }

    /// The node child `k` starts with, whose span tells it: an entry's key, an item.
    fn head(self, k: usize) -> &'n Node<'a> {
        match self {
            Children::Entries(entries) => &entries[k].0,
            Children::Items(items) => &items[k],
        }
    }

    /// The node child `k` holds: an entry's value, an item.
    fn body(self, k: usize) -> &'n Node<'a> {
        match self {
            Children::Entries(entries) => &entries[k].1,
            Children::Items(items) => &items[k],
        }
    }

    /// Where child `k` ends in the source: where its head or its body ends, whichever is later.
    fn end(self, k: usize) -> usize {
        self.head(k).end().max(self.body(k).end())
    }

    /// Whether child `k` and child `q` of `other` start with the same node of the source (same
    /// span), an entry's key holding the same data.
    fn same_head(self, k: usize, other: Children<'_, '_>, q: usize) -> bool {
        let (head, other_head) = (self.head(k), other.head(q));
        head.span.is_some()
            && head.span == other_head.span
            && (matches!(self, Children::Items(_)) || head.same_data(other_head))
    }

    /// Whether child `k` and child `q` of `other` are the same child of the source holding the
    /// same data.
    fn same_child(self, k: usize, other: Children<'_, '_>, q: usize) -> bool {
        self.same_head(k, other, q) && self.body(k).same_data(other.body(q))
    }

    /// Children `range`, as what a part read alone should hold.
    fn part(self, range: Range<usize>) -> Want<'n, 'a> {
        match self {
            Children::Entries(entries) => Want::Entries(&entries[range]),
            Children::Items(items) => Want::Items(&items[range]),
        }
    }
}

/// A stretch of a collection's lines, from a child's first line or from a line where new
/// children are inserted after one, up to the next stretch.
struct Part {
    /// The lines, in the source.
    lines: Range<usize>,
    /// The original children whose lines start in it.
    children: Range<usize>,
    /// The splices inside it.
    splices: Range<usize>,
    /// The intended children it should hold.
    wanted: Range<usize>,
    /// How many bytes of its text (a line break) belong to the part before.
    skip: usize,
    /// The line break after its lines that belongs to it, when an insertion there starts with
    /// one.
    line_break: &'static str,
}

impl Parts<'_, '_> {
    /// Verifies the children of `original`, edited into `intended` by `splices`. `end`, when
    /// set, is where the lines of its parent's part end, before new children of the parent.
    fn collection(
        &self,
        original: &Node<'_>,
        intended: &Node<'_>,
        splices: &[Splice],
        end: Option<PartEnd>,
    ) -> Outcome {
        let (Some(children), Some(wanted)) = (Children::of(original), Children::of(intended))
        else {
            return Outcome::Whole;
        };
        if children.len() == 0
            || matches!(children, Children::Entries(_)) != matches!(wanted, Children::Entries(_))
        {
            return Outcome::Whole;
        }
        let Some(lines) = self.child_lines(children, original, end) else {
            return Outcome::Whole;
        };
        let lines_end = *lines
            .starts
            .last()
            .expect("one start per child and the end");
        let (Some(first), Some(last)) = (splices.first(), splices.last()) else {
            return Outcome::Verified;
        };
        if first.range.start < lines.starts[0] || last.range.end > lines_end {
            return Outcome::Whole;
        }
        let Some(parts) = self.cut(children, wanted, &lines, splices) else {
            return Outcome::Failed;
        };
        for (i, part) in parts.iter().enumerate() {
            let outcome = match part.splices.is_empty() {
                // Unchanged lines read as they did: they must hold the intended data.
                true => {
                    let same = part.children.len() == part.wanted.len()
                        && part
                            .children
                            .clone()
                            .zip(part.wanted.clone())
                            .all(|(k, q)| children.same_child(k, wanted, q));
                    match same {
                        true => Outcome::Verified,
                        false => Outcome::Failed,
                    }
                }
                false => {
                    let part_splices = &splices[part.splices.clone()];
                    match self.descend(&lines, children, wanted, part, part_splices) {
                        Outcome::Whole => {
                            self.read_alone(&lines, children, wanted, part, i == 0, part_splices)
                        }
                        outcome => outcome,
                    }
                }
            };
            if outcome != Outcome::Verified {
                return outcome;
            }
        }
        Outcome::Verified
    }

    /// Cuts the lines of a collection's `children`, edited into `wanted` by `splices`, into
    /// parts: at each child's first line, and where new children are inserted at a line of
    /// their own after a child's lines, unless a splice spans the cut or the intended children
    /// at it are unknown. `None` when the intended children do not line up with the original.
    fn cut(
        &self,
        children: Children<'_, '_>,
        wanted: Children<'_, '_>,
        lines: &ChildLines,
        splices: &[Splice],
    ) -> Option<Vec<Part>> {
        let end = *lines.starts.last()?;
        // Each original child's counterpart among the intended: the one with its span. Edits
        // keep the children they leave in source order, so the search for one stops at the
        // first intended child from the source that starts at or after it.
        let mut counterparts = Vec::with_capacity(children.len());
        let mut q = 0;
        for k in 0..children.len() {
            let span = &children.head(k).span;
            let start = span.as_ref().map(|s| s.start);
            while q < wanted.len()
                && (wanted.head(q).span.as_ref()).is_none_or(|s| Some(s.start) < start)
            {
                q += 1;
            }
            let found = (q < wanted.len() && wanted.head(q).span == *span).then_some(q);
            q += usize::from(found.is_some());
            counterparts.push(found);
        }
        // Cuts in source order: where each is, the first intended child after it, and whether
        // an insertion made it (the insertion then opens the part after it).
        let mut cuts: Vec<Cut> = Vec::with_capacity(children.len() + 2);
        let mut next_splice = 0;
        for (k, &counterpart) in counterparts.iter().enumerate() {
            let (from, to) = (lines.starts[k], lines.starts[k + 1]);
            cuts.push(Cut {
                at: from,
                wanted: counterpart,
                insertion: None,
            });
            let body_end = children.end(k);
            while next_splice < splices.len() && splices[next_splice].range.start < from {
                next_splice += 1;
            }
            // The first insertion, after the child's lines, of children of this collection.
            let insertion = (next_splice..splices.len())
                .take_while(|&i| splices[i].range.start <= to)
                .find_map(|i| {
                    let line_break =
                        self.opens_children(&splices[i], body_end, to, lines.column, children)?;
                    Some(Insertion {
                        splice: i,
                        line_break,
                    })
                });
            if let (Some(insertion), Some(counterpart)) = (insertion, counterpart) {
                cuts.push(Cut {
                    at: splices[insertion.splice].range.start,
                    wanted: Some(counterpart + 1),
                    insertion: Some(insertion),
                });
            }
        }
        // A cut is kept when the intended children there are known, in order, and no splice
        // spans it; the first is where the collection's lines start.
        let mut kept: Vec<Cut> = Vec::with_capacity(cuts.len() + 1);
        for cut in cuts {
            let Some(index) = (if kept.is_empty() { Some(0) } else { cut.wanted }) else {
                continue;
            };
            // Splices are sorted and disjoint: the one that may span it starts last before it.
            let before = splices.partition_point(|s| s.range.start < cut.at);
            let spanned = before > 0 && cut.at < splices[before - 1].range.end;
            if spanned
                || kept
                    .last()
                    .is_some_and(|before| Some(index) < before.wanted)
            {
                continue;
            }
            kept.push(Cut {
                wanted: Some(index),
                ..cut
            });
        }
        kept.push(Cut {
            at: end,
            wanted: Some(wanted.len()),
            insertion: None,
        });
        // A splice belongs to the part it lies in; an insertion where two parts meet, to the
        // part before, unless it opens the part after.
        let mut parts = Vec::with_capacity(kept.len() - 1);
        let (mut splice, mut child) = (0, 0);
        for (i, pair) in kept.windows(2).enumerate() {
            let (cut, next) = (&pair[0], &pair[1]);
            let first_splice = splice;
            while let Some(s) = splices.get(splice) {
                let inside = match &next.insertion {
                    Some(insertion) => splice < insertion.splice,
                    None => {
                        s.range.start < next.at || (s.range.is_empty() && s.range.start == next.at)
                    }
                };
                if !inside {
                    break;
                }
                splice += 1;
            }
            let first_child = child;
            while child < children.len() && lines.starts[child] < next.at {
                child += 1;
            }
            let line_break = |cut: &Cut| cut.insertion.as_ref().map_or("", |i| i.line_break);
            let last = i + 2 == kept.len();
            parts.push(Part {
                lines: cut.at..next.at,
                children: first_child..child,
                splices: first_splice..splice,
                wanted: cut.wanted?..next.wanted?,
                skip: line_break(cut).len(),
                line_break: match (last, lines.end) {
                    (true, Some(end)) => end.line_break,
                    _ => line_break(next),
                },
            });
        }
        (splice == splices.len() && child == children.len()).then_some(parts)
    }

    /// Verifies a part holding one child, whose intended counterpart is one child with the
    /// same head, by the parts of the collection in it: `Whole` when it holds none, or cannot
    /// be cut.
    fn descend(
        &self,
        lines: &ChildLines,
        children: Children<'_, '_>,
        wanted: Children<'_, '_>,
        part: &Part,
        splices: &[Splice],
    ) -> Outcome {
        if part.children.len() != 1 || part.wanted.len() != 1 {
            return Outcome::Whole;
        }
        let (k, q) = (part.children.start, part.wanted.start);
        let (body, wanted_body) = (children.body(k), wanted.body(q));
        // The key's line, and the body's own tag before its children, are untouched when every
        // splice is inside the body's children.
        if !children.same_head(k, wanted, q) || body.tag != wanted_body.tag {
            return Outcome::Whole;
        }
        // A part cut short by new children after it: the collection's lines end there too.
        let end = (part.lines.end != lines.starts[k + 1]).then_some(PartEnd {
            at: part.lines.end,
            line_break: part.line_break,
        });
        self.collection(body, wanted_body, splices, end)
    }

    /// Where the lines of each child of `original` start, and where the last one's end, with
    /// the comment and blank lines after it (or at `end`): `None` when a child other than the
    /// first does not start its line at the collection's column (the first may follow a
    /// parent's `-`).
    fn child_lines(
        &self,
        children: Children<'_, '_>,
        original: &Node<'_>,
        end: Option<PartEnd>,
    ) -> Option<ChildLines> {
        let text = self.text;
        let source = text.source;
        let mut starts = Vec::with_capacity(children.len() + 1);
        let mut column = 0;
        let mut first_alone = true;
        // Where the text before the next child starts: the collection's start, then each
        // child's end.
        let mut before = original.span.as_ref()?.start;
        for k in 0..children.len() {
            let at = children.head(k).full_start();
            // Only blank and comment lines may stand before an entry's key: the key of an
            // explicit entry (`? `) that is empty starts after the indicator, on another line,
            // and a part read from there would leave the `?` out.
            if let Children::Entries(_) = children {
                let gap = source.get(before..at)?;
                if through_comment_lines(gap, 0) < gap.len() {
                    return None;
                }
            }
            before = children.end(k);
            let start = text.line_start(at);
            let indent = leading_spaces(&source[start..]);
            let (lead, alone) = match children {
                Children::Entries(_) => (at - start, indent == at - start),
                // `-` and at least one blank before the item, on its line.
                Children::Items(_) => {
                    let blanks = source.get(start + indent..at)?.strip_prefix('-')?;
                    if blanks.is_empty() || !blanks.bytes().all(|b| b == b' ') {
                        return None;
                    }
                    (indent, true)
                }
            };
            if k == 0 {
                column = lead;
                first_alone = alone;
            } else if !alone || lead != column {
                return None;
            }
            starts.push(start);
        }
        let last_end = original.end();
        let after = match text.line_start(last_end) == last_end {
            true => last_end,
            false => text.next_line_start(last_end),
        };
        match end {
            Some(end) if end.at >= starts[starts.len() - 1] => starts.push(end.at),
            Some(_) => return None,
            None => starts.push(through_comment_lines(source, after)),
        }
        Some(ChildLines {
            starts,
            end,
            column,
            first_alone,
        })
    }

    /// Reads `part`, edited by `splices`, alone and compares it with its intended children.
    /// The first part of a collection follows its parent's line; any other follows a part
    /// that must end where it starts.
    fn read_alone(
        &self,
        lines: &ChildLines,
        children: Children<'_, '_>,
        wanted: Children<'_, '_>,
        part: &Part,
        first: bool,
        splices: &[Splice],
    ) -> Outcome {
        if first && !lines.first_alone {
            return Outcome::Whole;
        }
        let last = part.lines.end == *lines.starts.last().expect("the end");
        if last && lines.end.is_none() && !self.closes(part.lines.end, lines.column, children) {
            return Outcome::Whole;
        }
        let source = self.text.source;
        let mut text = render::apply_within(source, part.lines.clone(), splices);
        text.push_str(part.line_break);
        let Some(text) = text.get(part.skip..) else {
            return Outcome::Failed;
        };
        if text.is_empty() && part.wanted.is_empty() {
            return Outcome::Verified;
        }
        if !reads_alone(text, part.lines.end, source)
            || !starts_at_column(text, lines.column, first)
        {
            return Outcome::Failed;
        }
        match parse::reread(text, None, wanted.part(part.wanted.clone())) {
            Ok(Reread::Same) => Outcome::Verified,
            _ => Outcome::Failed,
        }
    }

    /// Whether `splice` inserts, after the lines of a child whose body ends at `body_end` and
    /// before the next child's at `to`, children of this collection at `column`: it is written at
    /// a line start, or at a line end starting with that line break (then the answer), only
    /// comment and blank lines stand between it and `to`, and its first line opens a child here
    /// (a key, or a `-` in a sequence, at the column) or further out.
    fn opens_children(
        &self,
        splice: &Splice,
        body_end: usize,
        to: usize,
        column: usize,
        children: Children<'_, '_>,
    ) -> Option<&'static str> {
        let (text, source) = (self.text, self.text.source);
        let at = splice.range.start;
        if !splice.range.is_empty() || at < body_end {
            return None;
        }
        let line_break = match text.line_start(at) == at {
            // A line that starts where the body ends is a blank line that a keep-chomped block
            // scalar ending the body holds (its span ends before that line's break).
            true if at <= text.line_end(body_end) => return None,
            true => "",
            false if text.line_end(at) == at => {
                let line_break = ["\r\n", "\n"]
                    .into_iter()
                    .find(|b| splice.text.starts_with(b))?;
                // At the end of a text without a final line break, the insertion brings its own.
                if at < source.len() && !source[at..].starts_with(line_break) {
                    return None;
                }
                line_break
            }
            false => return None,
        };
        let after = (at + line_break.len()).min(source.len());
        if through_comment_lines(source, after) < to {
            return None;
        }
        let first_line = &splice.text[line_break.len()..];
        let indent = leading_spaces(first_line);
        let dash = is_dash(&first_line[indent..]);
        let opens =
            indent < column || (indent == column && dash == matches!(children, Children::Items(_)));
        opens.then_some(line_break)
    }

    /// Whether the untouched line at `at`, after the last child of a collection at `column`,
    /// ends that child in place as the end of the text ends it when read alone: it ends the
    /// document, or starts left of the column, or (after a sequence) is a key at its column.
    fn closes(&self, at: usize, column: usize, children: Children<'_, '_>) -> bool {
        let source = self.text.source;
        if at >= self.document_end || at == source.len() {
            return true;
        }
        let line = &source[at..];
        let indent = leading_spaces(line);
        indent < column
            || (indent == column
                && matches!(children, Children::Items(_))
                && !is_dash(&line[indent..]))
    }
}

/// Where the lines of a part end, when new children follow it.
#[derive(Clone, Copy)]
struct PartEnd {
    /// The offset: a line start, or the line break an insertion starts with.
    at: usize,
    /// That line break, which belongs to the part (empty at a line start).
    line_break: &'static str,
}

/// Where a collection's lines are cut into parts.
struct Cut {
    /// The offset: a line start, or the line break before an insertion that starts with one.
    at: usize,
    /// The first intended child after it, when known.
    wanted: Option<usize>,
    /// The insertion that made it, which opens the part after it.
    insertion: Option<Insertion>,
}

/// An insertion of new children after a child's lines.
struct Insertion {
    /// Its index among the splices.
    splice: usize,
    /// The line break it starts with, when it is written at the end of a line rather than at
    /// the start of the next (empty otherwise): the line break then ends the part before it.
    line_break: &'static str,
}

/// Where the lines of a collection's children start, with the end of the last one's.
struct ChildLines {
    /// One start per child, then the end.
    starts: Vec<usize>,
    /// Where a parent's part ends, when new children of the parent follow the last child's
    /// lines: they start at or left of the parent's column, which ends this collection.
    end: Option<PartEnd>,
    /// The column of the children's keys or `-`.
    column: usize,
    /// Whether the first child starts its line (not after a parent's `-`).
    first_alone: bool,
}

/// Whether `rest` starts with a sequence item's `-`.
fn is_dash(rest: &str) -> bool {
    rest.strip_prefix('-')
        .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t', '\r', '\n']))
}

/// Whether the first line of `part` that is not blank or a comment starts at `column`, and,
/// unless the part comes `first` in its collection, is the part's first line: blank lines
/// after a part are read as the end of its last value (a block scalar keeping them).
fn starts_at_column(part: &str, column: usize, first: bool) -> bool {
    let mut lines = part.split_inclusive('\n').skip_while(|line| {
        let content = line.trim_start_matches([' ', '\t']);
        first && (content.is_empty() || content.starts_with(['#', '\r', '\n']))
    });
    lines.next().is_some_and(|line| {
        let content = line.trim_start_matches(' ');
        leading_spaces(line) == column
            && !content.is_empty()
            && !content.starts_with(['#', '\t', '\r', '\n'])
    })
}

/// Whether `text`, lines of `source` up to `end` as edited, reads alone as it does in place as
/// far as its end goes: it ends its last line (or the source ends with it), so that it cannot
/// run on into the line after it, and holds no document marker.
pub(super) fn reads_alone(text: &str, end: usize, source: &str) -> bool {
    (text.ends_with('\n') || end == source.len()) && !ends_document(text)
}

/// Whether a line of `part` is a document marker (`---`, `...`) or holds a byte order mark:
/// read alone, the part could end where in place a document ends.
fn ends_document(part: &str) -> bool {
    let marker = |at: usize| part[at..].starts_with("---") || part[at..].starts_with("...");
    marker(0)
        || memchr::memchr_iter(b'\n', part.as_bytes()).any(|i| marker(i + 1))
        || part.contains('\u{feff}')
}

/// The end of the blank and comment-only lines from `offset` on.
pub(super) fn through_comment_lines(source: &str, mut offset: usize) -> usize {
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

/// Whether `node` or a node below it defines an anchor or is an alias.
fn has_anchor_or_alias(node: &Node<'_>) -> bool {
    node.anchor != 0
        || match &node.kind {
            NodeKind::Mapping { entries, .. } => entries
                .iter()
                .any(|(k, v)| has_anchor_or_alias(k) || has_anchor_or_alias(v)),
            NodeKind::Sequence { items, .. } => items.iter().any(has_anchor_or_alias),
            NodeKind::Alias(_) => true,
            NodeKind::Scalar { .. } => false,
        }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::yaml::edit::{Guard, Step, set};
    use crate::yaml::parse::parse;

    /// Whether the parts check accepts `splices` (ranges and texts) over the only document of
    /// `source` as making the document `edit` makes of it.
    fn verified(
        source: &str,
        splices: &[(Range<usize>, &str)],
        edit: impl FnOnce(&mut Node<'_>, &Guard<'_>),
    ) -> bool {
        let text = Text::new(source);
        let original = parse(&text, false).unwrap().documents.remove(0);
        let mut intended = original.clone();
        let names = HashMap::new();
        edit(&mut intended, &Guard::new(&original, &names));
        let mut splices: Vec<Splice> = splices
            .iter()
            .map(|(range, text)| Splice {
                range: range.clone(),
                text: text.to_string(),
            })
            .collect();
        render::sort(&mut splices).unwrap();
        let lines = 0..through_comment_lines(source, text.next_line_start(original.end()));
        verified_in_parts(&text, &original, &intended, &splices, lines)
    }

    fn keys(path: &'static str) -> Vec<Step> {
        path.split('.').map(|k| Step::Key(k.into())).collect()
    }

    fn set_scalar(
        path: &'static str,
        value: &'static str,
    ) -> impl FnOnce(&mut Node<'_>, &Guard<'_>) {
        move |root, guard| set(root, &keys(path), Node::new_scalar(value, false), guard).unwrap()
    }

    #[test]
    fn edits_in_a_few_places_are_verified_by_the_lines_they_touch() {
        let source = concat!(
            "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: a\n",
            "    securityContext:\n      privileged: true\n",
        );
        let value = source.find("true").unwrap();
        let privileged = source.rfind("true").unwrap();
        let edit = |root: &mut Node<'_>, guard: &Guard<'_>| {
            set_scalar("spec.hostNetwork", "false")(root, guard);
            let mut path = keys("spec.containers");
            path.extend([
                Step::Index(0),
                Step::Key("securityContext".into()),
                Step::Key("privileged".into()),
            ]);
            set(root, &path, Node::new_scalar("false", false), guard).unwrap();
        };
        let splices = [
            (value..value + 4, "false"),
            (privileged..privileged + 4, "false"),
        ];
        assert!(verified(source, &splices, edit));
        // The same text, with an intended change it does not make.
        let more = |root: &mut Node<'_>, guard: &Guard<'_>| {
            edit(root, guard);
            set_scalar("kind", "Job")(root, guard);
        };
        assert!(!verified(source, &splices, more));
    }

    #[test]
    fn new_children_at_the_end_of_nested_collections_are_read_each_in_its_own() {
        let source = "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n";
        let end = source.len() - 1;
        let splices = [
            (end..end, "\n      automountServiceAccountToken: false"),
            (end..end, "\n  paused: true"),
        ];
        let edit = |root: &mut Node<'_>, guard: &Guard<'_>| {
            set_scalar("spec.template.spec.automountServiceAccountToken", "false")(root, guard);
            set_scalar("spec.paused", "true")(root, guard);
        };
        assert!(verified(source, &splices, edit));
    }

    #[test]
    fn a_tag_on_the_root_is_compared_with_the_intended_one() {
        let source = "!!map\na: 1\n";
        let one = source.find('1').unwrap();
        let edit = |root: &mut Node<'_>, guard: &Guard<'_>| {
            set_scalar("a", "2")(root, guard);
            root.tag = None;
        };
        assert!(!verified(source, &[(one..one + 1, "2")], edit));
        assert!(verified(
            source,
            &[(one..one + 1, "2")],
            set_scalar("a", "2")
        ));
    }

    #[test]
    fn a_part_must_end_with_its_last_line() {
        // Read alone, `a:` then two blanks holds `a: null`; in place, the blanks indent `b`.
        let source = "a:\nb: 1\n";
        assert!(!verified(source, &[(3..3, "  ")], |_, _| {}));
    }

    #[test]
    fn a_part_after_another_starts_with_a_child_at_the_column() {
        // The blank line would be read as the end of `a`'s block scalar, which keeps it.
        let source = "a: |+\n  x\nb: 1\n";
        let b = source.find('b').unwrap();
        assert!(!verified(source, &[(b..b + 1, "\nb")], |_, _| {}));
        assert!(verified(
            source,
            &[(b + 3..b + 4, "2")],
            set_scalar("b", "2")
        ));
    }

    #[test]
    fn a_part_before_new_children_ends_where_they_start() {
        // `b` made a block scalar keeping its trailing lines, and `d` inserted after `a`'s
        // lines: in place, the blank line after `d` is no part of `b`, which holds "x\n".
        let source = "a:\n  b: 1\n\nc: 2\n";
        let one = source.find('1').unwrap();
        let after_b = one + 2;
        let splices = [(one..one + 1, "|+\n    x"), (after_b..after_b, "d: 4\n")];
        let edit = |root: &mut Node<'_>, guard: &Guard<'_>| {
            set(root, &keys("a.b"), Node::new_scalar("x\n\n", true), guard).unwrap();
            if let NodeKind::Mapping { entries, .. } = &mut root.kind {
                let d = (Node::new_scalar("d", false), Node::new_scalar("4", false));
                entries.insert(1, d);
            }
        };
        assert!(!verified(source, &splices, edit));
    }

    #[test]
    fn new_children_are_not_written_between_a_block_scalar_and_the_blank_lines_it_keeps() {
        // The span of `a`'s scalar ends where the blank line it keeps starts, before that line's
        // break; `b` written at the start of that line leaves `a` holding "x\n".
        let source = "a: |+\n  x\n\nc: 2\n";
        let blank = source.find("\n\n").unwrap() + 1;
        let edit = |root: &mut Node<'_>, _: &Guard<'_>| {
            if let NodeKind::Mapping { entries, .. } = &mut root.kind {
                let b = (Node::new_scalar("b", false), Node::new_scalar("1", false));
                entries.insert(1, b);
            }
        };
        assert!(!verified(source, &[(blank..blank, "b: 1\n")], edit));
    }

    #[test]
    fn a_part_holding_a_document_end_is_not_read_alone() {
        // Read alone, the part is one document ended by `...`; in place, `c: 2` starts another.
        let source = "a:\n  b: 1\nc: 2\n";
        let one = source.find('1').unwrap();
        assert!(!verified(source, &[(one..one + 1, "1\n...")], |_, _| {}));
    }

    #[test]
    fn an_empty_explicit_key_is_read_with_its_indicator() {
        // The key of `? ` is empty, and its span starts on the next line, where the `:` is: a
        // part read from that line leaves out the `?` above it, which in place makes another
        // entry of a null key with a null value. A fuzzer's finding.
        let source = "? \n: 1\n";
        let colon = source.find(':').unwrap();
        let edit = |root: &mut Node<'_>, _: &Guard<'_>| {
            if let NodeKind::Mapping { entries, .. } = &mut root.kind {
                entries[0] = (Node::new_scalar("b", false), Node::new_scalar("2", false));
            }
        };
        assert!(!verified(
            source,
            &[(colon..source.len() - 1, "b: 2")],
            edit
        ));
    }
}
