//! The invariants that every run of kubeharden must keep, checked on one input at a time, in a
//! given profile. Shared by the corpus test and the property test:
//!
//! a. the output, when there is one, parses again (with kubeharden's own parser);
//! b. read by an independent reader (serde-saphyr into [`Value`]), the output holds the input's
//!    data with each reported [`Change`] applied in order (a value set, an item appended, a field
//!    or item removed; the written value is `Change::new` read by serde-saphyr), and nothing
//!    else; each change's `old` is what the field or item held;
//! c. every comment of the input is in the output, in the same order;
//! d. the only input lines that are not byte-identical in the output are lines holding an edited
//!    field or a removed field or item, and every added line belongs to an edit;
//! e. a second run over the output changes nothing;
//!
//! and that the result keeps what the transforms of the profile guarantee, read independently as
//! well, for every workload (or container) about which the transform reported no warning, skip
//! or suppression: this catches workloads that kubeharden fails to visit.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod binary;
pub mod rendered;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use kubeharden::fix::{ChangeDetail, FixError, fix_text};
use kubeharden::transform::{self, Change, Finding, FindingKind, Profile, Settings};
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

/// The value at `path`, for writing: missing mappings are created (and nulls replaced by
/// mappings) on the way, and a missing last key is added holding null, the way "set this field"
/// is meant for a Kubernetes object.
fn entry_mut<'v>(root: &'v mut Value, path: &[Step]) -> Result<&'v mut Value, String> {
    let mut node = root;
    for (depth, step) in path.iter().enumerate() {
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
    }
    Ok(node)
}

/// Sets the value at `path`, creating missing mappings (and replacing nulls) on the way.
pub fn set_path(root: &mut Value, path: &[Step], value: Value) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    *entry_mut(root, path)? = value;
    Ok(())
}

/// Appends `value` as item `index` of the list at `list`, creating the list (and mappings on
/// the way) when it is missing or null; `index` must be the list's length.
pub fn append_path(
    root: &mut Value,
    list: &[Step],
    index: usize,
    value: Value,
) -> Result<(), String> {
    if list.is_empty() {
        return Err("empty path".into());
    }
    let node = entry_mut(root, list)?;
    if *node == Value::Null {
        *node = Value::Seq(Vec::new());
    }
    match node {
        Value::Seq(items) if items.len() == index => {
            items.push(value);
            Ok(())
        }
        Value::Seq(items) => Err(format!(
            "reported as appended at index {index}, but the list holds {} items",
            items.len()
        )),
        other => Err(format!(
            "reported as appended to a list, but it holds {other}"
        )),
    }
}

/// Removes the field or item at `path`, which must exist.
pub fn remove_path(root: &mut Value, path: &[Step]) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        return Err("empty path".into());
    };
    let missing = || format!("reported as removed, but there is no {last:?} to remove");
    let parent = parent
        .iter()
        .try_fold(root, |node, step| match (step, node) {
            (Step::Key(k), Value::Map(entries)) => entries
                .iter_mut()
                .find(|(key, _)| matches!(key, Value::Str(s) if s == k))
                .map(|(_, v)| v),
            (Step::Index(i), Value::Seq(items)) => items.get_mut(*i),
            _ => None,
        });
    match (last, parent) {
        (Step::Key(k), Some(Value::Map(entries))) => {
            let at = entries
                .iter()
                .position(|(key, _)| matches!(key, Value::Str(s) if s == k))
                .ok_or_else(missing)?;
            entries.remove(at);
            Ok(())
        }
        (Step::Index(i), Some(Value::Seq(items))) if *i < items.len() => {
            items.remove(*i);
            Ok(())
        }
        _ => Err(missing()),
    }
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
    /// Changes reported.
    pub changes: usize,
    /// Findings reported, by kind.
    pub warnings: usize,
    pub notes: usize,
    pub skipped: usize,
    pub suppressed: usize,
    /// Containers whose guarantees were checked, and those left out because a finding of the
    /// transform concerns them (a guarantee at a time).
    pub guaranteed: usize,
    pub exempt: usize,
    /// kubeharden's output, when it changed the input.
    pub output: Option<String>,
    /// Why kubeharden refused the input, when it did (not an invariant failure by itself).
    pub refused: Option<String>,
    /// What kind of refusal: `Helm template`, `not valid YAML`, `not text`, or `an edit it
    /// cannot write` (an unsupported rendering, the file left unchanged).
    pub refusal: &'static str,
    /// Why serde-saphyr could not read the input, when it could not; invariant b was then
    /// checked with kubeharden's own parser only.
    pub unreadable: Option<String>,
    /// Why serde-saphyr could read the input only when keeping duplicate keys, when so;
    /// invariant b was checked on that reading.
    pub duplicates: Option<String>,
    /// Broken invariants.
    pub failures: Vec<String>,
}

