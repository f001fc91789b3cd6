//! Turns the difference between an original document and its intended version into splices of
//! the original text, each rendered in the style around it.

use std::fmt;
use std::ops::Range;

use super::node::{CollectionStyle, Node, NodeKind, ScalarStyle};
use super::text::{Text, block_scalar_header, leading_spaces};

/// A replacement of one range of the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// The bytes replaced (empty for an insertion).
    pub range: Range<usize>,
    /// What goes in their place.
    pub text: String,
}

/// Why an intended change could not be written as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The writing habits of one document, followed by everything inserted into it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Spaces from a key to its nested keys.
    pub indent: usize,
    /// Whether `key:` is followed by `- item` at the key's own column.
    pub indentless_sequences: bool,
    /// The line break.
    pub line_break: &'static str,
    /// Whether the document is JSON-like (flow mappings with double-quoted keys).
    pub json: bool,
    /// What follows `,` and `:` in flow collections: `" "`, or `""` in compact JSON
    /// (`{"a":1,"b":2}`).
    pub flow_space: &'static str,
}

impl Layout {
    /// Learns the habits of `root` from its nested block collections.
    pub fn detect(text: &Text<'_>, root: &Node<'_>) -> Layout {
        let mut votes = LayoutVotes::default();
        votes.visit(text, root);
        let indent = (1..=8)
            .max_by_key(|&w| (votes.widths[w], w == 2))
            .filter(|&w| votes.widths[w] > 0)
            .unwrap_or(2);
        let json = matches!(&root.kind, NodeKind::Mapping { style: CollectionStyle::Flow, entries }
            if entries.first().is_some_and(|(k, _)| matches!(k.kind, NodeKind::Scalar { style: ScalarStyle::DoubleQuoted, .. })));
        Layout {
            indent,
            indentless_sequences: votes.indentless > votes.indented,
            line_break: text.line_break(),
            json,
            flow_space: flow_space(text, root).unwrap_or(" "),
        }
    }
}

/// What the first flow mapping entry under `node` writes after its `:`: `""` for `"a":1`, `" "`
/// otherwise; `None` when there is no flow mapping entry.
fn flow_space(text: &Text<'_>, node: &Node<'_>) -> Option<&'static str> {
    match &node.kind {
        NodeKind::Mapping {
            style: CollectionStyle::Flow,
            entries,
        } if !entries.is_empty() => {
            let (key, value) = &entries[0];
            let between = text.source.get(key.end()..value.full_start())?;
            Some(if between == ":" { "" } else { " " })
        }
        NodeKind::Mapping { entries, .. } => entries.iter().find_map(|(_, v)| flow_space(text, v)),
        NodeKind::Sequence { items, .. } => items.iter().find_map(|i| flow_space(text, i)),
        _ => None,
    }
}

#[derive(Default)]
struct LayoutVotes {
    widths: [usize; 9],
    indentless: usize,
    indented: usize,
}

impl LayoutVotes {
    fn visit(&mut self, text: &Text<'_>, node: &Node<'_>) {
        match &node.kind {
            NodeKind::Mapping {
                style: CollectionStyle::Block,
                entries,
            } => {
                for (key, value) in entries {
                    // Only the keys of nested collections vote: most values are scalars, and
                    // finding a column searches the line table.
                    let key_column = || text.column(key.full_start());
                    match &value.kind {
                        NodeKind::Mapping {
                            style: CollectionStyle::Block,
                            entries,
                        } if !entries.is_empty() => {
                            let child = text.column(entries[0].0.full_start());
                            if let Some(w) = child
                                .checked_sub(key_column())
                                .filter(|w| (1..=8).contains(w))
                            {
                                self.widths[w] += 1;
                            }
                        }
                        NodeKind::Sequence {
                            style: CollectionStyle::Block,
                            items,
                        } if !items.is_empty() => {
                            if let Some(dash) = item_dash(text, &items[0]) {
                                if text.column(dash) == key_column() {
                                    self.indentless += 1;
                                } else {
                                    self.indented += 1;
                                }
                            }
                        }
                        _ => {}
                    }
                    self.visit(text, value);
                }
            }
            NodeKind::Mapping { entries, .. } => {
                entries.iter().for_each(|(_, v)| self.visit(text, v))
            }
            NodeKind::Sequence { items, .. } => items.iter().for_each(|i| self.visit(text, i)),
            _ => {}
        }
    }
}

/// The `-` of the block sequence item `item`, found before where it is written from: its
/// properties (`&a`, `!t`), else the header of a block scalar (`>-`, whose `-` is not the
/// item's), else its content.
fn item_dash(text: &Text<'_>, item: &Node<'_>) -> Option<usize> {
    let start = item.full_start();
    // One with no content starts at its header already (its span is the header).
    let block_scalar_with_content = matches!(
        &item.kind,
        NodeKind::Scalar {
            style: ScalarStyle::Literal | ScalarStyle::Folded,
            value,
        } if !value.bytes().all(|b| b == b'\n')
    );
    let written_from = match block_scalar_with_content && item.properties_start.is_none() {
        true => block_scalar_header(text.source, start).unwrap_or(start),
        false => start,
    };
    dash_before(text, written_from)
}

/// The `-` of the block sequence item starting at `offset`, if only blanks, line breaks and
/// comments stand between them (`- # note` on the line above the item's first key).
fn dash_before(text: &Text<'_>, offset: usize) -> Option<usize> {
    indicator_before(text, offset, '-')
}

