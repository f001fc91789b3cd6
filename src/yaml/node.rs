//! The document tree: every node with the byte span it came from, so that edits can be rendered
//! as splices of the original text and the result compared with the intended data.

use std::borrow::Cow;
use std::ops::Range;

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    /// `value`
    Plain,
    /// `'value'`
    SingleQuoted,
    /// `"value"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

/// How a mapping or sequence was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectionStyle {
    /// Indentation-based: `key: value` lines, `- item` lines.
    Block,
    /// Bracketed: `{key: value}`, `[item]`.
    Flow,
}

/// One node of a document.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    /// Where the node's content lies in the source: for a block collection, from its first child
    /// to the end of its last one (trailing comments and blank lines excluded); for a flow
    /// collection, the brackets included. `None` for a node created by an edit.
    pub span: Option<Range<usize>>,
    /// Where the node's properties (anchor, tag) start, when it has any before its content.
    pub properties_start: Option<usize>,
    /// The anchor id defined on this node, 0 when none.
    pub anchor: usize,
    /// The node's resolved tag, written `handle` + `suffix`.
    pub tag: Option<Box<str>>,
    /// What the node holds.
    pub kind: NodeKind<'a>,
}

/// What a node holds.
#[derive(Clone, Debug)]
pub enum NodeKind<'a> {
    /// A scalar, its value after escape processing.
    Scalar {
        /// The value as the application sees it.
        value: Cow<'a, str>,
        /// How it was written.
        style: ScalarStyle,
    },
    /// A mapping, entries in source order.
    Mapping {
        /// Block or flow.
        style: CollectionStyle,
        /// Key and value pairs.
        entries: Vec<(Node<'a>, Node<'a>)>,
    },
    /// A sequence, items in source order.
    Sequence {
        /// Block or flow.
        style: CollectionStyle,
        /// The items.
        items: Vec<Node<'a>>,
    },
    /// `*name`: a reference to the node carrying that anchor id.
    Alias(usize),
}

