//! The invariants that every run of kubeharden must keep, checked on one input at a time. Shared
//! by the corpus test and the property test:
//!
//! a. the output, when there is one, parses again (with kubeharden's own parser);
//! b. read by an independent reader (serde-saphyr into [`Value`]), the output holds the input's
//!    data with each reported [`Change`] applied, and nothing else;
//! c. every comment of the input is in the output, in the same order;
//! d. the only input lines that are not byte-identical in the output are lines holding an edited
//!    field, and every added line belongs to an edit;
//! e. a second run over the output changes nothing;
//!
//! and, when no edit was refused with a warning, that the result keeps what the transforms
//! guarantee (no host namespace, every container explicitly unprivileged, no unmasked /proc),
//! read independently as well: this catches workloads that kubeharden fails to visit.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use kubeharden::fix::{FixError, fix_text};
use kubeharden::transform::{self, Change, Literal, Transform};
use kubeharden::yaml::{self, Text};
use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};

/// `../shared/corpus` beside the crate, when it is there.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.is_dir().then_some(dir)
}

/// Every manifest below `dir` (`.yaml`, `.yml`, `.json`), sorted, as paths relative to `dir`.
pub fn manifests(dir: &std::path::Path) -> Vec<PathBuf> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("readable folder entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The transforms the command line runs.
pub fn transforms() -> Vec<&'static Transform> {
    transform::all().iter().collect()
}

/// A YAML value as an independent reader sees it. Mappings keep their order, so that a key
/// moved or inserted in the wrong place counts as a difference.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Seq(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// A value under a tag the reader does not know.
    Tagged(String, Box<Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Value::Seq(_) | Value::Map(_) | Value::Tagged(..))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::Seq(items) => write!(f, "<list of {}>", items.len()),
            Value::Map(entries) => write!(f, "<mapping of {}>", entries.len()),
            Value::Tagged(tag, v) => write!(f, "!{tag} {v}"),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant): (String, _) = data.variant()?;
        let value: Value = variant.newtype_variant()?;
        Ok(Value::Tagged(tag, Box::new(value)))
    }
}

/// Reads every non-empty document of `text` with serde-saphyr, strictly.
pub fn read_independently(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(text).map_err(|e| first_line(&e))
}

/// Reads like [`read_independently`], but keeps every entry of a mapping with duplicate keys,
/// in order (YAML forbids them; some real manifests have them).
pub fn read_keeping_duplicates(text: &str) -> Result<Vec<Value>, String> {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options)
        .map_err(|e| first_line(&e))
}

fn first_line(e: &serde_saphyr::Error) -> String {
    let message = e.to_string();
    message.lines().next().unwrap_or_default().to_owned()
}

/// One step of a [`Change`] path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Splits `spec.containers[0].securityContext` into steps.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
            }
            '[' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                let mut digits = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    digits.push(d);
                }
                let index = digits
                    .parse()
                    .map_err(|_| format!("bad index `[{digits}]` in path `{path}`"))?;
                steps.push(Step::Index(index));
            }
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        steps.push(Step::Key(key));
    }
    if steps.is_empty() {
        return Err(format!("empty path `{path}`"));
    }
    Ok(steps)
}

/// The value at `path`, if every step exists.
pub fn lookup<'v>(root: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(root, |node, step| match (step, node) {
        (Step::Key(k), node) => node.get(k),
        (Step::Index(i), Value::Seq(items)) => items.get(*i),
        _ => None,
    })
}

/// Sets the value at `path`, creating missing mappings (and replacing nulls) on the way, the
/// way "set this field" is meant for a Kubernetes object.
pub fn set_path(root: &mut Value, path: &[Step], value: Value) -> Result<(), String> {
    let mut node = root;
    for (depth, step) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        if *node == Value::Null && matches!(step, Step::Key(_)) {
            *node = Value::Map(Vec::new());
        }
        let description = node.to_string();
        node = match (step, node) {
            (Step::Key(k), Value::Map(entries)) => {
                let at = match entries
                    .iter()
                    .position(|(key, _)| matches!(key, Value::Str(s) if s == k))
                {
                    Some(i) => i,
                    None => {
                        entries.push((Value::Str(k.clone()), Value::Null));
                        entries.len() - 1
                    }
                };
                &mut entries[at].1
            }
            (Step::Index(i), Value::Seq(items)) if *i < items.len() => &mut items[*i],
            (step, _) => {
                return Err(format!(
                    "step {step:?} at depth {depth} meets {description}, which it cannot enter"
                ));
            }
        };
        if last {
            *node = value;
            return Ok(());
        }
    }
    Err("empty path".into())
}

