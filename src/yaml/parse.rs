//! Builds the document tree from the parser's events, keeping byte spans.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use granit_parser::{Event, Options, Parser, Span, StrInput, StructureStyle, Tag};

use super::comments::CommentScan;
use super::node::{CollectionStyle, Node, NodeKind, ScalarStyle};
use super::text::{Position, Text, block_scalar_header, leading_spaces};

/// How many nodes all aliases of one stream may stand for together before the stream is
/// refused as an alias bomb. Real manifests alias a few dozen nodes at most.
pub(super) const ALIAS_EXPANSION_LIMIT: u64 = 1_000_000;

/// How deeply collections may nest before the input is refused; real manifests stay far below.
const NESTING_LIMIT: usize = 200;

/// A parsed stream of documents over its source text.
#[derive(Debug)]
pub struct Stream<'a> {
    /// The root node of each document, in order; an empty document has a null scalar root.
    pub documents: Vec<Node<'a>>,
    /// The span of every comment, `#` included, in source order (empty for a check re-parse).
    pub comments: Vec<Range<usize>>,
    /// Anchor names by id.
    pub anchor_names: HashMap<usize, String>,
}

/// Why a text could not be read as YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where the problem was found.
    pub position: Position,
    /// What the problem is.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

/// One document of a stream, as [`Reader`] reads it.
#[derive(Debug)]
pub struct Document<'a> {
    /// The root node; an empty document has a null scalar root.
    pub root: Node<'a>,
    /// The span of every comment read since the previous document ended, `#` included, in
    /// source order: those on the document's lines and those between it and the one before.
    pub comments: Vec<Range<usize>>,
    /// The names of the anchors defined in the document, by id (aliases never reach across
    /// documents).
    pub anchor_names: HashMap<usize, String>,
    /// Whether its tree was built. A document that [`Reader::building_only`] refused is read
    /// (parsed for errors, its comments kept) but not built: its root is an empty scalar
    /// spanning it, from its first node to the end of its last.
    pub built: bool,
}

/// Reads the documents of a stream one at a time, so that a caller can handle each and drop it
/// before the next is built: memory then follows the largest document, not the stream.
pub struct Reader<'t, 'a> {
    parser: Parser<'a, StrInput<'a>>,
    builder: Builder<'t, 'a>,
    /// Set once the stream ended or failed: nothing more is read.
    done: bool,
}

impl<'t, 'a> Reader<'t, 'a> {
    /// A reader of `text`. Comments are found when `with_comments` is set; a check re-parse
    /// leaves them out for speed.
    pub fn new(text: &'t Text<'a>, with_comments: bool) -> Self {
        Self::over(text, 0..text.source.len(), with_comments)
    }

    /// A reader of the documents of `text` in `piece` alone, a part of it cut at document
    /// starts; spans and positions are the whole text's. Anchors are numbered from 1.
    pub(super) fn over(text: &'t Text<'a>, piece: Range<usize>, with_comments: bool) -> Self {
        let mut builder = Builder::new(text, piece.start);
        builder.comment_scan = with_comments.then(|| CommentScan::new(piece.clone()));
        Reader {
            parser: Parser::new_from_str_with_options(&text.source[piece], parser_options()),
            builder,
            done: false,
        }
    }

    /// This reader, building the tree of a document only when `keep` accepts the value of its
    /// root's `key` entry: the rest of a refused document is only parsed (for errors, comments
    /// and the alias limit), which costs far less than building what nobody reads. A document
    /// whose root has no such entry, or one that is no plain value, is built.
    pub fn building_only(mut self, key: &'static str, keep: &'t Keep<'t>) -> Self {
        self.builder.filter = Some((key, keep));
        self
    }

    /// How many anchors were defined in what was read.
    pub(super) fn anchors_read(&self) -> usize {
        // The parser numbers anchors from 1.
        self.parser.anchor_offset() - 1
    }

    /// How many nodes the aliases read so far stand for, against the alias-bomb limit.
    pub(super) fn aliased(&self) -> u64 {
        self.builder.aliased_total
    }

    /// The comments after the last document (or of a stream with none), once every document
    /// was read.
    pub fn take_trailing_comments(&mut self) -> Vec<Range<usize>> {
        std::mem::take(&mut self.builder.comments)
    }
}

impl<'a> Iterator for Reader<'_, 'a> {
    type Item = Result<Document<'a>, ParseError>;

    /// The next document, or the error that ends the stream.
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some(event) = self.parser.next() else {
                self.done = true;
                break;
            };
            let accepted = event
                .map_err(|e| {
                    let offset = self.builder.base + e.marker().byte_offset().unwrap_or(0);
                    self.builder.error(offset, e.info())
                })
                .and_then(|(event, span)| {
                    let ends_document = matches!(event, Event::DocumentEnd);
                    self.builder.accept(event, span)?;
                    Ok(ends_document)
                });
            match accepted {
                Ok(true) => {
                    if let Some(document) = self.builder.take_document() {
                        return Some(Ok(document));
                    }
                }
                Ok(false) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}

