//! The fuzz targets and their invariants, shared by the fuzzer (`examples/fuzz/main.rs`) and
//! the regression test that replays what it found (`tests/fuzz_regressions.rs`).
//!
//! Each target takes one input and returns `Err` with a one-line reason when an invariant
//! fails; a panic is a failure too (the callers catch it), and so is an input that takes too
//! long or too much memory (the fuzzer's watchdog and `ulimit -v` in `scripts/fuzz.sh`).

use std::collections::HashMap;

use kubeharden::cli::{unified_diff, written_diff};
use kubeharden::fix::{ChangeDetail, FixError, fix_bytes};
use kubeharden::transform::{Profile, Settings};
use kubeharden::yaml::{self, Guard, Node, NodeKind, Step, Text};

/// A fuzz target: what it exercises, by name, and its check.
pub struct Target {
    /// The name `scripts/fuzz.sh` passes.
    pub name: &'static str,
    /// Runs one input; `seed` picks the edits of targets that make some.
    pub run: fn(&[u8], u64) -> Result<(), String>,
}

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: [Target; 4] = [
    Target {
        name: "parse",
        run: parse,
    },
    Target {
        name: "edit",
        run: edit,
    },
    Target {
        name: "verify",
        run: verify,
    },
    Target {
        name: "fix",
        run: fix,
    },
];

/// The parser and the line index on any bytes: reading either succeeds or fails with an error,
/// every position the index gives lies inside the text, the stream read in pieces (cut at its
/// document starts, parsed apart) reads exactly as it does whole, and the comments found
/// between the parser's events are those it reports when asked to.
pub fn parse(input: &[u8], _seed: u64) -> Result<(), String> {
    let Ok(source) = std::str::from_utf8(input) else {
        return Ok(());
    };
    let text = Text::new(source);
    let offsets = (0..=source.len()).step_by(source.len() / 16 + 1);
    for offset in offsets.filter(|&o| source.is_char_boundary(o)) {
        let (start, end) = (text.line_start(offset), text.line_end(offset));
        if !(start <= offset && offset <= end && end <= source.len()) {
            return Err(format!("line of byte {offset} is {start}..{end}"));
        }
        text.position(offset);
    }
    if let Ok(stream) = yaml::parse(&text, true) {
        for document in &stream.documents {
            if document.end() > source.len() || document.full_start() > document.end() {
                return Err("a document's span lies outside the text".into());
            }
        }
    }
    if read_in_batches(&text, false) != read_in_batches(&text, true) {
        return Err("the stream read in pieces differs from the stream read whole".into());
    }
    comments_as_reported(&text)
}

/// Checks that the comments the reader finds between the parser's events, document by
/// document, are those granit-parser reports as comment events when asked to.
fn comments_as_reported(text: &Text<'_>) -> Result<(), String> {
    let mut reader = yaml::Reader::new(text, true);
    let mut found = Vec::new();
    for document in reader.by_ref() {
        let Ok(document) = document else {
            return Ok(());
        };
        found.push(document.comments);
    }
    found.push(reader.take_trailing_comments());
    let mut options = granit_parser::Options::default();
    options.set_emit_comments(true);
    options.max_buffered_comment_events = usize::MAX;
    options.emit_anchor_events = true;
    options.emit_unresolved_aliases = true;
    let mut reported = vec![Vec::new()];
    for event in granit_parser::Parser::new_from_str_with_options(text.source, options) {
        let Ok((event, span)) = event else {
            return Ok(());
        };
        match event {
            granit_parser::Event::Comment(..) => {
                let range = span.byte_range().unwrap_or(0..0);
                reported
                    .last_mut()
                    .expect("one list per document")
                    .push(range);
            }
            granit_parser::Event::DocumentEnd => reported.push(Vec::new()),
            _ => {}
        }
    }
    match found == reported {
        true => Ok(()),
        false => Err(format!(
            "comments found {found:?}, the parser reports {reported:?}"
        )),
    }
}