/// A YAML text read by serde-saphyr as one value (`Change::new`, `Change::old`).
fn read_value(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| first_line(&e))
}

/// Whether `old`, a change's report of what a field or item held, describes `value`: the same
/// string, or the same data read as YAML (`true`, `0`, `[NET_RAW, ALL]`).
fn old_matches(old: &str, value: &Value) -> bool {
    value.as_str() == Some(old)
        || (!matches!(value, Value::Str(_)) && read_value(old).is_ok_and(|v| v == *value))
}

/// What a change does, read from its path, `old` and `new`.
enum Edit {
    /// Write this value at the path.
    Set(Value),
    /// Append this value to the list, as the item at this index.
    Append(usize, Value),
    /// Remove the field or item.
    Remove,
}

fn edit_of(change: &Change, path: &[Step]) -> Result<Edit, String> {
    let Some(new) = &change.new else {
        return match &change.old {
            Some(_) => Ok(Edit::Remove),
            None => Err("reported as a removal (no new value), but without the old value".into()),
        };
    };
    let value = read_value(new).map_err(|e| format!("the new value `{new}` does not read: {e}"))?;
    match (path.last(), &change.old) {
        (Some(Step::Index(i)), None) => Ok(Edit::Append(*i, value)),
        (Some(Step::Index(_)), Some(old)) => Err(format!(
            "reports an item replaced (`{old}` by `{new}`), which no transform does"
        )),
        _ => Ok(Edit::Set(value)),
    }
}

/// Applies `change` (at `path`) to `document`, checking its `old` against what `document` holds.
fn apply(document: &mut Value, change: &Change, path: &[Step]) -> Result<(), String> {
    let current = lookup(document, path);
    match edit_of(change, path)? {
        Edit::Set(value) => {
            match (&change.old, current) {
                (None, Some(v)) if v.is_scalar() && *v != Value::Null => {
                    return Err(format!("reported as a new field, but it held {v}"));
                }
                (Some(o), None) => {
                    return Err(format!(
                        "reported as replacing `{o}`, but there is no such field"
                    ));
                }
                (Some(o), Some(v)) if !old_matches(o, v) => {
                    return Err(format!("reported as replacing `{o}`, but it held {v}"));
                }
                _ => {}
            }
            if current == Some(&value) {
                return Err(format!("reported as changed, but it already held {value}"));
            }
            set_path(document, path, value)
        }
        Edit::Append(index, value) => append_path(document, &path[..path.len() - 1], index, value),
        Edit::Remove => {
            let old = change.old.as_deref().unwrap_or_default();
            match current {
                Some(v) if old_matches(old, v) => remove_path(document, path),
                Some(v) => Err(format!("reported as removing `{old}`, but it held {v}")),
                None => Err(format!(
                    "reported as removing `{old}`, but there is no such field"
                )),
            }
        }
    }
}

/// Runs kubeharden on one input in `settings` and checks invariants a to e (and the guarantees)
/// on the result.
pub fn check(input: &str, settings: &Settings) -> Checked {
    let mut checked = check_profiles(input, &[settings]);
    checked.pop().unwrap_or_default()
}