/// How kubeharden has granit-parser read. Without its comment events, which cost a sixth of
/// its parse: [`CommentScan`] finds the comments between the other events.
fn parser_options() -> Options {
    let mut options = Options::default();
    options.emit_anchor_events = true;
    // Reported by the builder, which names the alias.
    options.emit_unresolved_aliases = true;
    options.flow_nesting_limit = NESTING_LIMIT;
    options.block_nesting_limit = NESTING_LIMIT;
    options.set_emit_comments(false);
    options
}

/// How the text of an edited document, read again, compares with the data it should hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reread {
    /// One document, holding the same data (as [`Node::same_data`] compares).
    Same,
    /// One document, holding other data.
    Differs,
    /// This many documents.
    Documents(usize),
}

/// What a text read again should hold.
#[derive(Clone, Copy)]
pub(crate) enum Want<'n, 'a> {
    /// One document with this root.
    Document(&'n Node<'a>),
    /// One document, started without `---` or a directive, whose root is a block mapping with
    /// no anchor or tag holding these entries: consecutive entries of a mapping, cut out of it.
    Entries(&'n [(Node<'a>, Node<'a>)]),
    /// As [`Want::Entries`], for consecutive items of a block sequence.
    Items(&'n [Node<'a>]),
}

/// Reads `source` again and compares its document with what it should hold, event by event,
/// without building a tree: every edited document is checked, and a second tree as large as
/// the first would double the memory and much of the time of reading. Anchors are numbered
/// from `first_anchor` on, as in the stream the document was cut from. A text that does not
/// parse is an error, whatever it holds.
pub(crate) fn reread<'n, 'a>(
    source: &str,
    first_anchor: Option<usize>,
    want: Want<'n, 'a>,
) -> Result<Reread, ParseError> {
    let mut parser = Parser::new_from_str_with_options(source, parser_options());
    if let Some(first) = first_anchor {
        parser.set_anchor_offset(first);
    }
    let error = |offset: usize, message: String| ParseError {
        position: Text::new(source).position(offset),
        message,
    };
    let mut documents = 0;
    let mut expected: Vec<Expected<'n, 'a>> = Vec::new();
    let mut same = true;
    for event in parser {
        let (event, span) =
            event.map_err(|e| error(e.marker().byte_offset().unwrap_or(0), e.info().to_owned()))?;
        if let Event::UnresolvedAlias(name) = &event {
            let offset = span.byte_range().map_or(0, |r| r.start);
            return Err(error(offset, no_anchor(name)));
        }
        if let Event::DocumentStart(explicit, version) = &event {
            documents += 1;
            expected.push(match want {
                Want::Document(root) => Expected::Root(Some(root)),
                // A part read alone stands for lines inside a document: a `---` or a directive
                // there would start another document in place.
                _ if *explicit || version.is_some() => Expected::Root(None),
                part => Expected::Part(Some(part)),
            });
        }
        // Past a difference or a second document, only errors and documents are counted.
        if !same || documents != 1 {
            continue;
        }
        let next = |expected: &mut Vec<Expected<'n, 'a>>| expected.last_mut()?.next();
        let mapping = matches!(event, Event::MappingStart(..));
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let got = Node {
                    span: None,
                    properties_start: None,
                    anchor,
                    tag: tag_name(tag),
                    kind: NodeKind::Scalar {
                        value,
                        style: scalar_style(style),
                    },
                };
                same = next(&mut expected).is_some_and(|want| got.same_data(want));
            }
            Event::Alias(id) => {
                same = next(&mut expected).is_some_and(|want| {
                    want.anchor == 0
                        && want.tag.is_none()
                        && matches!(want.kind, NodeKind::Alias(a) if a == id)
                });
            }
            Event::MappingStart(style, anchor, tag) | Event::SequenceStart(style, anchor, tag) => {
                let children = match expected.last_mut() {
                    Some(Expected::Part(part)) => part.take().and_then(|part| {
                        let bare = style == StructureStyle::Block && anchor == 0 && tag.is_none();
                        match part {
                            Want::Entries(entries) if bare && mapping => {
                                Some(Expected::Entries(entries, 0))
                            }
                            Want::Items(items) if bare && !mapping => {
                                Some(Expected::Items(items, 0))
                            }
                            _ => None,
                        }
                    }),
                    _ => next(&mut expected)
                        .filter(|want| want.anchor == anchor && want.tag == tag_name(tag))
                        .and_then(|want| match &want.kind {
                            NodeKind::Mapping { entries, .. } if mapping => {
                                Some(Expected::Entries(entries, 0))
                            }
                            NodeKind::Sequence { items, .. } if !mapping => {
                                Some(Expected::Items(items, 0))
                            }
                            _ => None,
                        }),
                };
                match children {
                    Some(children) => expected.push(children),
                    None => same = false,
                }
            }
            Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd => {
                same = expected.pop().is_some_and(|e| e.is_done());
            }
            _ => {}
        }
    }
    Ok(match documents {
        1 if same => Reread::Same,
        1 => Reread::Differs,
        n => Reread::Documents(n),
    })
}