/// Everything a reading of `text` a document at a time gives (each document's tree, comments,
/// anchor names and whether it was built; the comments after the last) or its error, read
/// whole or in pieces.
fn read_in_batches(text: &Text<'_>, in_pieces: bool) -> Result<String, yaml::ParseError> {
    let keep = |kind: &str| kind != "ConfigMap";
    let mut batches = yaml::Batches::new(text).building_only("kind", &keep);
    if in_pieces {
        batches = batches.in_pieces();
    }
    let mut read = String::new();
    loop {
        let batch = batches.next_batch(1, &|_| {})?;
        if batch.documents.is_empty() {
            break;
        }
        for document in batch.documents {
            let mut names: Vec<_> = document.anchor_names.into_iter().collect();
            names.sort();
            read.push_str(&format!(
                "{:?} {:?} {names:?} {}\n",
                document.root, document.comments, document.built
            ));
        }
    }
    read.push_str(&format!("{:?}", batches.take_trailing_comments()));
    Ok(read)
}

/// Random edits (set, append, remove at paths found in the document) rendered and verified by
/// `yaml::write`; written text must parse again into exactly the intended documents.
pub fn edit(input: &[u8], seed: u64) -> Result<(), String> {
    let Some((text, stream)) = editable(input) else {
        return Ok(());
    };
    let mut random = Random(seed | 1);
    let intended: Vec<Option<Node<'_>>> = stream
        .documents
        .iter()
        .map(|document| match random.below(4) {
            0 => None,
            _ => random_edits(document, &stream.anchor_names, &mut random),
        })
        .collect();
    let Ok(written) = yaml::write(&text, &stream, &intended) else {
        return Ok(());
    };
    let written = written.text(text.source);
    let output = Text::new(&written);
    let reparsed =
        yaml::parse(&output, false).map_err(|e| format!("written text does not parse: {e}"))?;
    if reparsed.documents.len() != stream.documents.len() {
        return Err("written text has another number of documents".into());
    }
    // Anchor ids count the anchors of the whole stream, so an edit that drops one renumbers
    // those after it: documents are compared with their aliases resolved instead.
    let wanted: Vec<&Node<'_>> = stream
        .documents
        .iter()
        .zip(&intended)
        .map(|(original, edited)| edited.as_ref().unwrap_or(original))
        .collect();
    let (got_anchors, wanted_anchors) = (anchors(&reparsed.documents), anchors(wanted.clone()));
    for (index, (got, want)) in reparsed.documents.iter().zip(wanted).enumerate() {
        if !same_resolved(got, &got_anchors, want, &wanted_anchors, 0) {
            return Err(format!(
                "document {} was written but reads back otherwise",
                index + 1
            ));
        }
    }
    Ok(())
}

/// Up to four random edits of `document` (set, append or remove at paths found in it; the
/// edit API's refusals are no failure), or `None` when it has no path.
fn random_edits<'a>(
    document: &Node<'a>,
    anchor_names: &HashMap<usize, String>,
    random: &mut Random,
) -> Option<Node<'a>> {
    let mut paths = Vec::new();
    collect_paths(document, &mut Vec::new(), &mut paths);
    if paths.is_empty() {
        return None;
    }
    let guard = Guard::new(document, anchor_names);
    let mut edited = document.clone();
    for _ in 0..=random.below(4) {
        let mut path = paths[random.below(paths.len())].clone();
        let value = match random.below(3) {
            0 => Node::new_scalar("true", false),
            1 => Node::new_scalar("a: b # c", true),
            _ => Node::new(NodeKind::Mapping {
                style: yaml::CollectionStyle::Block,
                entries: vec![(
                    Node::new_scalar("fuzzed", true),
                    Node::new_scalar("1", false),
                )],
            }),
        };
        let _ = match random.below(3) {
            0 => yaml::set(&mut edited, &path, value, &guard),
            1 => {
                path.push(Step::Key("fuzzedList".into()));
                yaml::append(&mut edited, &path, value, &guard)
            }
            _ => yaml::remove(&mut edited, &path, &guard),
        };
    }
    Some(edited)
}