/// Like [`check`] in each of `profiles`, reading the input only once.
pub fn check_profiles(input: &str, profiles: &[&Settings]) -> Vec<Checked> {
    let mut results: Vec<Checked> = Vec::with_capacity(profiles.len());
    let mut fixes = Vec::with_capacity(profiles.len());
    for settings in profiles {
        let mut checked = Checked::default();
        match fix_text(input, settings, ChangeDetail::Listed) {
            Ok(fixed) => fixes.push(Some(fixed)),
            Err(e @ FixError::Internal(_)) => {
                checked.failures.push(format!("kubeharden failed: {e}"));
                fixes.push(None);
            }
            Err(e) => {
                // Input kubeharden refuses (not YAML, a Helm template): nothing was written, so
                // no invariant applies; the caller decides whether the refusal is expected.
                checked.refusal = match e {
                    FixError::HelmTemplate(_) => "Helm template",
                    FixError::Parse(_) => "not valid YAML",
                    FixError::Binary(_) | FixError::NotUtf8(_) => "not text",
                    _ => "an edit it cannot write",
                };
                checked.refused = Some(e.to_string());
                fixes.push(None);
            }
        }
        results.push(checked);
    }
    if fixes.iter().all(Option::is_none) {
        return results;
    }
    let input_text = Text::new(input);
    let input_stream = match yaml::parse(&input_text, true) {
        Ok(s) => s,
        Err(e) => {
            for checked in &mut results {
                checked
                    .failures
                    .push(format!("fixed, yet the input does not parse: {e}"));
            }
            return results;
        }
    };
    let mut read = Checked::default();
    let reading = read_input(input, &mut read);
    for ((checked, fixed), settings) in results.iter_mut().zip(fixes).zip(profiles) {
        let Some(fixed) = fixed else { continue };
        checked.unreadable.clone_from(&read.unreadable);
        checked.duplicates.clone_from(&read.duplicates);
        checked.documents = input_stream.documents.len();
        checked.changes = fixed.changes.len();
        for finding in &fixed.findings {
            match finding.kind {
                FindingKind::Warning => checked.warnings += 1,
                FindingKind::Note => checked.notes += 1,
                FindingKind::Skipped => checked.skipped += 1,
                FindingKind::Suppressed => checked.suppressed += 1,
            }
        }
        let result = Fixes {
            output: fixed.output.map(|written| written.text(input)),
            changes: &fixed.changes,
            findings: &fixed.findings,
        };
        check_read(input, &input_stream, &reading, result, settings, checked);
    }
    results
}

/// What kubeharden made of an input.
pub struct Fixes<'f> {
    pub output: Option<String>,
    pub changes: &'f [Change],
    pub findings: &'f [Finding],
}

/// Checks invariants a to e on `output`, what kubeharden made of `input` in `settings` with
/// `changes` and `findings`; also that the transforms' guarantees hold afterwards wherever no
/// finding of theirs excuses them.
pub fn check_result(
    input: &str,
    input_stream: &yaml::Stream<'_>,
    fixes: Fixes<'_>,
    settings: &Settings,
    checked: &mut Checked,
) {
    let reading = read_input(input, checked);
    check_read(input, input_stream, &reading, fixes, settings, checked);
}