/// What remains to be read of a node of the intended tree, in the order of the events.
enum Expected<'n, 'a> {
    /// A document's root, until read.
    Root(Option<&'n Node<'a>>),
    /// The root of a document read as part of another ([`Want::Entries`], [`Want::Items`]),
    /// until read: only a collection can start it.
    Part(Option<Want<'n, 'a>>),
    /// A mapping's entries, key then value, from the entry and side numbered here.
    Entries(&'n [(Node<'a>, Node<'a>)], usize),
    /// A sequence's items, from the one numbered here.
    Items(&'n [Node<'a>], usize),
}

impl<'n, 'a> Expected<'n, 'a> {
    /// The node the next event should start.
    fn next(&mut self) -> Option<&'n Node<'a>> {
        match self {
            Expected::Root(root) => root.take(),
            Expected::Part(_) => None,
            Expected::Entries(entries, next) => {
                let (key, value) = entries.get(*next / 2)?;
                *next += 1;
                Some(if *next % 2 == 1 { key } else { value })
            }
            Expected::Items(items, next) => {
                let item = items.get(*next)?;
                *next += 1;
                Some(item)
            }
        }
    }

    /// Whether every node was read.
    fn is_done(&self) -> bool {
        match self {
            Expected::Root(root) => root.is_none(),
            Expected::Part(part) => part.is_none(),
            Expected::Entries(entries, next) => *next == entries.len() * 2,
            Expected::Items(items, next) => *next == items.len(),
        }
    }
}

/// Parses every document of `text`. Comments are found when `with_comments` is set; a check
/// re-parse leaves them out for speed.
pub fn parse<'a>(text: &Text<'a>, with_comments: bool) -> Result<Stream<'a>, ParseError> {
    collect(Reader::new(text, with_comments))
}

/// The whole stream that `reader` reads.
fn collect<'a>(mut reader: Reader<'_, 'a>) -> Result<Stream<'a>, ParseError> {
    let mut stream = Stream {
        documents: Vec::new(),
        comments: Vec::new(),
        anchor_names: HashMap::new(),
    };
    for document in reader.by_ref() {
        let document = document?;
        stream.documents.push(document.root);
        stream.comments.extend(document.comments);
        stream.anchor_names.extend(document.anchor_names);
    }
    stream.comments.extend(reader.take_trailing_comments());
    Ok(stream)
}

/// Which values of a root's entry make [`Reader::building_only`] build the document.
pub type Keep<'k> = dyn Fn(&str) -> bool + Sync + 'k;

/// A document read without building its tree, as far as it was read.
struct Unbuilt {
    /// From where its root starts to where its last node read so far ends.
    span: Range<usize>,
    /// The anchor of each open collection, and how many nodes it stands for with aliases
    /// expanded so far (for the alias-bomb limit, as when building).
    open: Vec<(usize, u64)>,
}

/// A collection being built; its children wait on the builder's `children` until it closes.
struct Frame<'a> {
    node: Node<'a>,
    /// Where the collection's start event pointed (the opening bracket of a flow collection).
    start: usize,
    /// Where the collection's children start in the builder's `children`: keys and values in
    /// turn for a mapping, so an odd count means a key waits for its value.
    first_child: usize,
    /// How many nodes the collection stands for with aliases expanded.
    expanded: u64,
}

struct Builder<'t, 'a> {
    text: &'t Text<'a>,
    /// Where in the text the parser's input starts: its offsets are relative to it.
    base: usize,
    stack: Vec<Frame<'a>>,
    /// The children of every open collection, innermost last: one buffer for all of them, so
    /// that each collection gets its children in one allocation of the right size when it
    /// closes rather than by growing its own vector.
    children: Vec<Node<'a>>,
    /// The root of the document being read, once complete.
    root: Option<Node<'a>>,
    /// Which documents to build (see [`Reader::building_only`]).
    filter: Option<(&'static str, &'t Keep<'t>)>,
    /// The document being read without its tree, once the filter refused it.
    unbuilt: Option<Unbuilt>,
    /// Finds the comments between the events, when they are wanted.
    comment_scan: Option<CommentScan>,
    /// The comments and anchor names read since the last document was taken.
    comments: Vec<Range<usize>>,
    anchor_names: HashMap<usize, String>,
    /// Expanded size of each anchored node, for alias-bomb accounting.
    anchor_sizes: HashMap<usize, u64>,
    aliased_total: u64,
}

impl<'t, 'a> Builder<'t, 'a> {
    fn new(text: &'t Text<'a>, base: usize) -> Self {
        Builder {
            text,
            base,
            stack: Vec::new(),
            children: Vec::new(),
            root: None,
            filter: None,
            unbuilt: None,
            comment_scan: None,
            comments: Vec::new(),
            anchor_names: HashMap::new(),
            anchor_sizes: HashMap::new(),
            aliased_total: 0,
        }
    }