/// The check of one edited document, on edits mangled after rendering (a line indented more
/// or less, a line added, a line break dropped or added, a new insertion at a line's start or
/// end) or on an intended document mangled after its edits were rendered (a scalar the text
/// does not hold): edits it accepts must make a text that reads back as intended, whole. The
/// check reads again only the parts of a document its edits touched when it can cut the
/// document there; this holds that shortcut to what reading the whole text says.
pub fn verify(input: &[u8], seed: u64) -> Result<(), String> {
    let Some((text, stream)) = editable(input) else {
        return Ok(());
    };
    let source = text.source;
    let mut random = Random(seed | 1);
    for (index, document) in stream.documents.iter().enumerate() {
        let Some(mut edited) = random_edits(document, &stream.anchor_names, &mut random) else {
            continue;
        };
        let layout = yaml::Layout::detect(&text, document);
        let Ok(mut splices) = yaml::splices(&text, &layout, document, &edited) else {
            continue;
        };
        match random.below(3) {
            0 => mangle_intended(&mut edited, &mut random),
            _ => mangle(&text, &mut splices, &mut random),
        }
        let writer = yaml::Writer::new(&text);
        let Ok(edits) = writer.check_document(index, document, &edited, splices) else {
            continue;
        };
        let Ok(written) = yaml::Writer::new(&text).finish(vec![Ok(edits)], &stream.comments) else {
            continue;
        };
        let output = written.text(source);
        let reparsed = yaml::parse(&Text::new(&output), false).map_err(|e| {
            format!(
                "document {}: accepted edits make a text that does not parse: {e}",
                index + 1
            )
        })?;
        if reparsed.documents.len() != stream.documents.len() {
            return Err(format!(
                "document {}: accepted edits change the number of documents",
                index + 1
            ));
        }
        let mut wanted: Vec<&Node<'_>> = stream.documents.iter().collect();
        wanted[index] = &edited;
        let (got_anchors, wanted_anchors) = (anchors(&reparsed.documents), anchors(wanted.clone()));
        if !same_resolved(
            &reparsed.documents[index],
            &got_anchors,
            &edited,
            &wanted_anchors,
            0,
        ) {
            return Err(format!(
                "document {}: accepted edits read back otherwise",
                index + 1
            ));
        }
    }
    Ok(())
}

/// Changes `splices` at random, one to three times, in the ways an edit's text could go wrong
/// at the edges of the lines it touches.
fn mangle(text: &Text<'_>, splices: &mut Vec<yaml::Splice>, random: &mut Random) {
    const LINES: [&str; 14] = [
        "",
        " ",
        "  ",
        "...",
        "---",
        "# c",
        "- x",
        "  - x",
        "k: v",
        "  k: v",
        "    k: v",
        "k: |+",
        "  k: |+\n    x\n",
        "- |+\n  x\n",
    ];
    for _ in 0..=random.below(3) {
        let line = LINES[random.below(LINES.len())];
        match (random.below(4), splices.is_empty()) {
            (0, false) => {
                // A space more or less at the start of one of a splice's lines.
                let splice = random.below(splices.len());
                let text = &mut splices[splice].text;
                let at = random_line_start(text, random);
                match random.below(2) {
                    0 => text.insert(at, ' '),
                    _ if text[at..].starts_with(' ') => drop(text.remove(at)),
                    _ => {}
                }
            }
            (1, false) => {
                let splice = random.below(splices.len());
                let text = &mut splices[splice].text;
                let at = random_line_start(text, random);
                text.insert_str(at, &format!("{line}\n"));
            }
            (2, false) => {
                let splice = random.below(splices.len());
                let text = &mut splices[splice].text;
                match random.below(3) {
                    0 if text.starts_with('\n') => drop(text.remove(0)),
                    1 if text.ends_with('\n') => drop(text.pop()),
                    _ => text.push('\n'),
                }
            }
            _ => {
                // A new line, at the start of a line or after its end.
                let start = text.line_start(random.below(text.source.len() + 1));
                let (at, inserted) = match random.below(2) {
                    0 => (start, format!("{line}\n")),
                    _ => (text.line_end(start), format!("\n{line}")),
                };
                splices.push(yaml::Splice {
                    range: at..at,
                    text: inserted,
                });
            }
        }
    }
}