/// [`check_result`] with the input already read by serde-saphyr.
fn check_read(
    input: &str,
    input_stream: &yaml::Stream<'_>,
    reading: &Option<(Vec<Value>, Reader)>,
    fixes: Fixes<'_>,
    settings: &Settings,
    checked: &mut Checked,
) {
    let Fixes {
        output,
        changes,
        findings,
    } = fixes;
    let input_text = Text::new(input);
    // The input and the output as serde-saphyr reads them (the output with the reader that
    // read the input).
    let reading = reading.as_ref().map(|(before, read)| {
        let after = output.as_deref().map(read);
        (before, after)
    });
    match &reading {
        Some((before, None)) => check_guarantees(before, findings, settings, checked),
        Some((_, Some(Ok(after)))) => check_guarantees(after, findings, settings, checked),
        Some((_, Some(Err(_)))) | None => {} // reported by invariant b
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
    if let Some((before, Some(after))) = &reading {
        check_data(before, after, input_stream, changes, checked);
    }

    let mut edits = edit_lines(input, input_stream, changes, checked);
    let reported = |span: &std::ops::Range<usize>| {
        let line = input_text.position(span.start).line;
        let comment = input[span.clone()].trim_end();
        findings.iter().any(|f| {
            f.line == line
                && f.message
                    .contains(&format!("the comment `{comment}` was on lines"))
        })
    };
    // A comment line right above a removed field or item goes with it, and is reported.
    for span in &input_stream.comments {
        if reported(span) && input_text.starts_line(span.start) {
            let line = input_text.position(span.start).line;
            edits.dropped.insert(line);
            edits.edited.insert(line);
        }
    }

    // c. Every comment is still there, in order, but those on lines that a removed field or
    // item filled entirely: they went with what they described, and the report says so.
    let mut cursor = 0;
    for span in &input_stream.comments {
        let line = input_text.position(span.start).line;
        if edits.dropped.contains(&line) {
            if !reported(span) {
                checked.failures.push(format!(
                    "c: the comment of line {line} was removed without a word in the report"
                ));
            }
            continue;
        }
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
    check_lines(input, &output, &edits, checked);

    // e. A second run changes nothing.
    match fix_text(&output, settings, ChangeDetail::Listed) {
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
    after: &Result<Vec<Value>, String>,
    input_stream: &yaml::Stream<'_>,
    changes: &[Change],
    checked: &mut Checked,
) {
    let after = match after {
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
        // Changes apply in order: each one's path and `old` describe the data as the changes
        // before it left it.
        let applied =
            parse_path(&change.path).and_then(|path| apply(&mut expected[doc], change, &path));
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
    for (i, (want, got)) in expected.iter().zip(after).enumerate() {
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

/// The lists changed so far, for reading the paths of later changes in the input: by document
/// and list path, which input item each current item is (`None` for an appended one).
#[derive(Default)]
struct InputItems {
    lists: BTreeMap<(usize, String), Vec<Option<usize>>>,
}

impl InputItems {
    fn key(document: usize, list: &[Step]) -> (usize, String) {
        (document, format!("{list:?}"))
    }

    /// `path` (as a change names it) as a path in the input, when it leads to an input node.
    fn to_input(&self, document: usize, path: &[Step]) -> Option<Vec<yaml::Step>> {
        let mut out = Vec::with_capacity(path.len());
        for (n, step) in path.iter().enumerate() {
            out.push(match step {
                Step::Key(k) => yaml::Step::Key(k.clone().into()),
                Step::Index(i) => {
                    let index = match self.lists.get(&Self::key(document, &path[..n])) {
                        Some(items) => (*items.get(*i)?)?,
                        None => *i,
                    };
                    yaml::Step::Index(index)
                }
            });
        }
        Some(out)
    }

    /// The list at `list`, as tracked from now on.
    fn list(
        &mut self,
        root: &yaml::Node<'_>,
        document: usize,
        list: &[Step],
    ) -> &mut Vec<Option<usize>> {
        let length = self
            .to_input(document, list)
            .and_then(|path| yaml::lookup(root, &path)?.items().map(<[_]>::len))
            .unwrap_or(0);
        self.lists
            .entry(Self::key(document, list))
            .or_insert_with(|| (0..length).map(Some).collect())
    }
}

/// The 1-based lines of the input from offset `start` to offset `end`.
fn line_span(text: &Text<'_>, start: usize, end: usize) -> Range<usize> {
    let first = text.position(start).line;
    let last = text.position(end.max(start + 1) - 1).line;
    first..last + 1
}

/// What a removal takes from the input.
struct Removed {
    /// The lines of the removed field or item: from its key, or the dash of its item, to its
    /// end.
    lines: Range<usize>,
    /// Whether it fills them entirely (nothing but blanks before it on its first line, nothing
    /// but a comment after it on its last), so that they go with it.
    whole: bool,
    /// In a flow collection, the line where the entry or item before it ends, which loses the
    /// `,` that separated them when nothing follows.
    comma: Option<usize>,
}

/// What `change` removes from the input, when it was in the input.
fn removed(
    text: &Text<'_>,
    root: &yaml::Node<'_>,
    items: &mut InputItems,
    change: &Change,
    path: &[Step],
) -> Option<Removed> {
    let whole = |start: usize, end: usize| {
        let rest = text.source[end..]
            .split('\n')
            .next()
            .unwrap_or_default()
            .trim();
        text.starts_line(start) && (rest.is_empty() || rest.starts_with('#'))
    };
    let line_of = |node: &yaml::Node<'_>| text.position(node.end().max(1) - 1).line;
    let (last, parent) = path.split_last()?;
    let parent_path = items.to_input(change.document, parent)?;
    let collection = yaml::lookup(root, &parent_path)?;
    let flow = matches!(
        collection.kind,
        yaml::NodeKind::Mapping {
            style: yaml::CollectionStyle::Flow,
            ..
        } | yaml::NodeKind::Sequence {
            style: yaml::CollectionStyle::Flow,
            ..
        }
    );
    match last {
        Step::Key(k) => {
            let entries = collection.entries()?;
            let at = entries
                .iter()
                .position(|(key, _)| key.as_str() == Some(k.as_str()))?;
            let (key, value) = &entries[at];
            // The list is gone: items appended to it later are new.
            items
                .lists
                .insert(InputItems::key(change.document, path), Vec::new());
            let end = value.end().max(key.end());
            Some(Removed {
                lines: line_span(text, key.full_start(), end),
                whole: whole(key.full_start(), end),
                comma: at
                    .checked_sub(1)
                    .filter(|_| flow)
                    .map(|p| line_of(&entries[p].1)),
            })
        }
        Step::Index(i) => {
            let list = items.list(root, change.document, parent);
            if *i >= list.len() {
                return None;
            }
            let index = list.remove(*i)?;
            let previous = i.checked_sub(1).and_then(|p| list[p]);
            let item = collection.items()?.get(index)?;
            let before = text.source[..item.full_start()].trim_end();
            let start = if before.ends_with('-') {
                before.len() - 1
            } else {
                item.full_start()
            };
            let comma = previous
                .filter(|_| flow)
                .and_then(|p| collection.items()?.get(p))
                .map(line_of);
            Some(Removed {
                lines: line_span(text, start, item.end()),
                whole: whole(start, item.end()),
                comma,
            })
        }
    }
}

/// Every scalar and key of `value`, as text.
fn words(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Map(entries) => entries.iter().for_each(|(k, v)| {
            words(k, out);
            words(v, out);
        }),
        Value::Seq(items) => items.iter().for_each(|i| words(i, out)),
        Value::Tagged(_, v) => words(v, out),
        Value::Str(s) => {
            out.insert(s.clone());
        }
        Value::Null | Value::Bytes(_) => {}
        v => {
            out.insert(v.to_string());
        }
    }
}

/// What the changes of one input may touch.
#[derive(Default)]
struct EditLines {
    /// The input lines an edit may change (1-based): each change's line, and every line of a
    /// removed field or item.
    edited: BTreeSet<usize>,
    /// The input lines that a removed field or item fills entirely, which go with it.
    dropped: BTreeSet<usize>,
    /// The input lines of a flow collection's entries or items that may lose their `,` when
    /// what follows them is removed.
    commas: BTreeSet<usize>,
    /// What an added line may hold: a key along an edited path, or a key or value written.
    tokens: BTreeSet<String>,
}

fn edit_lines(
    input: &str,
    input_stream: &yaml::Stream<'_>,
    changes: &[Change],
    checked: &mut Checked,
) -> EditLines {
    let text = Text::new(input);
    let mut edits = EditLines::default();
    let EditLines {
        edited,
        dropped,
        commas,
        tokens,
    } = &mut edits;
    let mut items = InputItems::default();
    for change in changes {
        edited.insert(change.line);
        let Ok(path) = parse_path(&change.path) else {
            continue; // reported by invariant b
        };
        for step in &path {
            if let Step::Key(k) = step {
                tokens.insert(k.clone());
            }
        }
        let Some(root) = input_stream.documents.get(change.document) else {
            continue;
        };
        match &change.new {
            Some(new) => {
                tokens.insert(new.clone());
                if let Ok(value) = read_value(new) {
                    words(&value, tokens);
                }
                if let (Some((Step::Index(_), list)), None) = (path.split_last(), &change.old) {
                    items.list(root, change.document, list).push(None);
                }
            }
            None => {
                if let Some(Removed {
                    lines,
                    whole,
                    comma,
                }) = removed(&text, root, &mut items, change, &path)
                {
                    if whole {
                        dropped.extend(lines.clone());
                    }
                    if !lines.contains(&change.line) {
                        checked.failures.push(format!(
                            "d: the removal of {} reports line {}, but it removes lines {}-{}",
                            change.path,
                            change.line,
                            lines.start,
                            lines.end - 1
                        ));
                    }
                    commas.extend(comma);
                    edited.extend(lines);
                }
            }
        }
    }
    edits
}

fn check_lines(input: &str, output: &str, edits: &EditLines, checked: &mut Checked) {
    let EditLines {
        edited,
        dropped,
        commas,
        tokens,
    } = edits;
    let input_lines = lines(input);
    // The lines that removed fields and items filled go first: left in, they could make the
    // diff pair a blank line or a `- ALL` of theirs with one that stays, and report the one
    // that stays as changed.
    let kept: Vec<usize> = (0..input_lines.len())
        .filter(|i| !dropped.contains(&(i + 1)))
        .collect();
    let old: Vec<&str> = kept.iter().map(|&i| input_lines[i]).collect();
    let new = lines(output);
    let line_break = Text::new(input).line_break();
    for (old_range, new_range) in changed_regions(&old, &new) {
        let mut added: Vec<&str> = new[new_range].to_vec();
        for i in old_range.map(|k| kept[k]) {
            let line = input_lines[i];
            // The input's last line, without a line break, gains one when lines follow it.
            let with_break = format!("{line}{line_break}");
            if i + 1 == input_lines.len()
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
            // And it loses that comma when what follows it is removed. The line diff may pair
            // the line without its comma with another line that reads the same (`]`), so it
            // is looked for in the whole output.
            if commas.contains(&(i + 1)) {
                if let Some(at) = added.iter().position(|a| gains_a_comma(a, line)) {
                    added.remove(at);
                    continue;
                }
                if new.iter().any(|a| gains_a_comma(a, line)) {
                    continue;
                }
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
        // Custom resources, as their projects document them: OpenShift, Argo Rollouts,
        // Knative Serving, OpenKruise (CloneSet, Advanced StatefulSet and DaemonSet), KEDA.
        ("apps.openshift.io", "DeploymentConfig")
        | ("argoproj.io", "Rollout")
        | ("serving.knative.dev", "Service" | "Configuration")
        | ("apps.kruise.io", "CloneSet" | "StatefulSet" | "DaemonSet") => {
            Some(&["spec", "template", "spec"])
        }
        ("keda.sh", "ScaledJob") => Some(&["spec", "jobTargetRef", "template", "spec"]),
        _ => None,
    }
}

/// A pod spec found by the independent reader.
pub struct Workload<'v> {
    /// `Kind/name`, as kubeharden's findings name the object.
    pub label: String,
    /// Where the pod spec is in the document, for messages: `spec.template.spec`, or
    /// `items[0].spec.template.spec` in a list.
    pub path: String,
    /// The pod spec.
    pub pod: &'v Value,
}

/// Every pod spec of a document: the root object's, or those of the items of a list (`v1` List,
/// or a typed list such as `apps/v1` DeploymentList whose items may leave out their apiVersion
/// and kind).
pub fn workloads(object: &Value) -> Vec<Workload<'_>> {
    let mut out = Vec::new();
    typed_workloads(object, None, String::new(), &mut out);
    out
}

/// A scalar as text, the way a manifest shows it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(_) | Value::Bool(_) | Value::Float(_) => Some(value.to_string()),
        _ => None,
    }
}

fn typed_workloads<'v>(
    object: &'v Value,
    implied: Option<(&str, &str)>,
    prefix: String,
    out: &mut Vec<Workload<'v>>,
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
                typed_workloads(item, implied, format!("{prefix}items[{i}]."), out);
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
        let name = object
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(scalar_text)
            .unwrap_or_else(|| "(unnamed)".to_owned());
        out.push(Workload {
            label: format!("{kind}/{name}"),
            path: format!("{prefix}{}", steps.join(".")),
            pod: node,
        });
    }
}

/// Whether a finding is one of the warnings a transform declares (`warn:` rules: a risk
/// reported, not an edit left undone), which excuses no guarantee.
fn declared_warning(finding: &Finding) -> bool {
    finding.kind == FindingKind::Warning
        && transform::find(finding.transform).is_some_and(|t| {
            t.rules
                .iter()
                .filter_map(|r| r.warn.as_deref())
                .any(|w| finding.message.contains(&format!(": {w}")))
        })
}

/// Whether a finding of `transform` (or about the whole workload) about the workload `label`
/// (or its container `container`) excuses that transform's guarantee there: a warning (an edit refused), a skip or a
/// suppression; not a note about a change that was made.
fn excused(findings: &[Finding], transform: &str, label: &str, container: Option<&str>) -> bool {
    findings.iter().any(|f| {
        (f.transform == transform || f.transform == transform::WHOLE_WORKLOAD)
            && f.kind != FindingKind::Note
            && !declared_warning(f)
            && (f.to_string().starts_with(&format!("{label}: "))
                || container.is_some_and(|c| {
                    f.to_string()
                        .starts_with(&format!("{label} container {c}: "))
                }))
    })
}

/// The value at a dotted path below `node`.
fn at<'v>(node: &'v Value, dotted: &str) -> Option<&'v Value> {
    dotted.split('.').try_fold(node, |n, k| n.get(k))
}