/// The `indicator` (`-` of a sequence item, `?` of an explicit key) that the node starting at
/// `offset` follows, if only blanks, line breaks and comments stand between them.
fn indicator_before(text: &Text<'_>, offset: usize, indicator: char) -> Option<usize> {
    let mut end = offset;
    loop {
        let before = text.source[..end].trim_end_matches([' ', '\t', '\r', '\n']);
        if before.ends_with(indicator) {
            return Some(before.len() - 1);
        }
        // A comment ends the line above, alone or after the indicator: look before it.
        let line_start = text.line_start(before.len().checked_sub(1)?);
        let line = &text.source[line_start..before.len()];
        let hash = line.find('#')?;
        let head = &line[..hash];
        let blank_before = head.is_empty() || head.ends_with([' ', '\t']);
        let rest = head.trim();
        if !blank_before || !(rest.is_empty() || rest.strip_prefix(indicator) == Some("")) {
            return None;
        }
        end = line_start + hash;
    }
}

/// Where a node sits, which decides how a replacement for it is written.
#[derive(Clone, Copy)]
enum Place<'n, 'a> {
    /// A document root.
    Root,
    /// The value of `key` in a block mapping.
    BlockValue(&'n Node<'a>),
    /// An item of a block sequence.
    BlockItem,
    /// Anything inside a flow collection.
    Flow,
}

/// Computes the splices that turn `original` into `intended`, both roots of one document.
pub fn splices(
    text: &Text<'_>,
    layout: &Layout,
    original: &Node<'_>,
    intended: &Node<'_>,
) -> Result<Vec<Splice>, RenderError> {
    let mut renderer = Renderer {
        text,
        layout,
        out: Vec::new(),
        removals: Vec::new(),
    };
    renderer.diff(original, intended, Place::Root)?;
    Ok(renderer.out)
}

/// Applies non-overlapping splices to `source`.
pub fn apply(source: &str, splices: &mut [Splice]) -> Result<String, RenderError> {
    sort(splices)?;
    Ok(apply_sorted(source, splices))
}

/// Sorts `splices` by where they start: an error when two overlap.
pub fn sort(splices: &mut [Splice]) -> Result<(), RenderError> {
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    match splices
        .windows(2)
        .find(|pair| pair[1].range.start < pair[0].range.end)
    {
        Some(pair) => Err(RenderError(format!(
            "two edits overlap at byte {}",
            pair[1].range.start
        ))),
        None => Ok(()),
    }
}

/// `source` with `splices`, sorted and disjoint ([`sort`]), applied.
pub fn apply_sorted(source: &str, splices: &[Splice]) -> String {
    apply_within(source, 0..source.len(), splices)
}

/// The part `within` of `source` with `splices`, sorted, disjoint and inside it, applied.
pub fn apply_within(source: &str, within: Range<usize>, splices: &[Splice]) -> String {
    let inserted: usize = splices.iter().map(|s| s.text.len()).sum();
    let mut out = String::with_capacity(within.len() + inserted);
    applied_pieces(source, within, splices).for_each(|piece| out.push_str(piece));
    out
}

/// The part `within` of `source` with `splices`, sorted, disjoint and inside it, applied, in
/// pieces: the parts of `source` the splices leave, and the splices' texts between them.
pub fn applied_pieces<'a>(
    source: &'a str,
    within: Range<usize>,
    splices: &'a [Splice],
) -> impl Iterator<Item = &'a str> {
    let kept_starts = std::iter::once(within.start).chain(splices.iter().map(|s| s.range.end));
    let kept_ends = splices.iter().map(|s| s.range.start).chain([within.end]);
    let kept = kept_starts
        .zip(kept_ends)
        .map(|(start, end)| &source[start..end]);
    let written = splices.iter().map(|s| s.text.as_str()).chain([""]);
    kept.zip(written)
        .flat_map(|(kept, written)| [kept, written])
}

struct Renderer<'t, 's> {
    text: &'t Text<'s>,
    layout: &'t Layout,
    out: Vec<Splice>,
    /// The indexes in `out` of the splices pushed with no text (removals), in order: the
    /// searches for a removal look at these only, not at every splice of a large document.
    /// A splice's text may grow later (a `,` appended), never become empty.
    removals: Vec<usize>,
}

impl Renderer<'_, '_> {
    fn splice(&mut self, range: Range<usize>, text: String) {
        if text.is_empty() {
            self.removals.push(self.out.len());
        }
        self.out.push(Splice { range, text });
    }

    /// The first removal (a splice whose text is empty) in the order they were made that
    /// `is_it` accepts, as an index in `out`.
    fn find_removal(&self, is_it: impl Fn(&Range<usize>) -> bool) -> Option<usize> {
        self.removals
            .iter()
            .copied()
            .find(|&i| self.out[i].text.is_empty() && is_it(&self.out[i].range))
    }