/// Changes one scalar of `intended` after its edits were rendered, keeping its span, so that
/// the text no longer holds it: a character added, or a final line break dropped (a block
/// scalar's chomping).
fn mangle_intended(intended: &mut Node<'_>, random: &mut Random) {
    let mut paths = Vec::new();
    collect_paths(intended, &mut Vec::new(), &mut paths);
    if paths.is_empty() {
        return;
    }
    let path = &paths[random.below(paths.len())];
    if let Some(node) = yaml::lookup_mut(intended, path)
        && let NodeKind::Scalar { value, .. } = &mut node.kind
    {
        let mut changed = value.to_string();
        match changed.ends_with('\n') && random.below(2) == 0 {
            true => drop(changed.pop()),
            false => changed.push('x'),
        }
        *value = changed.into();
    }
}

/// The offset of a random line start in `text`: 0 or just after a line break.
fn random_line_start(text: &str, random: &mut Random) -> usize {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    starts[random.below(starts.len())]
}

/// `input` read as a stream, when it is text that editing knows (UTF-8 with LF or CRLF line
/// breaks only: `fix` refuses a bare CR before writing) and parses.
fn editable(input: &[u8]) -> Option<(Text<'_>, yaml::Stream<'_>)> {
    let source = std::str::from_utf8(input).ok()?;
    if yaml::bare_carriage_return(source).is_some() {
        return None;
    }
    let text = Text::new(source);
    let stream = yaml::parse(&text, true).ok()?;
    Some((text, stream))
}

/// `fix` of a whole input in the default and restricted profiles: output is written only when
/// it parses, its pieces and its documents are the output, a second run over it changes
/// nothing, and counting the changes gives what listing them gives.
pub fn fix(input: &[u8], _seed: u64) -> Result<(), String> {
    for profile in [Profile::Default, Profile::Restricted] {
        let settings = Settings::new(profile, &[], &[]).map_err(|e| e.to_string())?;
        let listed = fix_bytes(input, &settings, ChangeDetail::Listed);
        let counted = fix_bytes(input, &settings, ChangeDetail::Counted);
        let same = match (&listed, &counted) {
            (Ok(listed), Ok(counted)) => {
                counted.output == listed.output
                    && counted.findings == listed.findings
                    && counted.unlisted.total() == listed.changes.len()
            }
            (Err(listed), Err(counted)) => listed == counted,
            _ => false,
        };
        if !same {
            return Err(format!(
                "{profile:?}: counted changes give another result than listed ones"
            ));
        }
        let written = match listed {
            Ok(fixed) => fixed.output,
            Err(e @ FixError::Internal(_)) => return Err(format!("{profile:?}: {e}")),
            Err(_) => None,
        };
        let Some(written) = written else {
            continue;
        };
        // Fixed, so UTF-8.
        let source = std::str::from_utf8(input).map_err(|e| e.to_string())?;
        let output = written.text(source);
        if written.pieces(source).collect::<String>() != output {
            return Err(format!(
                "{profile:?}: the pieces written are not the output"
            ));
        }
        // What the dry-run diff is made of: each document as the edits leave it. Made a
        // document at a time, the diff is that of the output cut into the same documents.
        if let Some(documents) = written.documents(source) {
            let edited: Vec<_> = (0..documents.len())
                .map(|index| documents.get(index))
                .collect();
            if edited.concat() != output {
                return Err(format!(
                    "{profile:?}: the documents as edited are not the output"
                ));
            }
            if edited
                .iter()
                .map(|d| &**d)
                .eq(yaml::document_texts(&output))
                && written_diff("f.yaml", source, &written).concat()
                    != unified_diff("f.yaml", source, &output)
            {
                return Err(format!(
                    "{profile:?}: the diff made a document at a time is not the output's"
                ));
            }
        }
        yaml::parse(&Text::new(&output), false)
            .map_err(|e| format!("{profile:?}: fixed text does not parse: {e}"))?;
        match fix_bytes(output.as_bytes(), &settings, ChangeDetail::Listed) {
            Ok(again) if again.output.is_none() => {}
            Ok(_) => return Err(format!("{profile:?}: a second run changes the output")),
            Err(e) => return Err(format!("{profile:?}: a second run fails: {e}")),
        }
    }
    Ok(())
}