/// What a scalar means once its style and tag are taken into account; two scalars with the same
/// meaning are the same data even when written differently.
#[derive(Debug, PartialEq)]
enum ScalarMeaning<'s> {
    Null,
    Bool(bool),
    Number(&'s str),
    Text(&'s str),
    Tagged(&'s str, &'s str),
}

impl<'a> Node<'a> {
    /// A scalar created by an edit; `text` marks a string, which the renderer may quote.
    pub fn new_scalar(value: impl Into<Cow<'a, str>>, text: bool) -> Self {
        let style = if text {
            ScalarStyle::DoubleQuoted
        } else {
            ScalarStyle::Plain
        };
        Node::new(NodeKind::Scalar {
            value: value.into(),
            style,
        })
    }

    /// A node created by an edit.
    pub fn new(kind: NodeKind<'a>) -> Self {
        Node {
            span: None,
            properties_start: None,
            anchor: 0,
            tag: None,
            kind,
        }
    }

    /// The value of the entry whose key is the plain or quoted string `key`.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Each key that appears more than once in one mapping at or below this node, with its
    /// copies in order: readers disagree on which value holds (most take the last, kubeharden's
    /// [`Node::get`] the first), so nothing may be judged from them. Aliases are not followed.
    pub fn duplicate_keys(&self) -> Vec<Vec<&Node<'a>>> {
        let mut found = Vec::new();
        self.collect_duplicate_keys(&mut found, &mut Vec::new());
        found
    }

    /// Adds the duplicated keys at or below this node to `found`. `names` is scratch space,
    /// reused from mapping to mapping: sorting a mapping's key names finds its duplicates
    /// without a hash map per mapping, and most mappings have none.
    fn collect_duplicate_keys<'n>(
        &'n self,
        found: &mut Vec<Vec<&'n Node<'a>>>,
        names: &mut Vec<(&'n str, usize)>,
    ) {
        match &self.kind {
            NodeKind::Mapping { entries, .. } => {
                names.clear();
                names.extend(
                    (entries.iter().enumerate()).filter_map(|(i, (k, _))| Some((k.as_str()?, i))),
                );
                // By name, then by position: each name's copies stay in source order.
                names.sort_unstable();
                let mut copies: Vec<(usize, Vec<&'n Node<'a>>)> = names
                    .chunk_by(|a, b| a.0 == b.0)
                    .filter(|same| same.len() > 1)
                    .map(|same| {
                        (
                            same[0].1,
                            same.iter().map(|&(_, i)| &entries[i].0).collect(),
                        )
                    })
                    .collect();
                // Reported in the order of each key's first copy.
                copies.sort_unstable_by_key(|(first, _)| *first);
                found.extend(copies.into_iter().map(|(_, c)| c));
                for (key, value) in entries {
                    key.collect_duplicate_keys(found, names);
                    value.collect_duplicate_keys(found, names);
                }
            }
            NodeKind::Sequence { items, .. } => items
                .iter()
                .for_each(|i| i.collect_duplicate_keys(found, names)),
            NodeKind::Scalar { .. } | NodeKind::Alias(_) => {}
        }
    }

    /// The entries, when this is a mapping.
    pub fn entries(&self) -> Option<&[(Node<'a>, Node<'a>)]> {
        match &self.kind {
            NodeKind::Mapping { entries, .. } => Some(entries),
            _ => None,
        }
    }

    /// The items, when this is a sequence.
    pub fn items(&self) -> Option<&[Node<'a>]> {
        match &self.kind {
            NodeKind::Sequence { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The scalar's value, when this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether this is a null scalar: empty, `~` or `null` written plain.
    pub fn is_null(&self) -> bool {
        self.meaning() == Some(ScalarMeaning::Null)
    }

    /// Whether the node is a scalar that means a string: not a null, a boolean or a number.
    pub fn reads_as_string(&self) -> bool {
        matches!(self.meaning(), Some(ScalarMeaning::Text(_)))
    }

    /// Whether the node is a scalar meaning the boolean `b`.
    pub fn is_bool(&self, b: bool) -> bool {
        self.meaning() == Some(ScalarMeaning::Bool(b))
    }

    /// Whether two nodes hold the same data: same structure, same scalar meanings, same tags,
    /// anchors and aliases; spans and styles are ignored.
    pub fn same_data(&self, other: &Node<'_>) -> bool {
        if self.anchor != other.anchor || self.tag != other.tag {
            return false;
        }
        match (&self.kind, &other.kind) {
            (
                NodeKind::Scalar {
                    value: a,
                    style: style_a,
                },
                NodeKind::Scalar {
                    value: b,
                    style: style_b,
                },
            ) => {
                // The meaning depends only on the tag (equal here), whether the scalar is plain
                // and its value: the same text read the same way needs no resolving, which
                // keeps verification quick since most scalars are untouched.
                let plain = |s: &ScalarStyle| *s == ScalarStyle::Plain;
                (a == b && plain(style_a) == plain(style_b)) || self.meaning() == other.meaning()
            }
            (NodeKind::Mapping { entries: a, .. }, NodeKind::Mapping { entries: b, .. }) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka.same_data(kb) && va.same_data(vb))
            }
            (NodeKind::Sequence { items: a, .. }, NodeKind::Sequence { items: b, .. }) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_data(y))
            }
            (NodeKind::Alias(a), NodeKind::Alias(b)) => a == b,
            _ => false,
        }
    }

    /// Adds `by` to every anchor id defined or aliased in this node or below it: a document
    /// read from a piece of a stream, whose anchors were numbered from 1, then numbers them as
    /// a reading of the whole stream does.
    pub(crate) fn shift_anchors(&mut self, by: usize) {
        if self.anchor != 0 {
            self.anchor += by;
        }
        match &mut self.kind {
            NodeKind::Mapping { entries, .. } => entries.iter_mut().for_each(|(k, v)| {
                k.shift_anchors(by);
                v.shift_anchors(by);
            }),
            NodeKind::Sequence { items, .. } => items.iter_mut().for_each(|i| i.shift_anchors(by)),
            NodeKind::Alias(id) => *id += by,
            NodeKind::Scalar { .. } => {}
        }
    }

    /// The smallest anchor id defined in this node or below it.
    pub fn first_anchor(&self) -> Option<usize> {
        let smallest = self.smallest_anchor();
        (smallest != usize::MAX).then_some(smallest)
    }

    /// [`Node::first_anchor`], `usize::MAX` standing for none, so that the walk of a large
    /// tree (most have no anchor at all) is a plain fold.
    fn smallest_anchor(&self) -> usize {
        let own = if self.anchor == 0 {
            usize::MAX
        } else {
            self.anchor
        };
        match &self.kind {
            NodeKind::Mapping { entries, .. } => entries.iter().fold(own, |smallest, (k, v)| {
                smallest.min(k.smallest_anchor()).min(v.smallest_anchor())
            }),
            NodeKind::Sequence { items, .. } => items
                .iter()
                .fold(own, |smallest, i| smallest.min(i.smallest_anchor())),
            NodeKind::Scalar { .. } | NodeKind::Alias(_) => own,
        }
    }

    /// Whether two scalars mean the same value, whatever their anchors, tags and styles.
    pub fn means_the_same_as(&self, other: &Node<'_>) -> bool {
        self.meaning().is_some() && self.meaning() == other.meaning()
    }

    fn meaning(&self) -> Option<ScalarMeaning<'_>> {
        let NodeKind::Scalar { value, style } = &self.kind else {
            return None;
        };
        if let Some(tag) = &self.tag {
            // The core schema's tags (`!!bool true`, `!!str yes`) mean what their kind says.
            let resolved = plain_meaning(value);
            return Some(match (tag.strip_prefix("tag:yaml.org,2002:"), &resolved) {
                (Some("str"), _) => ScalarMeaning::Text(value),
                (Some("bool"), ScalarMeaning::Bool(_))
                | (Some("null"), ScalarMeaning::Null)
                | (Some("int" | "float"), ScalarMeaning::Number(_)) => resolved,
                _ => ScalarMeaning::Tagged(tag, value),
            });
        }
        if *style != ScalarStyle::Plain {
            return Some(ScalarMeaning::Text(value));
        }
        Some(plain_meaning(value))
    }
}