    fn diff(
        &mut self,
        original: &Node<'_>,
        intended: &Node<'_>,
        place: Place<'_, '_>,
    ) -> Result<(), RenderError> {
        if intended.span.is_none() {
            return self.replace(original, intended, place);
        }
        match (&original.kind, &intended.kind) {
            (
                NodeKind::Mapping {
                    style,
                    entries: old,
                },
                NodeKind::Mapping { entries: new, .. },
            ) => {
                let mut added = Vec::new();
                let mut kept = vec![false; old.len()];
                let mut next = 0;
                for (key, value) in new {
                    if key.span.is_none() {
                        added.push((key, value));
                        continue;
                    }
                    let i = find_original(old.len(), next, |i| old[i].0.span == key.span)
                        .ok_or_else(|| RenderError("an edited key has no original".into()))?;
                    (kept[i], next) = (true, i + 1);
                    let (old_key, old_value) = &old[i];
                    let child_place = match style {
                        CollectionStyle::Block => Place::BlockValue(old_key),
                        CollectionStyle::Flow => Place::Flow,
                    };
                    self.diff(old_value, value, child_place)?;
                }
                let removed: Vec<usize> = (0..old.len()).filter(|&i| !kept[i]).collect();
                if !removed.is_empty() && removed.len() == old.len() {
                    if added.is_empty() {
                        return self.replace(original, intended, place);
                    }
                    return self.replace_entries(original, *style, old, &added);
                }
                match style {
                    CollectionStyle::Block => {
                        for &i in &removed {
                            self.remove_block_entry(old, i)?;
                        }
                    }
                    CollectionStyle::Flow => {
                        let ranges = old.iter().map(|(k, v)| k.full_start()..v.end()).collect();
                        self.remove_flow_items(ranges, &removed);
                    }
                }
                if !added.is_empty() {
                    // New entries go after the last entry that stays: those removed from the end
                    // of the mapping leave no place to write after.
                    let trailing = kept.iter().rev().take_while(|&&k| !k).count();
                    let staying = &old[..old.len() - trailing];
                    self.insert_entries(original, *style, staying, &added, place)?;
                }
                Ok(())
            }
            (NodeKind::Sequence { style, items: old }, NodeKind::Sequence { items: new, .. }) => {
                let child_place = match style {
                    CollectionStyle::Block => Place::BlockItem,
                    CollectionStyle::Flow => Place::Flow,
                };
                let mut added = Vec::new();
                let mut kept = vec![false; old.len()];
                let mut next = 0;
                for item in new {
                    let found = item
                        .span
                        .as_ref()
                        .and_then(|_| find_original(old.len(), next, |i| old[i].span == item.span));
                    match found {
                        Some(i) => {
                            (kept[i], next) = (true, i + 1);
                            self.diff(&old[i], item, child_place)?;
                        }
                        None => added.push(item),
                    }
                }
                let removed: Vec<usize> = (0..old.len()).filter(|&i| !kept[i]).collect();
                if !removed.is_empty() && removed.len() == old.len() && added.is_empty() {
                    return self.replace(original, intended, place);
                }
                match style {
                    CollectionStyle::Block => {
                        for &i in &removed {
                            self.remove_block_item(old, i)?;
                        }
                    }
                    CollectionStyle::Flow => {
                        let ranges = old.iter().map(|n| n.full_start()..n.end()).collect();
                        self.remove_flow_items(ranges, &removed);
                    }
                }
                if !added.is_empty() {
                    self.append_items(original, *style, old, &added, place)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Writes `intended` in place of `original`.
    fn replace(
        &mut self,
        original: &Node<'_>,
        intended: &Node<'_>,
        place: Place<'_, '_>,
    ) -> Result<(), RenderError> {
        let span = original
            .span
            .clone()
            .ok_or_else(|| RenderError("no original to replace".into()))?;
        let like = match &original.kind {
            NodeKind::Scalar { style, .. } => Some(*style),
            _ => None,
        };
        let is_collection = !matches!(intended.kind, NodeKind::Scalar { .. } | NodeKind::Alias(_));
        let is_empty_original = original.is_null()
            || original.entries().is_some_and(<[_]>::is_empty)
            || original.items().is_some_and(<[_]>::is_empty);
        let is_collection_original = !matches!(original.kind, NodeKind::Scalar { .. });
        if is_collection_original && !is_empty_original && !is_empty_collection(intended) {
            return Err(RenderError(
                "replacing a non-empty collection is not supported".into(),
            ));
        }
        match place {
            Place::BlockValue(key) if !is_empty_original && is_collection_original => {
                // Every entry or item went: the block collection becomes `{}` or `[]`.
                let colon = self.colon_after(key)?;
                let value = self.inline(intended, like);
                self.splice(colon..span.end, format!(" {value}"));
            }
            Place::BlockValue(key) if is_collection && !is_empty_collection(intended) => {
                let key_column = self.text.column(key.full_start());
                let colon = self.colon_after(key)?;
                let mut body = String::new();
                self.block_body(&mut body, intended, key_column, quoted_style(key));
                // An empty value (`key:`) is reported at the end of its key, before the `:`.
                let end = span.end.max(colon);
                let start = self.value_start(original, intended, colon);
                let line_end = self.text.line_end(end);
                if line_end == end {
                    self.splice(start..end, body);
                } else {
                    // A comment follows the old value: keep it on the key's line.
                    self.splice(start..end, String::new());
                    self.splice(line_end..line_end, body);
                }
            }
            Place::BlockValue(key) if span.is_empty() => {
                let colon = self.colon_after(key)?;
                let value = self.inline(intended, like);
                let start = self.value_start(original, intended, colon);
                self.splice(start..span.end.max(start), format!(" {value}"));
            }
            _ => {
                let mut value = self.inline(intended, like);
                // An empty value right after its anchor or tag (`{a: &x , b}`) is written
                // apart from it, or it would lengthen the anchor's name.
                let after_properties = span.is_empty()
                    && self.text.source[..span.start].ends_with(|c: char| !c.is_whitespace());
                if after_properties && original.properties_start.is_some() {
                    value.insert(0, ' ');
                }
                let (end, padding) = self.comment_padding(span.end, span.len(), value.len());
                self.splice(span.start..end, value + &padding);
            }
        }
        Ok(())
    }

    /// Where the text replacing the block value `original` (after the `:` ending at `colon`)
    /// starts: after its anchor or tag when `intended` keeps them (`key: &a {}`, `key: &a`
    /// with no value), else right after the colon.
    fn value_start(&self, original: &Node<'_>, intended: &Node<'_>, colon: usize) -> usize {
        let keeps_properties = intended.anchor != 0 || intended.tag.is_some();
        match (original.properties_start, &original.span) {
            (Some(_), Some(span)) if keeps_properties => {
                colon.max(self.text.source[..span.start].trim_end().len())
            }
            _ => colon,
        }
    }

    /// Keeps a comment that was aligned after a value in its column when the value changes
    /// length: returns how far the replacement extends and the blanks it ends with. A comment
    /// one space away, or none, is left as it is.
    fn comment_padding(&self, end: usize, old_len: usize, new_len: usize) -> (usize, String) {
        let rest = &self.text.source[end..self.text.line_end(end)];
        let blanks = leading_spaces(rest);
        if blanks > 1 && rest[blanks..].starts_with('#') {
            let kept = (blanks + old_len).saturating_sub(new_len).max(1);
            (end + blanks, " ".repeat(kept))
        } else {
            (end, String::new())
        }
    }

    /// Where lines for a new last entry or item of a block collection, written at `column`, go:
    /// at the end of the line where its current last one ends, or after the comment lines that
    /// follow it indented deeper than `column`, which belong to the content above. When that
    /// line is being removed, at the end of the last line kept before it. A block scalar that
    /// ends the text without a line break would gain one (and change value), so that case is
    /// refused.
    fn block_insertion_point(&self, last: &Node<'_>, column: usize) -> Result<usize, RenderError> {
        let at = self.text.line_end(last.end());
        let mut kept = at;
        while let Some(removal) =
            self.find_removal(|r| r.start <= kept && kept < r.end && r.start > 0)
        {
            kept = self
                .text
                .line_end(self.text.line_start(self.out[removal].range.start - 1));
        }
        if kept != at {
            return Ok(kept);
        }
        let mut leaf = last;
        while let Some(child) = leaf
            .entries()
            .and_then(|e| e.last().map(|(_, v)| v))
            .or_else(|| leaf.items().and_then(<[_]>::last))
        {
            leaf = child;
        }
        let ends_text_unterminated =
            at == self.text.source.len() && !self.text.source.ends_with('\n');
        if ends_text_unterminated
            && matches!(
                leaf.kind,
                NodeKind::Scalar {
                    style: ScalarStyle::Literal | ScalarStyle::Folded,
                    ..
                }
            )
        {
            return Err(RenderError(
                "cannot add lines after a block scalar that ends the file without a line break; add the final line break first".into(),
            ));
        }
        let mut after_comments = at;
        let mut line_start = self.text.next_line_start(at);
        while line_start < self.text.source.len() {
            let line_end = self.text.line_end(line_start);
            let line = &self.text.source[line_start..line_end];
            let content = line.trim_start_matches([' ', '\t']);
            if content.starts_with('#') && line.len() - content.len() > column {
                after_comments = line_end;
            } else if !content.is_empty() {
                break;
            }
            line_start = self.text.next_line_start(line_end);
        }
        Ok(after_comments)
    }

    /// Refuses to lay out entries around a block mapping key written explicitly (`? key`, its
    /// value after a `:` on a line of its own), whose place is not a plain key's. Comments and
    /// line breaks may stand between the `?` and its key; a `?` ending the line before a key
    /// that follows no indicator is a scalar's.
    fn refuse_explicit_key(&self, key: &Node<'_>) -> Result<(), RenderError> {
        let explicit = indicator_before(self.text, key.full_start(), '?').is_some_and(|at| {
            let line = &self.text.source[self.text.line_start(at)..at];
            line.trim_matches([' ', '\t', '-', '?']).is_empty()
        });
        if explicit {
            return Err(RenderError(
                "the mapping holds an explicit key (`? key`), around which kubeharden does not add or remove entries; write it as `key: value`".into(),
            ));
        }
        Ok(())
    }

    /// The offset just past the `:` that follows `key`.
    fn colon_after(&self, key: &Node<'_>) -> Result<usize, RenderError> {
        let rest = &self.text.source[key.end()..];
        let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[skipped..].starts_with(':') {
            Ok(key.end() + skipped + 1)
        } else {
            Err(RenderError("the key's `:` is not on its line".into()))
        }
    }

    /// Writes to `out` the value after `key:` in a block mapping whose key sits at
    /// `key_column`: a line break and nested lines for a non-empty collection, ` value`
    /// otherwise. Nested keys are quoted in `key_style` when given.
    fn block_body(
        &self,
        out: &mut String,
        value: &Node<'_>,
        key_column: usize,
        key_style: Option<ScalarStyle>,
    ) {
        match &value.kind {
            NodeKind::Mapping { entries, .. } if !entries.is_empty() => {
                let column = key_column + self.layout.indent;
                for (k, v) in entries {
                    self.new_line(out, column);
                    self.block_entry(out, k, v, column, key_style);
                }
            }
            NodeKind::Sequence { items, .. } if !items.is_empty() => {
                let dash = if self.layout.indentless_sequences {
                    key_column
                } else {
                    key_column + self.layout.indent
                };
                for item in items {
                    self.new_line(out, dash);
                    self.block_item(out, item, dash, key_style);
                }
            }
            _ => {
                out.push(' ');
                out.push_str(&self.inline(value, None));
            }
        }
    }

    /// Writes a line break and the blanks up to `column`.
    fn new_line(&self, out: &mut String, column: usize) {
        out.push_str(self.layout.line_break);
        indent(out, column);
    }

    /// Writes `key: value` for a key at `column`, nested lines included, from the key on:
    /// the blanks before the key and the line break after the last line are the caller's.
    fn block_entry(
        &self,
        out: &mut String,
        key: &Node<'_>,
        value: &Node<'_>,
        column: usize,
        key_style: Option<ScalarStyle>,
    ) {
        out.push_str(&self.inline(key, key_style.or(Some(ScalarStyle::Plain))));
        out.push(':');
        self.block_body(out, value, column, key_style);
    }

    /// Writes a new `key: value` for a block mapping whose entries were `beside`, like
    /// [`Self::block_entry`]; but a list of scalars beside a flow list (`add: [X]`) is written
    /// the same way. A list of mappings (`volumeMounts`) stays in block style.
    fn new_block_entry(
        &self,
        out: &mut String,
        (key, value): (&Node<'_>, &Node<'_>),
        column: usize,
        key_style: Option<ScalarStyle>,
        beside: &[(Node<'_>, Node<'_>)],
    ) {
        let flow_lists = beside.iter().any(|(_, v)| {
            matches!(
                v.kind,
                NodeKind::Sequence {
                    style: CollectionStyle::Flow,
                    ..
                }
            )
        });
        let scalars = value.items().is_some_and(|items| {
            items
                .iter()
                .all(|i| matches!(i.kind, NodeKind::Scalar { .. }))
        });
        if flow_lists && scalars {
            out.push_str(&self.inline(key, key_style.or(Some(ScalarStyle::Plain))));
            out.push_str(": ");
            out.push_str(&self.inline(value, None));
        } else {
            self.block_entry(out, key, value, column, key_style);
        }
    }

    /// Writes `- item` for a dash at column `dash`, from the dash on, like
    /// [`Self::block_entry`]. The keys of a mapping item are quoted in `key_style` when given.
    fn block_item(
        &self,
        out: &mut String,
        item: &Node<'_>,
        dash: usize,
        key_style: Option<ScalarStyle>,
    ) {
        out.push_str("- ");
        match &item.kind {
            NodeKind::Mapping { entries, .. } if !entries.is_empty() => {
                let content = dash + 2;
                for (n, (k, v)) in entries.iter().enumerate() {
                    if n > 0 {
                        self.new_line(out, content);
                    }
                    self.block_entry(out, k, v, content, key_style);
                }
            }
            _ => out.push_str(&self.inline(item, None)),
        }
    }
    /// A value on one line: a scalar, or a flow collection.
    fn inline(&self, node: &Node<'_>, like: Option<ScalarStyle>) -> String {
        match &node.kind {
            NodeKind::Scalar { value, style } => {
                scalar(value, *style != ScalarStyle::Plain, like, self.layout.json)
            }
            NodeKind::Mapping { entries, .. } => {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}:{}{}",
                            self.inline(k, Some(ScalarStyle::Plain)),
                            self.layout.flow_space,
                            self.inline(v, None)
                        )
                    })
                    .collect();
                format!(
                    "{{{}}}",
                    parts.join(&format!(",{}", self.layout.flow_space))
                )
            }
            NodeKind::Sequence { items, .. } => {
                let parts: Vec<String> = items.iter().map(|i| self.inline(i, None)).collect();
                format!("[{}]", parts.join(&format!(",{}", self.layout.flow_space)))
            }
            NodeKind::Alias(_) => String::new(),
        }
    }