/// The anchored nodes of `documents` by anchor id.
fn anchors<'n, 'a: 'n>(
    documents: impl IntoIterator<Item = &'n Node<'a>>,
) -> HashMap<usize, &'n Node<'a>> {
    fn visit<'n, 'a>(node: &'n Node<'a>, out: &mut HashMap<usize, &'n Node<'a>>) {
        if node.anchor != 0 {
            out.insert(node.anchor, node);
        }
        match &node.kind {
            NodeKind::Mapping { entries, .. } => entries.iter().for_each(|(k, v)| {
                visit(k, out);
                visit(v, out);
            }),
            NodeKind::Sequence { items, .. } => items.iter().for_each(|i| visit(i, out)),
            _ => {}
        }
    }
    let mut out = HashMap::new();
    documents.into_iter().for_each(|d| visit(d, &mut out));
    out
}

/// Whether `a` and `b` hold the same data once aliases are replaced by what they name, anchor
/// ids aside (aliases nested deeper than a few levels are taken on trust).
fn same_resolved(
    a: &Node<'_>,
    a_anchors: &HashMap<usize, &Node<'_>>,
    b: &Node<'_>,
    b_anchors: &HashMap<usize, &Node<'_>>,
    aliases: usize,
) -> bool {
    const MAX_ALIASES: usize = 4;
    let through_alias =
        matches!(a.kind, NodeKind::Alias(_)) || matches!(b.kind, NodeKind::Alias(_));
    if through_alias && aliases >= MAX_ALIASES {
        return true;
    }
    let aliases = aliases + usize::from(through_alias);
    let a = resolve(a, a_anchors);
    let b = resolve(b, b_anchors);
    if a.tag != b.tag {
        return false;
    }
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar { .. }, NodeKind::Scalar { .. }) => {
            let (mut a, mut b) = (a.clone(), b.clone());
            (a.anchor, b.anchor) = (0, 0);
            a.same_data(&b)
        }
        (NodeKind::Mapping { entries: x, .. }, NodeKind::Mapping { entries: y, .. }) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((ka, va), (kb, vb))| {
                    same_resolved(ka, a_anchors, kb, b_anchors, aliases)
                        && same_resolved(va, a_anchors, vb, b_anchors, aliases)
                })
        }
        (NodeKind::Sequence { items: x, .. }, NodeKind::Sequence { items: y, .. }) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| same_resolved(p, a_anchors, q, b_anchors, aliases))
        }
        _ => false,
    }
}

/// The node an alias names (the alias itself when its anchor is unknown), or `node`.
fn resolve<'n, 'a>(node: &'n Node<'a>, anchors: &HashMap<usize, &'n Node<'a>>) -> &'n Node<'a> {
    match &node.kind {
        NodeKind::Alias(id) => anchors.get(id).copied().unwrap_or(node),
        _ => node,
    }
}

/// Every path to a node of `node` (the root excluded), at most a few hundred.
fn collect_paths(node: &Node<'_>, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    const MAX_PATHS: usize = 400;
    for (step, child) in yaml::children(node) {
        if out.len() >= MAX_PATHS {
            return;
        }
        path.push(step);
        out.push(path.clone());
        collect_paths(child, path, out);
        path.pop();
    }
}

/// A small deterministic generator (xorshift64*), so that a seed replays the same run.
pub struct Random(pub u64);

impl Random {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