/// The strings of the list at a dotted path below `node`.
fn strings<'v>(node: &'v Value, dotted: &str) -> Vec<&'v str> {
    match at(node, dotted) {
        Some(Value::Seq(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Checks, with the independent reader, that what the transforms of `settings` guarantee holds
/// in `documents`, for each workload and container where no finding of the transform excuses
/// it. The default profile: no host namespace turned on; every container explicitly
/// unprivileged, without privilege escalation, dropping ALL capabilities and adding neither
/// NET_RAW nor ALL, with a read-only root filesystem, reading no Secret key through an env var;
/// no unmasked /proc; no seccomp Unconfined.
/// The restricted profile adds: pods run as non-root under a RuntimeDefault or Localhost seccomp
/// profile, no container sets `runAsNonRoot: false`, and containers add no capability but
/// NET_BIND_SERVICE.
pub fn check_guarantees(
    documents: &[Value],
    findings: &[Finding],
    settings: &Settings,
    checked: &mut Checked,
) {
    let runs = |id: &str| settings.transforms.iter().any(|t| t.id == id);
    let restricted = settings.profile == Profile::Restricted;
    for (d, document) in documents.iter().enumerate() {
        for Workload { label, path, pod } in workloads(document) {
            let mut failures = Vec::new();
            let mut fail = |what: String| {
                failures.push(format!(
                    "guarantee: non-empty document {d} (0-based), {label}: {path}.{what}"
                ))
            };
            let pod_level = |id: &str| runs(id) && !excused(findings, id, &label, None);
            if pod_level("no-host-namespaces") {
                for field in ["hostNetwork", "hostPID", "hostIPC"] {
                    if pod.get(field) == Some(&Value::Bool(true)) {
                        fail(format!("{field} is still true"));
                    }
                }
            }
            let seccomp = at(pod, "securityContext.seccompProfile.type").and_then(Value::as_str);
            if pod_level("no-unconfined-seccomp") && seccomp == Some("Unconfined") {
                fail("securityContext.seccompProfile.type is still Unconfined".into());
            }
            if pod_level("seccomp-runtime-default")
                && !matches!(seccomp, Some("RuntimeDefault" | "Localhost"))
            {
                fail(format!(
                    "securityContext.seccompProfile.type is {}, not RuntimeDefault",
                    seccomp.unwrap_or("absent")
                ));
            }
            let apparmor = at(pod, "securityContext.appArmorProfile.type").and_then(Value::as_str);
            if pod_level("apparmor-runtime-default")
                && !matches!(
                    apparmor,
                    Some("RuntimeDefault" | "Localhost" | "Unconfined")
                )
            {
                fail(format!(
                    "securityContext.appArmorProfile.type is {}, set by nothing",
                    apparmor.unwrap_or("absent")
                ));
            }
            // The pod runs as its namespace's default service account.
            let default_account = ["serviceAccountName", "serviceAccount"]
                .into_iter()
                .find_map(|key| {
                    pod.get(key)
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                })
                .is_none_or(|name| name == "default");
            if pod_level("no-service-account-token")
                && default_account
                && pod.get("automountServiceAccountToken") != Some(&Value::Bool(false))
            {
                fail(
                    "automountServiceAccountToken is not false for the default service account"
                        .into(),
                );
            }
            if restricted
                && pod_level("run-as-non-root")
                && at(pod, "securityContext.runAsNonRoot") != Some(&Value::Bool(true))
            {
                fail("securityContext.runAsNonRoot is not true".into());
            }
            for group in ["containers", "initContainers", "ephemeralContainers"] {
                let Some(Value::Seq(containers)) = pod.get(group) else {
                    continue;
                };
                for (i, container) in containers.iter().enumerate() {
                    if !matches!(container, Value::Map(_)) {
                        continue;
                    }
                    let name = container.get("name").and_then(scalar_text);
                    let mut guaranteed = |id: &str| {
                        if !runs(id) {
                            false
                        } else if excused(findings, id, &label, name.as_deref()) {
                            checked.exempt += 1;
                            false
                        } else {
                            checked.guaranteed += 1;
                            true
                        }
                    };
                    let field = |dotted: &str| at(container, &format!("securityContext.{dotted}"));
                    let shown = |v: Option<&Value>| v.map_or("absent".to_owned(), Value::to_string);
                    let here = format!("{group}[{i}].securityContext");
                    if guaranteed("no-privileged")
                        && field("privileged") != Some(&Value::Bool(false))
                    {
                        fail(format!(
                            "{here}.privileged is {}, not false",
                            shown(field("privileged"))
                        ));
                    }
                    if guaranteed("default-proc-mount")
                        && field("procMount").and_then(Value::as_str) == Some("Unmasked")
                    {
                        fail(format!("{here}.procMount is still Unmasked"));
                    }
                    if guaranteed("no-privilege-escalation")
                        && field("allowPrivilegeEscalation") != Some(&Value::Bool(false))
                    {
                        fail(format!(
                            "{here}.allowPrivilegeEscalation is {}, not false, and no skip was reported",
                            shown(field("allowPrivilegeEscalation"))
                        ));
                    }
                    if guaranteed("drop-capabilities") {
                        let context = container.get("securityContext").unwrap_or(&Value::Null);
                        if !strings(context, "capabilities.drop").contains(&"ALL") {
                            fail(format!("{here}.capabilities.drop does not hold ALL"));
                        }
                        let add = strings(context, "capabilities.add");
                        let banned: Vec<&&str> = add
                            .iter()
                            .filter(|c| {
                                if restricted {
                                    **c != "NET_BIND_SERVICE"
                                } else {
                                    matches!(**c, "NET_RAW" | "CAP_NET_RAW" | "ALL")
                                }
                            })
                            .collect();
                        if !banned.is_empty() {
                            fail(format!("{here}.capabilities.add still holds {banned:?}"));
                        }
                    }
                    if guaranteed("read-only-root-filesystem")
                        && field("readOnlyRootFilesystem") != Some(&Value::Bool(true))
                    {
                        fail(format!(
                            "{here}.readOnlyRootFilesystem is {}, not true",
                            shown(field("readOnlyRootFilesystem"))
                        ));
                    }
                    if guaranteed("no-unconfined-seccomp")
                        && field("seccompProfile.type").and_then(Value::as_str)
                            == Some("Unconfined")
                    {
                        fail(format!("{here}.seccompProfile.type is still Unconfined"));
                    }
                    if group != "ephemeralContainers" && guaranteed("secrets-as-files") {
                        let env = match container.get("env") {
                            Some(Value::Seq(env)) => env.as_slice(),
                            _ => &[],
                        };
                        for (e, entry) in env.iter().enumerate() {
                            if at(entry, "valueFrom.secretKeyRef").is_some() {
                                fail(format!(
                                    "{group}[{i}].env[{e}] still reads a Secret key into an env var"
                                ));
                            }
                        }
                    }
                    if restricted
                        && guaranteed("run-as-non-root")
                        && field("runAsNonRoot") == Some(&Value::Bool(false))
                    {
                        fail(format!("{here}.runAsNonRoot is still false"));
                    }
                }
            }
            checked.failures.extend(failures);
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

/// Every file below `dir` with its bytes, by relative path.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The helm binary, or `None` (with a message) outside CI when there is none.
pub fn helm() -> Option<PathBuf> {
    rendered::tool("helm", "KUBEHARDEN_HELM")
}