    /// Where a block scalar's content really lies: its span runs on over the next line's
    /// indentation. A clipped or stripped scalar ends with its last content line (see
    /// [`content_end`]), and one with no content spans its header (`|2`): the parser's span
    /// would start on the next line, which may belong to another node. A keep-chomped one
    /// (`|+`, `>+`) owns the blank lines after its last character, since its value keeps their
    /// line breaks: it ends before the last line break of those lines (the parser's span stops
    /// short of them when the scalar has no content). Blank lines that end the text without a
    /// line break count as the parser counts them: kept by a scalar with no content, not by one
    /// with some.
    fn block_scalar_span(&self, range: Range<usize>, value: &str) -> Range<usize> {
        let source = self.text.source;
        // With no content, the parser's span is the header itself, or starts past the blank
        // lines after it.
        let no_content = value.bytes().all(|b| b == b'\n');
        let header_start = match no_content && source[range.start..].starts_with(['|', '>']) {
            true => Some(range.start),
            false => block_scalar_header(source, range.start),
        };
        let header = header_start.map_or("", |h| {
            let rest = &source[h..];
            &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())]
        });
        let empty_header = header_start
            .filter(|_| no_content)
            .map(|h| h..h + header.len());
        let written = empty_header
            .clone()
            .unwrap_or_else(|| range.start..content_end(source, range, value));
        if !header.contains('+') {
            return written;
        }
        let after = &source[written.end..];
        let blank = &after[..after.len() - after.trim_start_matches([' ', '\t', '\r', '\n']).len()];
        let ends_text_unterminated =
            blank.len() == after.len() && !blank.is_empty() && !blank.ends_with('\n');
        let end = match blank.rfind('\n') {
            _ if ends_text_unterminated && empty_header.is_some() => source.len(),
            Some(last_break) => {
                let kept = &blank[..last_break];
                written.end + kept.strip_suffix('\r').unwrap_or(kept).len()
            }
            None => written.end,
        };
        written.start..end
    }

    fn error(&self, offset: usize, message: String) -> ParseError {
        ParseError {
            position: self.text.position(offset),
            message,
        }
    }

    fn accept(&mut self, event: Event<'a>, span: Span) -> Result<(), ParseError> {
        let range = span
            .byte_range()
            .map_or(0..0, |r| self.base + r.start..self.base + r.end);
        if let Some(scan) = &mut self.comment_scan {
            scan.before(self.text.source, &event, range.clone(), &mut self.comments);
        }
        if self.unbuilt.is_some() {
            return self.accept_unbuilt(event, range);
        }
        let tag_start = span
            .tag_start
            .and_then(|m| m.byte_offset())
            .map(|offset| self.base + offset);
        match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(..)
            | Event::DocumentEnd => {}
            Event::Anchor(id, name) => {
                self.anchor_names.insert(id, name.into_owned());
                self.note_properties_start(range.start);
            }
            Event::Scalar(value, style, anchor, tag) => {
                let style = scalar_style(style);
                let span = if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    self.block_scalar_span(range.clone(), &value)
                } else {
                    range.clone()
                };
                let node = Node {
                    span: Some(span),
                    properties_start: tag_start,
                    anchor,
                    tag: tag_name(tag),
                    kind: NodeKind::Scalar { value, style },
                };
                self.complete(node, 1);
            }
            Event::Alias(id) => {
                let size = self.expand_alias(id, range.start)?;
                let node = Node {
                    span: Some(range),
                    properties_start: None,
                    anchor: 0,
                    tag: None,
                    kind: NodeKind::Alias(id),
                };
                self.complete(node, size);
            }
            Event::MappingStart(style, anchor, tag) => {
                let style = collection_style(style);
                self.open(
                    NodeKind::Mapping {
                        style,
                        entries: Vec::new(),
                    },
                    range.start,
                    tag_start,
                    anchor,
                    tag,
                );
            }
            Event::SequenceStart(style, anchor, tag) => {
                let style = collection_style(style);
                self.open(
                    NodeKind::Sequence {
                        style,
                        items: Vec::new(),
                    },
                    range.start,
                    tag_start,
                    anchor,
                    tag,
                );
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(range.end),
            Event::UnresolvedAlias(name) => {
                return Err(self.error(range.start, no_anchor(&name)));
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts what alias `id`, at `offset`, stands for against the alias-bomb limit: its size.
    fn expand_alias(&mut self, id: usize, offset: usize) -> Result<u64, ParseError> {
        let size = self.anchor_sizes.get(&id).copied().unwrap_or(1);
        self.aliased_total = self.aliased_total.saturating_add(size);
        if self.aliased_total > ALIAS_EXPANSION_LIMIT {
            return Err(self.error(
                offset,
                format!(
                    "aliases expand to more than {ALIAS_EXPANSION_LIMIT} nodes; refusing what looks like an alias bomb"
                ),
            ));
        }
        Ok(size)
    }

    /// Reads an event of a document whose tree is not built: nodes are only counted for the
    /// alias limit and their ends noted, until the document ends.
    fn accept_unbuilt(&mut self, event: Event<'a>, range: Range<usize>) -> Result<(), ParseError> {
        let (anchor, expanded, end) = match event {
            // The document is taken as it is (`take_document`).
            Event::DocumentEnd => return Ok(()),
            Event::UnresolvedAlias(name) => {
                return Err(self.error(range.start, no_anchor(&name)));
            }
            Event::Scalar(value, style, anchor, _) => {
                let end = match scalar_style(style) {
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        self.block_scalar_span(range, &value).end
                    }
                    _ => range.end,
                };
                (anchor, 1, Some(end))
            }
            Event::Alias(id) => (0, self.expand_alias(id, range.start)?, Some(range.end)),
            Event::MappingStart(_, anchor, _) | Event::SequenceStart(_, anchor, _) => {
                if let Some(unbuilt) = &mut self.unbuilt {
                    unbuilt.open.push((anchor, 1));
                }
                return Ok(());
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some((anchor, expanded)) = self.unbuilt.as_mut().and_then(|u| u.open.pop())
                else {
                    return Ok(());
                };
                // A block collection's end event points at what follows it; its last node
                // ended it already.
                (anchor, expanded, None)
            }
            _ => return Ok(()),
        };
        if anchor != 0 {
            self.anchor_sizes.insert(anchor, expanded);
        }
        if let Some(unbuilt) = &mut self.unbuilt {
            if let Some(end) = end {
                unbuilt.span.end = unbuilt.span.end.max(end);
            }
            if let Some((_, open)) = unbuilt.open.last_mut() {
                *open = open.saturating_add(expanded);
            }
        }
        Ok(())
    }

    fn open(
        &mut self,
        kind: NodeKind<'a>,
        start: usize,
        tag_start: Option<usize>,
        anchor: usize,
        tag: Option<Cow<'a, Tag>>,
    ) {
        let node = Node {
            span: None,
            properties_start: tag_start,
            anchor,
            tag: tag_name(tag),
            kind,
        };
        self.stack.push(Frame {
            node,
            start,
            first_child: self.children.len(),
            expanded: 1,
        });
    }

    /// Finishes the innermost collection; `end` is where its end event's span ends, which for a
    /// flow collection is just past the closing bracket.
    fn close(&mut self, end: usize) {
        let Some(mut frame) = self.stack.pop() else {
            return;
        };
        self.take_children(&mut frame);
        let span = match &frame.node.kind {
            NodeKind::Mapping {
                style: CollectionStyle::Flow,
                ..
            }
            | NodeKind::Sequence {
                style: CollectionStyle::Flow,
                ..
            } => frame.start..end,
            NodeKind::Mapping { entries, .. } => {
                let first = entries
                    .first()
                    .map(|(k, _)| k.full_start())
                    .unwrap_or(frame.start);
                let last = entries.last().map(|(_, v)| v.end()).unwrap_or(frame.start);
                first.min(frame.start)..last
            }
            NodeKind::Sequence { items, .. } => {
                let last = items.last().map(Node::end).unwrap_or(frame.start);
                frame.start..last
            }
            _ => frame.start..end,
        };
        frame.node.span = Some(span);
        let expanded = frame.expanded;
        self.complete(frame.node, expanded);
    }

    /// Moves the children of the collection of `frame`, its last ones, from the buffer into
    /// the collection, in one allocation of their number.
    fn take_children(&mut self, frame: &mut Frame<'a>) {
        let mut children = self.children.drain(frame.first_child..);
        match &mut frame.node.kind {
            NodeKind::Mapping { entries, .. } => {
                entries.reserve_exact(children.len() / 2);
                while let (Some(key), Some(value)) = (children.next(), children.next()) {
                    entries.push((key, value));
                }
            }
            NodeKind::Sequence { items, .. } => items.extend(children),
            _ => {}
        }
    }

    /// Records an anchor's position as the start of the most recent node's properties: the
    /// parser reports the anchor after the node it belongs to.
    fn note_properties_start(&mut self, offset: usize) {
        let target = match self.stack.last_mut() {
            None => self.root.as_mut(),
            Some(frame) if frame.first_child == self.children.len() => Some(&mut frame.node),
            Some(_) => self.children.last_mut(),
        };
        if let Some(node) = target {
            let start = node.properties_start.map_or(offset, |s| s.min(offset));
            node.properties_start = Some(start);
        }
    }

    fn complete(&mut self, mut node: Node<'a>, expanded: u64) {
        if node.anchor != 0 {
            self.anchor_sizes.insert(node.anchor, expanded);
        }
        let source = self.text.source;
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        frame.expanded = frame.expanded.saturating_add(expanded);
        let is_value = (self.children.len() - frame.first_child) % 2 == 1;
        if self.stack.len() == 1 && is_value && self.refuses(&node) {
            self.stop_building(node.end());
            return;
        }
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        if let NodeKind::Mapping {
            style: CollectionStyle::Block,
            ..
        } = frame.node.kind
            && is_value
            && let Some(key) = self.children.last()
        {
            place_missing_value(source, key, &mut node);
        }
        self.children.push(node);
    }

    /// Whether the filter refuses the document whose root mapping gets `value` for its last
    /// key.
    fn refuses(&self, value: &Node<'_>) -> bool {
        let (Some((key, keep)), Some(frame)) = (self.filter, self.stack.first()) else {
            return false;
        };
        matches!(frame.node.kind, NodeKind::Mapping { .. })
            && self.children.last().and_then(Node::as_str) == Some(key)
            && value.as_str().is_some_and(|v| !keep(v))
    }

    /// Drops what was built of the document (its root mapping, the only open collection) and
    /// reads the rest of it without a tree; the last node read ends at `end`.
    fn stop_building(&mut self, end: usize) {
        let Some(root) = self.stack.pop() else {
            return;
        };
        let start = self.children[root.first_child..]
            .first()
            .map_or(root.start, |key| key.full_start().min(root.start));
        self.children.truncate(root.first_child);
        self.unbuilt = Some(Unbuilt {
            span: start..end,
            open: vec![(root.node.anchor, root.expanded)],
        });
    }

    /// The document just ended, with the comments and anchor names read since the last one.
    /// One read without its tree gets an empty scalar spanning it for its root.
    fn take_document(&mut self) -> Option<Document<'a>> {
        let (root, built) = match self.unbuilt.take() {
            Some(unbuilt) => {
                let root = Node {
                    span: Some(unbuilt.span),
                    properties_start: None,
                    anchor: 0,
                    tag: None,
                    kind: NodeKind::Scalar {
                        value: Cow::Borrowed(""),
                        style: ScalarStyle::Plain,
                    },
                };
                (root, false)
            }
            None => (self.root.take()?, true),
        };
        Some(Document {
            root,
            comments: std::mem::take(&mut self.comments),
            anchor_names: std::mem::take(&mut self.anchor_names),
            built,
        })
    }
}