    fn insert_entries(
        &mut self,
        mapping: &Node<'_>,
        style: CollectionStyle,
        old: &[(Node<'_>, Node<'_>)],
        added: &[(&Node<'_>, &Node<'_>)],
        place: Place<'_, '_>,
    ) -> Result<(), RenderError> {
        let Some((first_key, _)) = old.first() else {
            // `key: {}` receives its first entries.
            let mut filled = Node::new(NodeKind::Mapping {
                style,
                entries: added
                    .iter()
                    .map(|(k, v)| ((*k).clone(), (*v).clone()))
                    .collect(),
            });
            // `key: &anchor !!tag {}` keeps its properties.
            filled.anchor = mapping.anchor;
            filled.tag = mapping.tag.clone();
            let mut original = mapping.clone();
            original.kind = NodeKind::Scalar {
                value: "".into(),
                style: ScalarStyle::Plain,
            };
            original.tag = None;
            return self.replace(&original, &filled, place);
        };
        let key_style = quoted_style(first_key);
        let last_end = old.last().map_or(0, |(_, v)| v.end());
        let column = self.text.column(first_key.full_start());
        match style {
            CollectionStyle::Block => {
                // `? key` puts the key two columns right of where new keys belong.
                self.refuse_explicit_key(first_key)?;
                let at = self.block_insertion_point(&old[old.len() - 1].1, column)?;
                self.unterminated_removal_takes_its_line_break(at);
                let mut text = String::new();
                for &entry in added {
                    self.new_line(&mut text, column);
                    self.new_block_entry(&mut text, entry, column, key_style, old);
                }
                self.splice(at..at, text);
            }
            CollectionStyle::Flow => {
                let open = mapping.span.as_ref().map_or(0, |s| s.start);
                let multiline =
                    self.text.line_index(open) != self.text.line_index(first_key.full_start());
                let line_end = self.text.line_end(last_end);
                let comment_follows = multiline
                    && self.text.source[last_end..line_end]
                        .trim_start()
                        .starts_with('#');
                let text: String = added
                    .iter()
                    .map(|(k, v)| {
                        let entry = format!(
                            "{}:{}{}",
                            self.inline(k, key_style.or(Some(ScalarStyle::Plain))),
                            self.layout.flow_space,
                            self.inline(v, None)
                        );
                        if multiline {
                            format!(",{}{}{entry}", self.layout.line_break, " ".repeat(column))
                        } else {
                            format!(",{}{entry}", self.layout.flow_space)
                        }
                    })
                    .collect();
                if comment_follows {
                    // The comment ending the last entry's line stays there: the `,` goes
                    // after the entry, the new entries on lines of their own after the comment.
                    // An aligned comment keeps its column: the `,` takes one of its blanks.
                    let rest = &self.text.source[last_end..line_end];
                    let blanks = leading_spaces(rest);
                    let replaced = self
                        .out
                        .iter_mut()
                        .find(|s| s.range.start < last_end && s.range.end >= last_end);
                    match replaced {
                        // The last value was rewritten, maybe padded up to the comment.
                        Some(splice) => {
                            let value_len = splice.text.trim_end_matches(' ').len();
                            let padding = splice.text.len() - value_len;
                            splice.text.truncate(value_len);
                            splice.text.push(',');
                            if splice.range.end > last_end {
                                splice
                                    .text
                                    .push_str(&" ".repeat(padding.saturating_sub(1).max(1)));
                            }
                        }
                        None if blanks > 1 => self.splice(last_end..last_end + 1, ",".to_owned()),
                        None => self.splice(last_end..last_end, ",".to_owned()),
                    }
                    self.splice(line_end..line_end, text[1..].to_owned());
                } else {
                    self.splice(last_end..last_end, text);
                }
            }
        }
        Ok(())
    }