/// Where two values first differ, as a path and both sides.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            for (i, ((kx, vx), (ky, vy))) in x.iter().zip(y).enumerate() {
                if kx != ky {
                    return Some(format!(
                        "{path}: key #{i} is {kx} in one, {ky} in the other"
                    ));
                }
                let sub = format!("{path}.{}", kx.as_str().unwrap_or("?"));
                if let Some(d) = first_difference(vx, vy, &sub) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| {
                let keys = |m: &[(Value, Value)]| {
                    m.iter()
                        .map(|(k, _)| k.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("{path}: keys [{}] against [{}]", keys(x), keys(y))
            })
        }
        (Value::Seq(x), Value::Seq(y)) => {
            for (i, (vx, vy)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(vx, vy, &format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{path}: {} items against {}", x.len(), y.len()))
        }
        (x, y) if x == y => None,
        (x, y) => Some(format!("{path}: {x} against {y}")),
    }
}

/// What checking one input found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Documents in the input, as kubeharden counts them.
    pub documents: usize,
    /// Whether kubeharden changed the input.
    pub changed: bool,
    /// Fields changed.
    pub changes: usize,
    /// Warnings (edits not made).
    pub warnings: usize,
    /// kubeharden's output, when it changed the input.
    pub output: Option<String>,
    /// Why kubeharden refused the input, when it did (not an invariant failure by itself).
    pub refused: Option<String>,
    /// Why serde-saphyr could not read the input, when it could not; invariant b was then
    /// checked with kubeharden's own parser only.
    pub unreadable: Option<String>,
    /// Why serde-saphyr could read the input only when keeping duplicate keys, when so;
    /// invariant b was checked on that reading.
    pub duplicates: Option<String>,
    /// Broken invariants.
    pub failures: Vec<String>,
}

/// The value a change writes, as the transform declares it.
fn written_value(change: &Change) -> Result<Value, String> {
    let transform = transform::all()
        .iter()
        .find(|t| t.id == change.transform)
        .ok_or_else(|| format!("unknown transform `{}`", change.transform))?;
    let rule = transform
        .rules
        .iter()
        .find(|r| change.path.ends_with(&format!(".{}", r.path)))
        .ok_or_else(|| {
            format!(
                "{}: no rule of `{}` ends the path",
                change.path, change.transform
            )
        })?;
    let value = match &rule.set {
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Text(s) => Value::Str(s.clone()),
    };
    if rule.set.display() != change.new {
        return Err(format!(
            "{}: reports the new value `{}` but its rule sets `{}`",
            change.path,
            change.new,
            rule.set.display()
        ));
    }
    Ok(value)
}

/// Runs kubeharden on one input and checks invariants a to e (and the guarantees) on the result.
pub fn check(input: &str) -> Checked {
    let mut checked = Checked::default();
    let transforms = transforms();
    let fixed = match fix_text(input, &transforms) {
        Ok(fixed) => fixed,
        Err(e @ FixError::Internal(_)) => {
            checked.failures.push(format!("kubeharden failed: {e}"));
            return checked;
        }
        Err(e) => {
            // Input kubeharden refuses (not YAML, a Helm template): nothing was written, so no
            // invariant applies; the caller decides whether the refusal itself is expected.
            checked.refused = Some(e.to_string());
            return checked;
        }
    };
    let input_text = Text::new(input);
    let input_stream = match yaml::parse(&input_text, true) {
        Ok(s) => s,
        Err(e) => {
            checked
                .failures
                .push(format!("fixed, yet the input does not parse: {e}"));
            return checked;
        }
    };
    checked.documents = input_stream.documents.len();
    checked.changes = fixed.changes.len();
    checked.warnings = fixed.warnings.len();
    check_result(
        input,
        &input_stream,
        fixed.output,
        &fixed.changes,
        fixed.warnings.is_empty(),
        &mut checked,
    );
    checked
}