/// Resolves a plain scalar the way Kubernetes' YAML reader (YAML 1.1 rules) does, closely
/// enough to tell a boolean, a null or a number from a string.
fn plain_meaning(value: &str) -> ScalarMeaning<'_> {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => ScalarMeaning::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            ScalarMeaning::Bool(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            ScalarMeaning::Bool(false)
        }
        _ if looks_numeric(value) => ScalarMeaning::Number(value),
        _ => ScalarMeaning::Text(value),
    }
}

/// Whether a plain scalar would be read as a number (decimal, octal, hex, float, infinity, NaN).
fn looks_numeric(value: &str) -> bool {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    if body.eq_ignore_ascii_case(".inf") || body.eq_ignore_ascii_case(".nan") {
        return true;
    }
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0o")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    let mut digits = 0;
    for c in body.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' | '_' | 'e' | 'E' | '-' | '+' | ':' => {}
            _ => return false,
        }
    }
    digits > 0 && body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

impl Node<'_> {
    /// Where the node begins in the source, its anchor and tag included; 0 for a new node.
    pub fn full_start(&self) -> usize {
        let start = self.span.as_ref().map_or(0, |s| s.start);
        self.properties_start.map_or(start, |p| p.min(start))
    }

    /// Where the node's content ends in the source; 0 for a new node.
    pub fn end(&self) -> usize {
        self.span.as_ref().map_or(0, |s| s.end)
    }
}