    fn append_items(
        &mut self,
        sequence: &Node<'_>,
        style: CollectionStyle,
        old: &[Node<'_>],
        added: &[&Node<'_>],
        place: Place<'_, '_>,
    ) -> Result<(), RenderError> {
        let Some(last) = old.last() else {
            if style == CollectionStyle::Flow {
                // `[]` stays a flow list.
                let text: Vec<String> = added.iter().map(|i| self.inline(i, None)).collect();
                let close = sequence.end() - 1;
                self.splice(
                    close..close,
                    text.join(&format!(",{}", self.layout.flow_space)),
                );
                return Ok(());
            }
            let mut filled = Node::new(NodeKind::Sequence {
                style,
                items: added.iter().map(|i| (*i).clone()).collect(),
            });
            filled.anchor = sequence.anchor;
            filled.tag = sequence.tag.clone();
            let mut original = sequence.clone();
            original.kind = NodeKind::Scalar {
                value: "".into(),
                style: ScalarStyle::Plain,
            };
            original.tag = None;
            return self.replace(&original, &filled, place);
        };
        match style {
            CollectionStyle::Block => {
                let dash = item_dash(self.text, last).ok_or_else(|| {
                    RenderError("cannot find the `-` of the list's last item".into())
                })?;
                let column = self.text.column(dash);
                let at = self.block_insertion_point(last, column)?;
                self.unterminated_removal_takes_its_line_break(at);
                // Keys are quoted like those of the last item.
                let key_style = last
                    .entries()
                    .and_then(|e| e.first())
                    .and_then(|(k, _)| quoted_style(k));
                let mut text = String::new();
                for item in added {
                    self.new_line(&mut text, column);
                    self.block_item(&mut text, item, column, key_style);
                }
                self.splice(at..at, text);
            }
            CollectionStyle::Flow => {
                // In a list spread over several lines (pretty-printed JSON), each new item goes
                // on a line of its own, lined up with the first; a comment ending the last
                // item's line stays there, the `,` before it.
                let open = sequence.span.as_ref().map_or(0, |s| s.start);
                let first = old[0].full_start();
                let multiline = self.text.line_index(open) != self.text.line_index(first);
                let separator = if multiline {
                    format!(
                        "{}{}",
                        self.layout.line_break,
                        " ".repeat(self.text.column(first))
                    )
                } else {
                    self.layout.flow_space.to_string()
                };
                let text: String = added
                    .iter()
                    .map(|i| format!(",{separator}{}", self.inline(i, None)))
                    .collect();
                let last_end = last.end();
                let line_end = self.text.line_end(last_end);
                let rest = &self.text.source[last_end..line_end];
                if multiline && rest.trim_start().starts_with('#') {
                    let blanks = leading_spaces(rest);
                    if blanks > 1 {
                        // An aligned comment keeps its column: the `,` takes one of its blanks.
                        self.splice(last_end..last_end + 1, ",".to_owned());
                    } else {
                        self.splice(last_end..last_end, ",".to_owned());
                    }
                    self.splice(line_end..line_end, text[1..].to_owned());
                } else {
                    self.splice(last_end..last_end, text);
                }
            }
        }
        Ok(())
    }

    /// When lines removed up to the end of a text without a final line break are followed by
    /// lines written at `at`, that end: the line break before the removed lines goes with
    /// them, so that the new lines end the text the way the old ones did, no blank line between.
    fn unterminated_removal_takes_its_line_break(&mut self, at: usize) {
        let source = self.text.source;
        if at != source.len() || source.ends_with('\n') {
            return;
        }
        let line_break = self.layout.line_break;
        // The first of the neighbouring removals that run to the end.
        let mut end = at;
        let mut first = None;
        while let Some(i) = self.find_removal(|r| r.end == end && r.start < end) {
            first = Some(i);
            end = self.out[i].range.start;
        }
        if let Some(i) = first
            && end > line_break.len()
            && source[..end].ends_with(line_break)
        {
            self.out[i].range.start -= line_break.len();
        }
    }

    /// Removes entry `i` of a block mapping.
    fn remove_block_entry(
        &mut self,
        old: &[(Node<'_>, Node<'_>)],
        i: usize,
    ) -> Result<(), RenderError> {
        let (key, value) = &old[i];
        self.refuse_explicit_key(key)?;
        let start = key.full_start();
        let range = if self.text.starts_line(start) {
            let after = i.checked_sub(1).map(|p| old[p].1.end());
            self.attached_comments_start(start, after)..self.text.next_line_start(value.end())
        } else {
            match old.get(i + 1) {
                // `- key: value` followed by more keys: the next key moves up after the dash.
                Some((next, _)) => start..next.full_start(),
                None => {
                    return Err(RenderError(
                        "cannot remove a key that shares its line".into(),
                    ));
                }
            }
        };
        self.splice(range, String::new());
        Ok(())
    }

    /// Removes item `i` of a block sequence.
    fn remove_block_item(&mut self, old: &[Node<'_>], i: usize) -> Result<(), RenderError> {
        let dash = item_dash(self.text, &old[i])
            .filter(|&d| self.text.starts_line(d))
            .ok_or_else(|| RenderError("cannot remove a list item that shares its line".into()))?;
        let after = i.checked_sub(1).map(|p| old[p].end());
        let range =
            self.attached_comments_start(dash, after)..self.text.next_line_start(old[i].end());
        self.splice(range, String::new());
        Ok(())
    }

    /// Where the lines of an entry or item that starts its line at `start` begin, counting the
    /// comment lines right above it at its column, after `after`, the end of the previous
    /// sibling (no blank line between): they describe it and go when it goes. The first entry
    /// claims none, since a comment there may describe the whole collection; nor are
    /// commented-out entries (`# - x`, `# key: x`) or kubeharden's own comments claimed.
    fn attached_comments_start(&self, start: usize, after: Option<usize>) -> usize {
        let column = self.text.column(start);
        let mut first = self.text.line_start(start);
        let Some(after) = after else {
            return first;
        };
        while first > after {
            let above = self.text.line_start(first - 1);
            let line = &self.text.source[above..first];
            let body = line.trim_start_matches([' ', '\t']);
            let Some(words) = body.strip_prefix('#').map(str::trim) else {
                break;
            };
            let looks_like_yaml = words.starts_with("- ")
                || words
                    .split_once(": ")
                    .is_some_and(|(k, _)| !k.contains(' '))
                || words.ends_with(':');
            if above < after
                || line.len() - body.len() != column
                || looks_like_yaml
                || words.starts_with("kubeharden:")
            {
                break;
            }
            first = above;
        }
        first
    }

    /// Cuts the items `removed` (sorted indexes) of a flow collection whose items span `items`,
    /// with one separating comma for each run of neighbouring items: up to the next item that
    /// stays, or from the previous one for a run that ends the collection.
    fn remove_flow_items(&mut self, items: Vec<Range<usize>>, removed: &[usize]) {
        let mut at = 0;
        while at < removed.len() {
            let first = removed[at];
            let mut last = first;
            while removed.get(at + 1) == Some(&(last + 1)) {
                at += 1;
                last += 1;
            }
            at += 1;
            let range = match (items.get(last + 1), first.checked_sub(1).map(|p| &items[p])) {
                (Some(next), _) => items[first].start..next.start,
                (None, Some(previous)) => previous.end..items[last].end,
                (None, None) => items[first].start..items[last].end,
            };
            self.splice(range, String::new());
        }
    }

    /// Writes `added` in place of every entry of the mapping `original` (`old`): the entries all
    /// go and new ones come. A block mapping's lines, from its first key to the end of the line
    /// of its last value, are rewritten, as removing them would (comments on them go with the
    /// entries they describe); in a flow mapping, the text from the first key to the last value.
    fn replace_entries(
        &mut self,
        original: &Node<'_>,
        style: CollectionStyle,
        old: &[(Node<'_>, Node<'_>)],
        added: &[(&Node<'_>, &Node<'_>)],
    ) -> Result<(), RenderError> {
        let (Some((first_key, _)), Some((_, last_value))) = (old.first(), old.last()) else {
            return Err(RenderError("no entries to replace".into()));
        };
        match style {
            CollectionStyle::Block => {
                let start = first_key.full_start();
                if !self.text.starts_line(start) {
                    return Err(RenderError(
                        "cannot replace the keys of a mapping that shares its first line".into(),
                    ));
                }
                let column = self.text.column(start);
                let key_style = quoted_style(first_key);
                let mut text = String::new();
                for (n, &entry) in added.iter().enumerate() {
                    if n > 0 {
                        text.push_str(self.layout.line_break);
                    }
                    indent(&mut text, column);
                    self.new_block_entry(&mut text, entry, column, key_style, old);
                }
                let end = self.text.line_end(last_value.end().max(first_key.end()));
                self.splice(start - column..end, text);
            }
            CollectionStyle::Flow => {
                // The entries are written where the old ones were, the braces and what
                // surrounds them kept: one a line, lined up, in a mapping spread over lines.
                let open = original.span.as_ref().map_or(0, |s| s.start);
                let start = first_key.full_start();
                let separator = if self.text.line_index(open) != self.text.line_index(start) {
                    format!(
                        ",{}{}",
                        self.layout.line_break,
                        " ".repeat(self.text.column(start))
                    )
                } else {
                    format!(",{}", self.layout.flow_space)
                };
                let key_style = quoted_style(first_key).or(Some(ScalarStyle::Plain));
                let entries: Vec<String> = added
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}:{}{}",
                            self.inline(k, key_style),
                            self.layout.flow_space,
                            self.inline(v, None)
                        )
                    })
                    .collect();
                let end = last_value.end().max(first_key.end());
                self.splice(start..end, entries.join(&separator));
            }
        }
        Ok(())
    }
}