/// Checks invariants a to e on `output`, what kubeharden made of `input` with `changes`; also
/// that the transforms' guarantees hold afterwards when no edit was refused.
pub fn check_result(
    input: &str,
    input_stream: &yaml::Stream<'_>,
    output: Option<String>,
    changes: &[Change],
    no_warnings: bool,
    checked: &mut Checked,
) {
    let transforms = transforms();
    let input_text = Text::new(input);
    let reading = read_input(input, checked);
    if let (true, Some((before, read))) = (no_warnings, &reading) {
        match output.as_deref().map(read) {
            None => check_guarantees(before, checked),
            Some(Ok(after)) => check_guarantees(&after, checked),
            Some(Err(_)) => {} // reported by invariant b
        }
    }
    let Some(output) = output else {
        if !changes.is_empty() {
            checked
                .failures
                .push("changes reported but no output".to_owned());
        }
        return;
    };
    checked.changed = true;
    if output == input {
        checked
            .failures
            .push("an output identical to the input was returned as a change".to_owned());
    }
    if changes.is_empty() {
        checked
            .failures
            .push("the input was changed, yet no change was reported".to_owned());
    }

    // a. The output parses again, into as many documents.
    let output_text = Text::new(&output);
    match yaml::parse(&output_text, true) {
        Ok(stream) if stream.documents.len() == input_stream.documents.len() => {}
        Ok(stream) => checked.failures.push(format!(
            "a: {} documents became {}",
            input_stream.documents.len(),
            stream.documents.len()
        )),
        Err(e) => checked
            .failures
            .push(format!("a: the output does not parse: {e}")),
    }

    // b. Input data + changes = output data, read by serde-saphyr.
    if let Some((before, read)) = &reading {
        check_data(before, *read, &output, input_stream, changes, checked);
    }

    // c. Every comment is still there, in order.
    let mut cursor = 0;
    for span in &input_stream.comments {
        let comment = input[span.clone()].trim_end_matches('\r');
        match output[cursor..].find(comment) {
            Some(at) => cursor += at + comment.len(),
            None => {
                let line = input_text.position(span.start).line;
                checked.failures.push(format!(
                    "c: the comment `{comment}` of line {line} is missing from the output or out of order"
                ));
                break;
            }
        }
    }

    // d. Only edited lines changed; every added line belongs to an edit.
    check_lines(input, &output, changes, checked);

    // e. A second run changes nothing.
    match fix_text(&output, &transforms) {
        Ok(again) if again.output.is_none() && again.changes.is_empty() => {}
        Ok(again) => checked.failures.push(format!(
            "e: a second run changed {} more fields: {}",
            again.changes.len(),
            again
                .changes
                .iter()
                .map(|c| format!("doc {} {}", c.document, c.path))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => checked.failures.push(format!("e: a second run fails: {e}")),
    }
    checked.output = Some(output);
}

/// How the independent reader reads a text.
type Reader = fn(&str) -> Result<Vec<Value>, String>;

/// Reads `input` independently, strictly or else keeping duplicate keys, noting in `checked`
/// when it needed the latter or could not read it at all. Returns the documents and the reader
/// that read them.
fn read_input(input: &str, checked: &mut Checked) -> Option<(Vec<Value>, Reader)> {
    match read_independently(input) {
        Ok(v) => Some((v, read_independently)),
        Err(strict) => match read_keeping_duplicates(input) {
            Ok(v) => {
                checked.duplicates = Some(strict);
                Some((v, read_keeping_duplicates))
            }
            Err(e) => {
                checked.unreadable = Some(e);
                None
            }
        },
    }
}

fn check_data(
    before: &[Value],
    read: Reader,
    output: &str,
    input_stream: &yaml::Stream<'_>,
    changes: &[Change],
    checked: &mut Checked,
) {
    let after = match read(output) {
        Ok(v) => v,
        Err(e) => {
            checked.failures.push(format!(
                "b: serde-saphyr reads the input but not the output: {e}"
            ));
            return;
        }
    };
    // serde-saphyr skips empty and null documents; map kubeharden's document numbers to its.
    let mut index = Vec::new();
    let mut next = 0;
    for root in &input_stream.documents {
        if root.is_null() && root.tag.is_none() {
            index.push(None);
        } else {
            index.push(Some(next));
            next += 1;
        }
    }
    if next != before.len() {
        checked.failures.push(format!(
            "b: kubeharden sees {next} non-empty documents, serde-saphyr {}",
            before.len()
        ));
        return;
    }
    let mut expected = before.to_vec();
    for change in changes {
        let Some(Some(doc)) = index.get(change.document).copied() else {
            checked.failures.push(format!(
                "b: a change to {} names document {}, which is empty or missing",
                change.path, change.document
            ));
            return;
        };
        let applied = parse_path(&change.path).and_then(|path| {
            let value = written_value(change)?;
            let old = lookup(&before[doc], &path);
            match (&change.old, old) {
                (None, Some(v)) if v.is_scalar() && *v != Value::Null => {
                    return Err(format!(
                        "reported as a new field, but it held {v} in the input"
                    ));
                }
                (Some(o), None) => {
                    return Err(format!(
                        "reported as replacing `{o}`, but the input has no such field"
                    ));
                }
                _ => {}
            }
            if old == Some(&value) {
                return Err(format!("reported as changed, but it already held {value}"));
            }
            set_path(&mut expected[doc], &path, value)
        });
        if let Err(e) = applied {
            checked.failures.push(format!(
                "b: document {}: {}: {e}",
                change.document, change.path
            ));
            return;
        }
    }
    if expected.len() != after.len() {
        checked.failures.push(format!(
            "b: expected {} non-empty documents in the output, found {}",
            expected.len(),
            after.len()
        ));
        return;
    }
    for (i, (want, got)) in expected.iter().zip(&after).enumerate() {
        if let Some(difference) = first_difference(want, got, "") {
            checked.failures.push(format!(
                "b: non-empty document {} (0-based) differs from input + changes at {difference} (expected first, output second)",
                i
            ));
        }
    }
}

/// The lines of `text`, each with its line break.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The regions where two lists of lines differ, as ranges of each. Myers' algorithm gives up
/// on minimality in long texts (it may pass over a blank line the two sides share), so each
/// region it finds is diffed again with an exact LCS, which is cheap on such small regions.
fn changed_regions(old: &[&str], new: &[&str]) -> Vec<(Range<usize>, Range<usize>)> {
    use similar::{Algorithm, DiffTag, capture_diff_slices};
    let mut regions = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, old, new) {
        let (tag, o, n) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        for inner in capture_diff_slices(Algorithm::Lcs, &old[o.clone()], &new[n.clone()]) {
            let (tag, io, inn) = inner.as_tag_tuple();
            if tag != DiffTag::Equal {
                regions.push((
                    o.start + io.start..o.start + io.end,
                    n.start + inn.start..n.start + inn.end,
                ));
            }
        }
    }
    regions
}

fn check_lines(input: &str, output: &str, changes: &[Change], checked: &mut Checked) {
    let old = lines(input);
    let new = lines(output);
    let edited: BTreeSet<usize> = changes.iter().map(|c| c.line).collect();
    // What an added line may hold: a key along an edited path, or a value written.
    let mut tokens: BTreeSet<String> = BTreeSet::new();
    for change in changes {
        tokens.insert(change.new.clone());
        if let Ok(path) = parse_path(&change.path) {
            for step in path {
                if let Step::Key(k) = step {
                    tokens.insert(k);
                }
            }
        }
    }
    let line_break = Text::new(input).line_break();
    for (old_range, new_range) in changed_regions(&old, &new) {
        let mut added: Vec<&str> = new[new_range].to_vec();
        for i in old_range {
            let line = old[i];
            // The input's last line, without a line break, gains one when lines follow it.
            let with_break = format!("{line}{line_break}");
            if i + 1 == old.len()
                && !line.ends_with('\n')
                && let Some(at) = added.iter().position(|a| *a == with_break)
            {
                added.remove(at);
                continue;
            }
            // The last entry of a multi-line flow collection gains the comma that separates it
            // from an entry inserted after it, as in JSON; nothing else of its line may change.
            if let Some(at) = added.iter().position(|a| gains_a_comma(line, a)) {
                added.remove(at);
                continue;
            }
            if !edited.contains(&(i + 1)) {
                checked.failures.push(format!(
                    "d: line {} changed, yet no field of it was edited (edited lines: {edited:?}): {:?}",
                    i + 1,
                    line
                ));
            }
        }
        for line in added {
            if line.trim().is_empty() {
                checked
                    .failures
                    .push(format!("d: a blank line was added: {line:?}"));
            } else if !tokens.iter().any(|t| line.contains(t.as_str()))
                && !line.trim().chars().all(|c| "{}[],".contains(c))
            {
                checked.failures.push(format!(
                    "d: an added line belongs to no edit (it names no edited key nor written value, and is not only brackets): {line:?}"
                ));
            }
        }
    }
}

/// The path from a workload object to its pod spec, by API group and kind, as the Kubernetes
/// API defines it; written here independently of kubeharden's own table.
pub fn pod_spec_path(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "PodTemplate") => Some(&["template", "spec"]),
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Every pod spec of a document, with a label for messages: the root object's, or those of
/// the items of a list (`v1` List, or a typed list such as `apps/v1` DeploymentList whose items
/// may leave out their apiVersion and kind).
pub fn pod_specs<'v>(object: &'v Value, label: String, out: &mut Vec<(String, &'v Value)>) {
    typed_pod_specs(object, None, label, out);
}

fn typed_pod_specs<'v>(
    object: &'v Value,
    implied: Option<(&str, &str)>,
    label: String,
    out: &mut Vec<(String, &'v Value)>,
) {
    let field = |name: &str| object.get(name).and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (
        field("apiVersion").or(implied.map(|(a, _)| a)),
        field("kind").or(implied.map(|(_, k)| k)),
    ) else {
        return;
    };
    if let Some(item_kind) = kind.strip_suffix("List") {
        if let Some(Value::Seq(items)) = object.get("items") {
            let implied = (!item_kind.is_empty()).then_some((api_version, item_kind));
            for (i, item) in items.iter().enumerate() {
                typed_pod_specs(item, implied, format!("{label}items[{i}]."), out);
            }
        }
        return;
    }
    let Some(steps) = pod_spec_path(api_version, kind) else {
        return;
    };
    let mut node = object;
    for step in steps {
        match node.get(step) {
            Some(next) => node = next,
            None => return,
        }
    }
    if matches!(node, Value::Map(_)) {
        out.push((format!("{label}{}", steps.join(".")), node));
    }
}

/// Checks, with the independent reader, that what the transforms guarantee holds in `text`:
/// no host namespace turned on, every container explicitly unprivileged, no unmasked /proc.
pub fn check_guarantees(documents: &[Value], checked: &mut Checked) {
    for (d, document) in documents.iter().enumerate() {
        let mut pods = Vec::new();
        pod_specs(document, String::new(), &mut pods);
        for (path, pod) in pods {
            for field in ["hostNetwork", "hostPID", "hostIPC"] {
                if pod.get(field) == Some(&Value::Bool(true)) {
                    checked.failures.push(format!(
                        "guarantee: non-empty document {d} (0-based): {path}.{field} is still true"
                    ));
                }
            }
            for group in ["containers", "initContainers", "ephemeralContainers"] {
                let Some(Value::Seq(containers)) = pod.get(group) else {
                    continue;
                };
                for (i, container) in containers.iter().enumerate() {
                    if !matches!(container, Value::Map(_)) {
                        continue;
                    }
                    let context = container.get("securityContext");
                    let privileged = context.and_then(|c| c.get("privileged"));
                    if privileged != Some(&Value::Bool(false)) {
                        checked.failures.push(format!(
                            "guarantee: non-empty document {d} (0-based): {path}.{group}[{i}].securityContext.privileged is {}, not false",
                            privileged.map_or("absent".to_owned(), Value::to_string)
                        ));
                    }
                    let proc_mount = context.and_then(|c| c.get("procMount"));
                    if proc_mount.and_then(Value::as_str) == Some("Unmasked") {
                        checked.failures.push(format!(
                            "guarantee: non-empty document {d} (0-based): {path}.{group}[{i}].securityContext.procMount is still Unmasked"
                        ));
                    }
                }
            }
        }
    }
}

/// Whether `new` is `old` with one `,` added at the end of its content: before the line break
/// and before a comment ending the line, if there is one; the `,` may take the place of one of
/// the blanks before an aligned comment, which then keeps its column.
fn gains_a_comma(old: &str, new: &str) -> bool {
    let at = old
        .bytes()
        .zip(new.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(old.len());
    if new.as_bytes().get(at) != Some(&b',') {
        return false;
    }
    let rest = old[at..].trim_start_matches([' ', '\t']);
    let ends_content = rest.starts_with('#') || rest.trim_end_matches(['\r', '\n']).is_empty();
    let inserted = new.len() == old.len() + 1 && new[at + 1..] == old[at..];
    let over_a_blank = new.len() == old.len()
        && old[at..].starts_with("  ")
        && rest.starts_with('#')
        && new[at + 1..] == old[at + 1..];
    ends_content && (inserted || over_a_blank)
}