/// A block mapping key written `? key` with no `:` after it has an empty value, which the parser
/// reports where it noticed the value missing: the next key, the end of the text, past the
/// lines of the key and any comment or blank line after it. That empty value is put right after
/// its key instead, so that the entry, and a mapping it ends, end where the key does (edits
/// after it are written there). A value after a `:` (the next thing after the key, blanks and
/// comments aside) is left where the parser put it.
fn place_missing_value(source: &str, key: &Node<'_>, value: &mut Node<'_>) {
    let is_scalar = matches!(value.kind, NodeKind::Scalar { .. });
    let Some(span) = value.span.as_mut() else {
        return;
    };
    // A key that itself ends with an empty value (`? a:`) ends where the parser put that
    // value: at its `:`, which is the key's own, not the one a value would follow.
    let innermost = std::iter::successors(Some(key), |node| match &node.kind {
        NodeKind::Mapping { entries, .. } => entries.last().map(|(_, v)| v),
        NodeKind::Sequence { items, .. } => items.last(),
        _ => None,
    })
    .last()
    .unwrap_or(key);
    let key_end = match innermost.span.as_ref() {
        Some(last)
            if last.is_empty() && source.get(last.start..).is_some_and(|r| r.starts_with(':')) =>
        {
            last.start + 1
        }
        _ => key.end(),
    };
    // Only a missing value has no text: a zero-width scalar.
    if is_scalar
        && span.start == span.end
        && value.properties_start.is_none()
        && span.start > key_end
        && !colon_follows(source.get(key_end..).unwrap_or_default())
    {
        *span = key_end..key_end;
    }
}