/// The index of the first of the `len` children of an original collection that `is_it`
/// accepts, trying `expected` (the one after the last found) first: edits keep children in
/// their order, so matching a whole collection is linear in its size, not quadratic. Siblings'
/// spans are distinct, so the one at `expected` is also the first.
fn find_original(len: usize, expected: usize, is_it: impl Fn(usize) -> bool) -> Option<usize> {
    if expected < len && is_it(expected) {
        Some(expected)
    } else {
        (0..len).find(|&i| is_it(i))
    }
}

/// Writes the blanks up to `column` of a line begun.
fn indent(out: &mut String, column: usize) {
    out.extend(std::iter::repeat_n(' ', column));
}

/// The quotes of a quoted scalar, which keys written next to it follow.
fn quoted_style(node: &Node<'_>) -> Option<ScalarStyle> {
    match &node.kind {
        NodeKind::Scalar {
            style: s @ (ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted),
            ..
        } => Some(*s),
        _ => None,
    }
}

fn is_empty_collection(node: &Node<'_>) -> bool {
    node.entries().is_some_and(<[_]>::is_empty) || node.items().is_some_and(<[_]>::is_empty)
}

/// Writes a scalar: a non-string as it is; a string in the quotes of the value it replaces, in
/// double quotes in a JSON-like document, plain where plain reads back as the same string.
fn scalar(value: &str, is_string: bool, like: Option<ScalarStyle>, json: bool) -> String {
    if !is_string {
        return value.to_string();
    }
    match like {
        _ if json => double_quoted(value),
        Some(ScalarStyle::SingleQuoted) => format!("'{}'", value.replace('\'', "''")),
        Some(ScalarStyle::DoubleQuoted) => double_quoted(value),
        _ if plain_is_safe(value) => value.to_string(),
        _ => double_quoted(value),
    }
}