/// Whether `rest` starts with a `:`, once blanks, line breaks and comments are passed.
fn colon_follows(rest: &str) -> bool {
    let mut rest = rest;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        match rest.strip_prefix('#') {
            Some(comment) => rest = comment.find('\n').map_or("", |i| &comment[i..]),
            None => return rest.starts_with(':'),
        }
    }
}

/// Where the content of a block scalar with some ends, in `range`, the parser's span of it: at
/// its last character, or past lines of spaces alone after it that are indented more than the
/// content, whose spaces past the indentation are lines of the value whatever the chomping.
/// The lines after those, and the next line's indentation that the span runs on over, are
/// not content. A line of spaces ending the span without a line break is content only when
/// it ends the text; a line holding a tab counts as content, which can only make the span
/// longer.
fn content_end(source: &str, range: Range<usize>, value: &str) -> usize {
    let holds_more = |line: &&str| !line.trim().is_empty();
    // The content's indentation: the first line holding more than spaces is indented by it,
    // then by the spaces its line of the value starts with. Without one, every line of spaces
    // counts.
    let first_line = source[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let indentation = source[first_line..range.end]
        .lines()
        .find(holds_more)
        .zip(value.lines().find(holds_more))
        .map_or(0, |(line, value_line)| {
            leading_spaces(line).saturating_sub(leading_spaces(value_line))
        });
    let mut end = range.start + source[range.clone()].trim_end().len();
    let Some(line_break) = source[end..range.end].find('\n') else {
        return end;
    };
    let mut line_start = end + line_break + 1;
    while line_start < range.end {
        let (line_end, terminated) = match source[line_start..range.end].find('\n') {
            Some(i) => (line_start + i, true),
            None => (range.end, false),
        };
        let line = &source[line_start..line_end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        let content = leading_spaces(line) > indentation || line.contains('\t');
        if content && (terminated || line_end == source.len()) {
            end = line_start + line.len();
        }
        line_start = line_end + 1;
    }
    end
}

fn scalar_style(style: granit_parser::ScalarStyle) -> ScalarStyle {
    match style {
        granit_parser::ScalarStyle::Plain => ScalarStyle::Plain,
        granit_parser::ScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
        granit_parser::ScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
        granit_parser::ScalarStyle::Literal => ScalarStyle::Literal,
        granit_parser::ScalarStyle::Folded => ScalarStyle::Folded,
    }
}

fn collection_style(style: StructureStyle) -> CollectionStyle {
    match style {
        StructureStyle::Block => CollectionStyle::Block,
        StructureStyle::Flow => CollectionStyle::Flow,
    }
}

/// The message for an alias whose anchor is nowhere before it.
fn no_anchor(name: &str) -> String {
    format!("alias *{name} has no anchor")
}

fn tag_name(tag: Option<Cow<'_, Tag>>) -> Option<Box<str>> {
    tag.map(|t| [t.handle(), t.suffix()].concat().into_boxed_str())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Entries `l0` to `lN` of a mapping, each anchoring a list of ten aliases of the one
    /// before (`l0` of ten scalars): `lN` stands for about 10^(N+1) nodes.
    pub(in crate::yaml) fn alias_ladder(levels: usize) -> String {
        let mut ladder = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=levels {
            let previous = format!("*l{}", level - 1);
            ladder.push_str(&format!(
                "l{level}: &l{level} [{}]\n",
                [previous.as_str(); 10].join(", ")
            ));
        }
        ladder
    }

    /// Duplicated keys are found in small mappings (compared key by key) and large ones
    /// (sorted), nested or not, each with its copies in order, reported by first copy.
    #[test]
    fn duplicate_keys_are_found_in_small_and_large_mappings() {
        let large: String = (0..20).map(|i| format!("  k{i}: {i}\n")).collect();
        let text = format!(
            "a: 1\nb:\n{large}  k3: again\n  k1: again\n  k3: thrice\nc: [{{x: 1, y: 2, x: 3}}]\na: 4\n"
        );
        let stream = parse(&Text::new(&text), false).expect("parses");
        let found: Vec<(String, Vec<usize>)> = stream.documents[0]
            .duplicate_keys()
            .iter()
            .map(|copies| {
                let name = copies[0].as_str().unwrap_or_default().to_owned();
                let lines = copies
                    .iter()
                    .map(|k| text[..k.full_start()].matches('\n').count() + 1);
                (name, lines.collect())
            })
            .collect();
        let expected = [
            ("a", vec![1, 27]),
            ("k1", vec![4, 24]),
            ("k3", vec![6, 23, 25]),
            ("x", vec![26, 26]),
        ];
        let expected: Vec<(String, Vec<usize>)> = expected
            .into_iter()
            .map(|(n, l)| (n.to_owned(), l))
            .collect();
        assert_eq!(found, expected);
        let unique = parse(&Text::new("a: 1\nb: {c: 1, d: 2}\n"), false).expect("parses");
        assert!(unique.documents[0].duplicate_keys().is_empty());
    }

    /// Texts that differ from one another in one way each that `same_data` tells apart (or
    /// not: the two spellings of one mapping hold the same data).
    const TEXTS: [&str; 16] = [
        "a: 1\nb: [x, y]\n",
        "a: 1\nb: [x, 'y']\n",
        "a: 1\nb: [x, y, z]\n",
        "a: 1\nb: [x]\n",
        "a: 2\nb: [x, y]\n",
        "a: 1\nc: [x, y]\n",
        "a: 1\nb: {x: y}\n",
        "a: 1\nb: !!set [x, y]\n",
        "a: &n 1\nb: [x, y]\n",
        "a: &n 1\nb: [x, *n]\n",
        "{a: 1, b: [x, y]}\n",
        "a: 1\n",
        "a: 0x1\nb: [x, y]\n",
        "a: '1'\nb: [x, y]\n",
        "",
        "a: 1\nb:\n  - x\n  - y\n",
    ];

    #[test]
    fn rereading_a_document_agrees_with_comparing_trees() {
        for want in TEXTS.iter().filter(|t| !t.is_empty()) {
            let intended = parse(&Text::new(want), false).unwrap();
            let intended = &intended.documents[0];
            for got in TEXTS {
                let tree = parse(&Text::new(got), false).unwrap();
                let expected = match tree.documents.as_slice() {
                    [document] if document.same_data(intended) => Reread::Same,
                    [_] => Reread::Differs,
                    documents => Reread::Documents(documents.len()),
                };
                assert_eq!(
                    reread(got, intended.first_anchor(), Want::Document(intended)).unwrap(),
                    expected,
                    "{got:?} against {want:?}"
                );
            }
        }
    }

    fn read_building_only<'a>(text: &Text<'a>) -> Result<Vec<Document<'a>>, ParseError> {
        let keep = |kind: &str| kind != "ConfigMap";
        Reader::new(text, true)
            .building_only("kind", &keep)
            .collect()
    }

    #[test]
    fn a_refused_document_is_read_but_not_built() {
        let source = "apiVersion: v1\nkind: ConfigMap # c1\ndata:\n  a: &x [1, 2]\n  b: |\n    text\n\n# c2\n---\nkind: Deployment # c3\nspec: {}\n";
        let text = Text::new(source);
        let documents = read_building_only(&text).unwrap();
        assert_eq!(documents.len(), 2);
        assert!(!documents[0].built && documents[1].built);
        // From its first node to the end of its last: the block scalar's text.
        let end = source.find("text").unwrap() + "text".len();
        assert_eq!(documents[0].root.span, Some(0..end));
        assert_eq!(documents[0].comments.len(), 2, "both comments are kept");
        assert_eq!(
            documents[1].root.get("spec").map(|s| s.entries().is_some()),
            Some(true)
        );
        // The same text read whole builds both.
        let all: Vec<_> = Reader::new(&text, true).collect::<Result<_, _>>().unwrap();
        assert!(all.iter().all(|d| d.built));
        assert!(all[0].root.get("data").and_then(|d| d.get("a")).is_some());
    }

    #[test]
    fn a_refused_document_is_still_checked_for_errors_and_alias_bombs() {
        let broken = "kind: ConfigMap\ndata: [unclosed\n";
        assert!(read_building_only(&Text::new(broken)).is_err());
        let unresolved = "kind: ConfigMap\ndata: *nowhere\n";
        assert!(read_building_only(&Text::new(unresolved)).is_err());
        // Ten times ten, seven times over: ten million nodes, over the limit.
        let bomb = format!("kind: ConfigMap\n{}", alias_ladder(7));
        let error = read_building_only(&Text::new(&bomb)).unwrap_err();
        assert!(error.message.contains("alias bomb"), "{error}");
        assert_eq!(
            parse(&Text::new(&bomb), false).unwrap_err().message,
            error.message
        );
    }

    #[test]
    fn rereading_counts_documents_and_reports_what_does_not_parse() {
        let intended = parse(&Text::new("a: 1\n"), false).unwrap();
        let intended = &intended.documents[0];
        assert_eq!(
            reread("a: 1\n---\nb: 2\n", None, Want::Document(intended)).unwrap(),
            Reread::Documents(2)
        );
        let error = reread("a: 1\nb: [x\n", None, Want::Document(intended)).unwrap_err();
        assert_eq!(error.position.line, 2, "{error}");
        let error = reread("a: *nowhere\n", None, Want::Document(intended)).unwrap_err();
        assert!(error.message.contains("*nowhere"), "{error}");
    }
}