/// `node` as YAML flow text that reads back as the same data, or `None` for aliases and tags.
pub fn flow_text(node: &Node<'_>) -> Option<String> {
    if node.tag.is_some() {
        return None;
    }
    Some(match &node.kind {
        NodeKind::Scalar { value, style } => {
            let simple = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                && !value.starts_with(['-', '.']);
            let meaningful = matches!(
                value.to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
            ) || value.starts_with(|c: char| c.is_ascii_digit());
            // A plain scalar written plain again reads the same, where flow indicators do not
            // cut it; a quoted one, where it cannot read as anything but a string.
            let raw = match style {
                ScalarStyle::Plain => {
                    !value.contains([',', '[', ']', '{', '}', '#', '"', '\'', ':'])
                        && value.trim() == value.as_ref()
                }
                _ => simple && !meaningful,
            };
            if value.is_empty() && *style == ScalarStyle::Plain {
                "null".to_owned()
            } else if raw {
                value.to_string()
            } else {
                double_quoted(value)
            }
        }
        NodeKind::Mapping { entries, .. } => {
            let parts: Option<Vec<String>> = entries
                .iter()
                .map(|(k, v)| Some(format!("{}: {}", flow_text(k)?, flow_text(v)?)))
                .collect();
            format!("{{{}}}", parts?.join(", "))
        }
        NodeKind::Sequence { items, .. } => {
            let parts: Option<Vec<String>> = items.iter().map(flow_text).collect();
            format!("[{}]", parts?.join(", "))
        }
        NodeKind::Alias(_) => return None,
    })
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` written plain is read back as the same string.
fn plain_is_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    // `: ` would start a value, ` #` a comment; looked for in one pass (most values are short,
    // shorter than a substring search takes to set up).
    let ends_or_comments = |pair: &[u8]| pair == b": " || pair == b" #";
    Node::new_scalar(value, false).reads_as_string()
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !value.ends_with([' ', ':'])
        && !value.starts_with(' ')
        && !value.as_bytes().windows(2).any(ends_or_comments)
        && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Text, parse};

    #[test]
    fn the_dash_of_a_block_scalar_item_is_found_before_its_header() {
        let cases = [
            "- >-\n  c\n",
            "- |\n  c\n",
            "-   |2+ # a note > | x\n  c\n",
            "- # above\n  >\n\n  c\n",
            "- &a >-\n  c\n",
            "- |-\n",
            "- |\n  > a quote\n",
            "- >\n  | a table\n",
        ];
        for source in cases {
            let stream = parse(&Text::new(source), false).expect("parses");
            let item = &stream.documents[0].items().expect("a list")[0];
            assert_eq!(item_dash(&Text::new(source), item), Some(0), "{source:?}");
        }
    }

    #[test]
    fn a_string_is_written_plain_only_where_it_reads_back_as_itself() {
        let plain = [
            "nginx", "a:b", "a#b", "/tmp", "web-1", "NET_RAW", "1a", "a-:b",
        ];
        let quoted = [
            "", "yes", "No", "~", "null", "12", "1.5", "0x1F", ".inf", "-1", "a: b", "a #b", " a",
            "a ", "a:", "#a", "*a", "!a", "-x", "a\tb",
        ];
        for value in plain {
            assert!(plain_is_safe(value), "{value:?}");
            let source = format!("k: {value}\n");
            let stream = parse(&Text::new(&source), false).expect("parses");
            let read = stream.documents[0].get("k").expect("the key");
            assert!(read.reads_as_string(), "{value:?}");
            assert_eq!(read.as_str(), Some(value));
        }
        for value in quoted {
            assert!(!plain_is_safe(value), "{value:?}");
        }
    }
}
