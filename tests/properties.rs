//! Property test: real manifests (from `../shared/corpus`, or a few built-in ones when it is
//! absent) given generated security settings and re-written in generated styles (indentation
//! width, indentless or indented lists, block, flow or multi-line flow `securityContext`, flow
//! container lists, anchored and aliased security contexts, comments between keys and after
//! values, blank lines, quoted keys, null spellings, CRLF, a byte-order mark, a missing final
//! newline, `---` and `...`, several documents, JSON), then checked with the invariants of
//! `common` on every variant.
//!
//! The number of cases is 300, `PROPTEST_CASES` overrides it; the seed is fixed so that CI is
//! reproducible, `PROPTEST_RNG_SEED=N` explores others.

mod common;

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use common::{Value, check, corpus_dir, manifests, read_independently, workloads};
use kubeharden::transform::{Profile, Settings};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// Manifests used when the corpus is absent (and mixed in when it is there): each workload
/// kind's pod spec path, a List, a typed list whose items leave out apiVersion and kind, init
/// containers, host namespaces, existing security contexts, and an object that is no workload.
const BUILT_IN: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: "frontend"}
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      initContainers:
        - name: migrate
          image: "registry.example.com/web:1.2.3"
          command: ["sh", "-c", "echo 'migrating: done' # not a comment"]
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - containerPort: 80
              protocol: TCP
          env:
            - name: MODE
              value: "on"
            - name: EMPTY
              value: ""
          securityContext:
            runAsNonRoot: true
            privileged: true
        - name: sidecar
          image: envoy:1.30
---
apiVersion: v1
kind: Pod
metadata:
  name: builder
spec:
  hostPID: true
  containers:
    - name: buildkit
      image: moby/buildkit:v0.16.0
      args: ["--oci-worker-no-process-sandbox"]
      securityContext:
        procMount: Unmasked
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          hostNetwork: true
          containers:
            - name: job
              image: busybox:1.36
              resources:
                limits: {cpu: 500m, memory: 128Mi}
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata:
      name: agent
    spec:
      selector:
        matchLabels: {app: agent}
      template:
        metadata:
          labels: {app: agent}
        spec:
          hostIPC: true
          containers:
            - name: agent
              image: agent:2.1
              securityContext: {}
  - apiVersion: v1
    kind: Service
    metadata:
      name: agent
    spec:
      ports:
        - port: 9100
---
apiVersion: apps/v1
kind: StatefulSetList
items:
  - metadata:
      name: db
    spec:
      serviceName: db
      selector:
        matchLabels: {app: db}
      template:
        metadata:
          labels: {app: db}
        spec:
          containers:
            - name: db
              image: postgres:16
              securityContext:
                privileged: true
                runAsUser: 999
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  privileged: "true"
  config.yaml: "securityContext:\n  privileged: true\n"
"#;

/// The documents the variants start from: the built-in ones, then every corpus document with
/// a pod spec that serde-saphyr reads.
fn documents() -> &'static [Value] {
    static DOCUMENTS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let mut documents = built_in();
        match corpus_dir() {
            None => println!(
                "properties: ../shared/corpus is absent; using {} built-in manifests",
                documents.len()
            ),
            Some(dir) => {
                for file in manifests(&dir) {
                    let Ok(text) = std::fs::read_to_string(dir.join(&file)) else {
                        continue;
                    };
                    let Ok(values) = read_independently(&text) else {
                        continue;
                    };
                    documents.extend(values.into_iter().filter(|v| !workloads(v).is_empty()));
                }
                println!(
                    "properties: {} documents (corpus workloads and built-in manifests)",
                    documents.len()
                );
            }
        }
        documents
    })
}

fn built_in() -> Vec<Value> {
    read_independently(BUILT_IN).expect("the built-in manifests read")
}

/// How a variant is written.
#[derive(Debug, Clone)]
struct Style {
    indent: usize,
    indentless: bool,
    /// `securityContext` mappings written `{key: value}`.
    flow_security_context: bool,
    /// Those flow mappings spread over several lines, an entry a line.
    flow_multiline: bool,
    /// Container lists written `[{name: a, ...}, ...]` on one line.
    flow_containers: bool,
    /// Comment lines before keys, when a choice says so.
    comment_lines: bool,
    /// Comments after values, when a choice says so.
    end_comments: bool,
    /// Blank lines before keys, when a choice says so.
    blank_lines: bool,
    /// Keys in single quotes.
    quote_keys: bool,
    /// `securityContext` mappings anchored (`&sc1`), and later equal ones written as aliases.
    anchors: bool,
    /// How null is written: `null`, `~` or nothing.
    null: &'static str,
    crlf: bool,
    bom: bool,
    final_newline: bool,
    /// `---` before the first document.
    leading_marker: bool,
    /// `...` after each document.
    document_end: bool,
    /// The whole stream as JSON (no comments).
    json: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop_oneof![Just(2usize), Just(4)],
        any::<[bool; 13]>(),
        prop_oneof![Just("null"), Just("~"), Just("")],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(indent, b, null, json, flow_containers)| Style {
            indent,
            indentless: b[0],
            flow_security_context: b[1],
            flow_multiline: b[2],
            flow_containers,
            comment_lines: b[3],
            end_comments: b[4],
            blank_lines: b[5],
            quote_keys: b[6],
            anchors: b[7],
            null,
            crlf: b[8],
            bom: b[9],
            final_newline: b[10],
            leading_marker: b[11],
            document_end: b[12],
            json,
        })
}

/// A cycle of generated choices.
struct Choices<'c> {
    bytes: &'c [u8],
    at: usize,
}

impl Choices<'_> {
    fn next(&mut self, n: u8) -> u8 {
        let b = self.bytes[self.at % self.bytes.len()];
        self.at += 1;
        b % n
    }
}

fn key(k: &str) -> Value {
    Value::Str(k.to_owned())
}

fn set(map: &mut Value, k: &str, v: Option<Value>) {
    let Value::Map(entries) = map else { return };
    let at = entries.iter().position(|(e, _)| *e == key(k));
    match (at, v) {
        (Some(i), Some(v)) => entries[i].1 = v,
        (None, Some(v)) => entries.push((key(k), v)),
        (Some(i), None) => {
            entries.remove(i);
        }
        (None, None) => {}
    }
}

/// Gives the pod specs and containers of `document` generated security settings.
fn harden_or_weaken(document: &mut Value, choices: &mut Choices<'_>) {
    fn pods<'v>(
        object: &'v mut Value,
        implied: Option<(&str, &str)>,
        out: &mut Vec<&'v mut Value>,
    ) {
        let field = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(api_version), Some(kind)) = (
            field("apiVersion").or(implied.map(|(a, _)| a.to_owned())),
            field("kind").or(implied.map(|(_, k)| k.to_owned())),
        ) else {
            return;
        };
        if let Some(item_kind) = kind.strip_suffix("List") {
            let implied = (!item_kind.is_empty()).then_some((api_version.as_str(), item_kind));
            if let Some(Value::Seq(items)) = object.get_mut("items") {
                items.iter_mut().for_each(|item| pods(item, implied, out));
            }
            return;
        }
        let Some(steps) = common::pod_spec_path(&api_version, &kind) else {
            return;
        };
        let mut node = Some(object);
        for step in steps {
            node = node.and_then(|n| n.get_mut(step));
        }
        if let Some(pod @ Value::Map(_)) = node {
            out.push(pod);
        }
    }
    let strs = |items: &[&str]| Value::Seq(items.iter().map(|s| Value::Str((*s).into())).collect());
    let map = |pairs: Vec<(&str, Value)>| {
        Value::Map(pairs.into_iter().map(|(k, v)| (key(k), v)).collect())
    };
    // Sometimes a suppression: the resource's annotation turns off one transform, or all.
    if choices.next(8) == 0 {
        let ids = [
            "all",
            "no-privileged",
            "drop-capabilities",
            "read-only-root-filesystem",
            "no-privilege-escalation,no-host-namespaces",
        ];
        let ids = ids[usize::from(choices.next(ids.len() as u8))];
        if let Some(metadata @ Value::Map(_)) = document.get_mut("metadata") {
            let annotations = map(vec![("kubeharden.dev/skip", Value::Str(ids.into()))]);
            set(metadata, "annotations", Some(annotations));
        }
    }
    // A Deployment's strategy.
    if document.get("kind").and_then(Value::as_str) == Some("Deployment")
        && let Some(spec @ Value::Map(_)) = document.get_mut("spec")
    {
        match choices.next(4) {
            0 => set(
                spec,
                "strategy",
                Some(map(vec![("type", Value::Str("Recreate".into()))])),
            ),
            1 => set(spec, "strategy", None),
            _ => {}
        }
    }
    let mut found = Vec::new();
    pods(document, None, &mut found);
    for pod in found {
        for field in ["hostNetwork", "hostPID", "hostIPC"] {
            match choices.next(4) {
                0 => set(pod, field, Some(Value::Bool(true))),
                1 => set(pod, field, Some(Value::Bool(false))),
                2 => set(pod, field, None),
                _ => {}
            }
        }
        let seccomp = |kind: &str| map(vec![("type", Value::Str(kind.into()))]);
        let pod_context = match choices.next(6) {
            0 => Some(Some(map(vec![("seccompProfile", seccomp("Unconfined"))]))),
            1 => Some(Some(map(vec![("runAsUser", Value::Int(0))]))),
            2 => Some(Some(map(vec![
                ("runAsNonRoot", Value::Bool(true)),
                (
                    "seccompProfile",
                    map(vec![
                        ("type", Value::Str("Localhost".into())),
                        ("localhostProfile", Value::Str("profiles/audit.json".into())),
                    ]),
                ),
            ]))),
            3 => Some(None),
            _ => None, // as it was
        };
        if let Some(context) = pod_context {
            set(pod, "securityContext", context);
        }
        // A volume already called `tmp`, so that the one added for /tmp needs another name.
        if choices.next(6) == 0 {
            let volume = map(vec![
                ("name", Value::Str("tmp".into())),
                ("emptyDir", Value::Map(Vec::new())),
            ]);
            match pod.get_mut("volumes") {
                Some(Value::Seq(volumes)) => volumes.push(volume),
                _ => set(pod, "volumes", Some(Value::Seq(vec![volume]))),
            }
        }
        // Half the time every container gets the same setting, which anchors can then share.
        let shared = (choices.next(2) == 0).then(|| choices.next(16));
        for group in ["containers", "initContainers"] {
            let Some(Value::Seq(containers)) = pod.get_mut(group) else {
                continue;
            };
            for container in containers.iter_mut() {
                let context = |pairs: Vec<(&str, Value)>| Some(map(pairs));
                let (t, f) = (|| Value::Bool(true), || Value::Bool(false));
                let unmasked = || Value::Str("Unmasked".into());
                let new = match shared.unwrap_or_else(|| choices.next(16)) {
                    0 => None,
                    1 => Some(Value::Null),
                    2 => context(vec![]),
                    3 => context(vec![("privileged", t())]),
                    4 => context(vec![("privileged", f())]),
                    5 => context(vec![("runAsUser", Value::Int(1000))]),
                    6 => context(vec![("privileged", t()), ("procMount", unmasked())]),
                    7 => context(vec![
                        ("procMount", unmasked()),
                        ("readOnlyRootFilesystem", t()),
                    ]),
                    8 => context(vec![
                        ("allowPrivilegeEscalation", t()),
                        ("readOnlyRootFilesystem", f()),
                    ]),
                    9 => context(vec![(
                        "capabilities",
                        map(vec![("add", strs(&["NET_RAW", "SYS_ADMIN"]))]),
                    )]),
                    10 => context(vec![
                        ("runAsNonRoot", f()),
                        (
                            "capabilities",
                            map(vec![
                                ("add", strs(&["NET_BIND_SERVICE", "NET_RAW", "CHOWN"])),
                                ("drop", strs(&["NET_RAW"])),
                            ]),
                        ),
                    ]),
                    11 => context(vec![
                        ("seccompProfile", seccomp("Unconfined")),
                        ("runAsUser", Value::Int(0)),
                    ]),
                    12 => context(vec![
                        ("privileged", f()),
                        ("allowPrivilegeEscalation", f()),
                        ("readOnlyRootFilesystem", t()),
                        (
                            "capabilities",
                            map(vec![("add", strs(&["ALL"])), ("drop", strs(&["ALL"]))]),
                        ),
                    ]),
                    13 => {
                        // Something already mounted at /tmp.
                        let mount = map(vec![
                            ("name", Value::Str("scratch".into())),
                            ("mountPath", Value::Str("/tmp/".into())),
                        ]);
                        match container.get_mut("volumeMounts") {
                            Some(Value::Seq(mounts)) => mounts.push(mount),
                            _ => set(container, "volumeMounts", Some(Value::Seq(vec![mount]))),
                        }
                        continue;
                    }
                    _ => continue, // as it was
                };
                set(container, "securityContext", new);
            }
        }
    }
}

/// Whether a string can be written plain and read back as the same string.
fn plain(s: &str) -> bool {
    let keyword = matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
    );
    !keyword
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn quoted(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A variant's writer.
struct Writer<'s, 'c, 'b> {
    style: &'s Style,
    choices: &'c mut Choices<'b>,
    out: String,
    comments: usize,
    /// Anchored `securityContext` values and their names.
    anchored: Vec<(Value, String)>,
}

impl Writer<'_, '_, '_> {
    fn scalar(&self, v: &Value) -> String {
        match v {
            Value::Null => self.style.null.to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => format!("{x:?}"),
            Value::Str(s) if plain(s) => s.clone(),
            Value::Str(s) => quoted(s),
            Value::Bytes(b) => quoted(&format!("{b:?}")),
            Value::Tagged(_, v) => self.flow(v),
            Value::Seq(_) | Value::Map(_) => self.flow(v),
        }
    }

    fn flow(&self, v: &Value) -> String {
        match v {
            Value::Seq(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| self.flow(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", self.key(k), self.flow(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Null => "null".to_owned(),
            v => self.scalar(v),
        }
    }

    fn key(&self, k: &Value) -> String {
        match k {
            Value::Str(s) if self.style.quote_keys => format!("'{}'", s.replace('\'', "''")),
            Value::Str(_) | Value::Int(_) | Value::Bool(_) => self.scalar(k),
            other => quoted(&other.to_string()),
        }
    }

    /// Maybe a comment line or a blank line, before a key or an item at `column`.
    fn before_entry(&mut self, column: usize) {
        if self.style.blank_lines && self.choices.next(5) == 0 {
            self.out.push('\n');
        }
        if self.style.comment_lines && self.choices.next(4) == 0 {
            self.comments += 1;
            let n = self.comments;
            self.out
                .push_str(&format!("{}# note {n}: keep this\n", " ".repeat(column)));
        }
    }

    /// Maybe a comment at the end of the current line.
    fn end_comment(&mut self) {
        if self.style.end_comments && self.choices.next(4) == 0 {
            self.comments += 1;
            let n = self.comments;
            let gap = " ".repeat(1 + usize::from(self.choices.next(3)));
            self.out.push_str(&format!("{gap}# end {n}"));
        }
    }

    /// Ends the current line, maybe with a comment.
    fn end_line(&mut self) {
        self.end_comment();
        self.out.push('\n');
    }

    /// `v` after `key:` at `column`; `context` when the key is `securityContext`, `list` when
    /// it is a list of containers.
    fn value_after_key(&mut self, v: &Value, column: usize, context: bool, list: bool) {
        if list && self.style.flow_containers {
            let text = self.flow(v);
            self.out.push(' ');
            self.out.push_str(&text);
            self.end_line();
            return;
        }
        let anchorable = context
            && self.style.anchors
            && matches!(v, Value::Map(entries) if !entries.is_empty());
        if anchorable {
            if let Some((_, name)) = self.anchored.iter().find(|(a, _)| a == v) {
                let alias = format!(" *{name}");
                self.out.push_str(&alias);
                self.end_line();
                return;
            }
            if self.choices.next(2) == 0 {
                let name = format!("sc{}", self.anchored.len() + 1);
                self.out.push_str(&format!(" &{name}"));
                self.anchored.push((v.clone(), name));
            }
        }
        match v {
            Value::Map(entries)
                if !entries.is_empty() && context && self.style.flow_security_context =>
            {
                if self.style.flow_multiline {
                    let pad = " ".repeat(column + self.style.indent);
                    self.out.push_str(" {");
                    self.end_line();
                    for (i, (k, v)) in entries.iter().enumerate() {
                        let comma = if i + 1 < entries.len() { "," } else { "" };
                        let entry = format!("{pad}{}: {}{comma}", self.key(k), self.flow(v));
                        self.out.push_str(&entry);
                        self.end_line();
                    }
                    self.out.push_str(&format!("{pad}}}"));
                } else {
                    let text = self.flow(v);
                    self.out.push(' ');
                    self.out.push_str(&text);
                }
                self.end_line();
            }
            Value::Map(entries) if !entries.is_empty() => {
                self.end_line();
                self.mapping(entries, column + self.style.indent);
            }
            Value::Seq(items) if !items.is_empty() => {
                self.end_line();
                let dash = if self.style.indentless {
                    column
                } else {
                    column + self.style.indent
                };
                self.sequence(items, dash);
            }
            v => {
                let text = self.scalar(v);
                if !text.is_empty() {
                    self.out.push(' ');
                    self.out.push_str(&text);
                }
                self.end_line();
            }
        }
    }

    fn mapping(&mut self, entries: &[(Value, Value)], column: usize) {
        for (k, v) in entries {
            self.before_entry(column);
            let key = self.key(k);
            self.out.push_str(&format!("{}{key}:", " ".repeat(column)));
            let context = matches!(k, Value::Str(s) if s == "securityContext");
            let list = matches!(k, Value::Str(s) if s == "containers" || s == "initContainers");
            self.value_after_key(v, column, context, list);
        }
    }

    fn sequence(&mut self, items: &[Value], dash: usize) {
        for item in items {
            self.before_entry(dash);
            let start = self.out.len();
            match item {
                Value::Map(entries) if !entries.is_empty() => {
                    self.mapping(entries, dash + 2);
                }
                Value::Seq(items) if !items.is_empty() => self.sequence(items, dash + 2),
                v => {
                    let text = match self.scalar(v) {
                        t if t.is_empty() => "null".to_owned(),
                        t => t,
                    };
                    self.out
                        .push_str(&format!("{}{text}", " ".repeat(dash + 2)));
                    self.end_line();
                }
            }
            // The first line of the item takes the dash; a blank line before its first key
            // stays, the dash goes on the line after it.
            let first = start + self.out[start..].find(|c| c != '\n').unwrap_or(0);
            self.out
                .replace_range(first..first + dash + 2, &format!("{}- ", " ".repeat(dash)));
        }
    }

    fn json(&self, v: &Value, column: usize) -> String {
        let pad = " ".repeat(column + self.style.indent);
        match v {
            Value::Map(entries) if !entries.is_empty() => {
                let body: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| {
                        let k = match k {
                            Value::Str(s) => quoted(s),
                            other => quoted(&other.to_string()),
                        };
                        format!("{pad}{k}: {}", self.json(v, column + self.style.indent))
                    })
                    .collect();
                format!("{{\n{}\n{}}}", body.join(",\n"), " ".repeat(column))
            }
            Value::Seq(items) if !items.is_empty() => {
                let body: Vec<String> = items
                    .iter()
                    .map(|i| format!("{pad}{}", self.json(i, column + self.style.indent)))
                    .collect();
                format!("[\n{}\n{}]", body.join(",\n"), " ".repeat(column))
            }
            Value::Map(_) => "{}".to_owned(),
            Value::Seq(_) => "[]".to_owned(),
            Value::Null => "null".to_owned(),
            Value::Str(s) => quoted(s),
            Value::Bytes(b) => quoted(&format!("{b:?}")),
            Value::Tagged(_, v) => self.json(v, column),
            v => self.scalar(v),
        }
    }
}

/// Writes `documents` in `style`.
fn write(documents: &[Value], style: &Style, choices: &mut Choices<'_>) -> String {
    let mut writer = Writer {
        style,
        choices,
        out: String::new(),
        comments: 0,
        anchored: Vec::new(),
    };
    for (i, document) in documents.iter().enumerate() {
        if i > 0 || style.leading_marker {
            writer.out.push_str("---\n");
        }
        writer.anchored.clear(); // anchors belong to their document
        match document {
            v if style.json => {
                let text = writer.json(v, 0);
                writer.out.push_str(&text);
                writer.out.push('\n');
            }
            Value::Map(entries) if !entries.is_empty() => writer.mapping(entries, 0),
            other => {
                let text = writer.flow(other);
                writer.out.push_str(&text);
                writer.out.push('\n');
            }
        }
        if style.document_end {
            writer.out.push_str("...\n");
        }
    }
    let mut text = writer.out;
    if !style.final_newline {
        text.pop();
    }
    if style.crlf {
        text = text.replace('\n', "\r\n");
    }
    if style.bom {
        text.insert(0, '\u{feff}');
    }
    text
}

fn config() -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 300;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x6b75_6265);
    }
    config
}

/// Counts over the cases run, for the summary line.
#[derive(Default)]
struct Tally {
    cases: usize,
    restricted: usize,
    changed: usize,
    changes: usize,
    warnings: usize,
    skipped: usize,
    suppressed: usize,
    guaranteed: usize,
    exempt: usize,
    documents: usize,
}

#[test]
fn reformatted_manifests_keep_the_invariants() {
    let started = Instant::now();
    let all = documents();
    let built_in = built_in().len();
    let tally = Mutex::new(Tally::default());
    // A quarter of the documents are built-in ones, richer in containers and edge cases.
    let pick =
        (prop::bool::weighted(0.25), any::<prop::sample::Index>()).prop_map(move |(own, index)| {
            if own {
                index.index(built_in)
            } else {
                index.index(all.len())
            }
        });
    let strategy = (
        prop::collection::vec(pick, 1..=2),
        style(),
        prop::collection::vec(any::<u8>(), 1..64),
        any::<bool>(),
    );
    let default = Settings::of_profile(Profile::Default);
    let restricted = Settings::of_profile(Profile::Restricted);
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |(picks, style, choices, strict)| {
        let mut choices = Choices {
            bytes: &choices,
            at: 0,
        };
        let mut chosen: Vec<Value> = picks
            .iter()
            .map(|&p| all[p].clone())
            .collect();
        for document in &mut chosen {
            harden_or_weaken(document, &mut choices);
        }
        let text = write(&chosen, &style, &mut choices);
        let settings = if strict { &restricted } else { &default };
        let checked = check(&text, settings);
        {
            let mut tally = tally.lock().unwrap();
            tally.cases += 1;
            tally.restricted += usize::from(strict);
            tally.changed += usize::from(checked.changed);
            tally.changes += checked.changes;
            tally.warnings += checked.warnings;
            tally.skipped += checked.skipped;
            tally.suppressed += checked.suppressed;
            tally.guaranteed += checked.guaranteed;
            tally.exempt += checked.exempt;
            tally.documents += checked.documents;
        }
        prop_assert!(
            checked.refused.is_none(),
            "kubeharden refused a valid variant: {}\n--- variant\n{text}",
            checked.refused.unwrap_or_default()
        );
        prop_assert!(
            checked.unreadable.is_none() && checked.duplicates.is_none(),
            "serde-saphyr cannot read the variant (a bug of this test's writer): {:?}\n--- variant\n{text}",
            checked.unreadable.or(checked.duplicates)
        );
        prop_assert!(
            checked.failures.is_empty(),
            "broken invariants ({} profile):\n{}\n--- variant\n{text}\n--- output\n{}",
            settings.profile,
            checked.failures.join("\n"),
            checked.output.unwrap_or_else(|| "(unchanged)".into())
        );
        Ok(())
    });
    let tally = tally.into_inner().unwrap();
    println!(
        "properties: {} variants run (shrinking included; {} in the restricted profile), {} documents, {} changed, {} changes; findings: {} warnings, {} skipped, {} suppressed; guarantees checked {} times, excused by a finding {} times; in {:.1?}",
        tally.cases,
        tally.restricted,
        tally.documents,
        tally.changed,
        tally.changes,
        tally.warnings,
        tally.skipped,
        tally.suppressed,
        tally.guaranteed,
        tally.exempt,
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        tally.changed > tally.cases / 4
            && tally.warnings > 0
            && tally.skipped > 0
            && tally.suppressed > 0
            && tally.restricted > 0,
        "the variants rarely exercise edits ({} of {} changed, {} warnings, {} skipped, {} suppressed, {} restricted); the generator is broken",
        tally.changed,
        tally.cases,
        tally.warnings,
        tally.skipped,
        tally.suppressed,
        tally.restricted
    );
}

/// The checks are not vacuous: outputs broken in each way the invariants forbid are caught.
#[test]
fn the_checks_catch_broken_outputs() {
    use kubeharden::fix::{ChangeDetail, fix_text};
    use kubeharden::yaml::{Text, parse};

    let input = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web # the name\nspec:\n  hostPID: true\n  containers:\n    - name: web\n      image: nginx:1.27\n      securityContext:\n        privileged: true # to be fixed\n        capabilities:\n          add:\n            - CHOWN\n            # for ping\n            - NET_RAW\n";
    let settings = Settings::default();
    let fixed = fix_text(input, &settings, ChangeDetail::Listed).expect("the input is fixed");
    let good = fixed
        .output
        .as_ref()
        .expect("the input changes")
        .text(input);
    let text = Text::new(input);
    let stream = parse(&text, true).unwrap();
    let failures = |output: Option<String>| {
        let mut checked = common::Checked::default();
        let fixes = common::Fixes {
            output,
            changes: &fixed.changes,
            findings: &fixed.findings,
        };
        common::check_result(input, &stream, fixes, &settings, &mut checked);
        checked.failures
    };
    assert_eq!(failures(Some(good.clone())), Vec::<String>::new());

    let broken = [
        ("a", good.replace("containers:", "containers: [")),
        ("b", good.replace("nginx:1.27", "nginx:latest")),
        ("c", good.replace(" # the name", "")),
        ("d", good.replace("kind: Pod\n", "kind: Pod\n\n")),
        ("d", good.replace("kind: Pod\n", "kind: Pod\r\n")),
        ("d", good.replace("  name: web", "  name:   web")),
        ("e", good.replace("privileged: false", "privileged: true")),
        ("guarantee", good.replace("hostPID: false", "hostPID: true")),
        // An appended item, a removed item, a created list, a written value.
        ("b", good.replace("mountPath: /tmp", "mountPath: /var/tmp")),
        (
            "b",
            good.replace("- CHOWN\n", "- CHOWN\n            - NET_RAW\n"),
        ),
        ("b", good.replace("- CHOWN\n", "")),
        (
            "guarantee",
            good.replace(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
            ),
        ),
        (
            "guarantee",
            good.replace(
                "allowPrivilegeEscalation: false",
                "allowPrivilegeEscalation: true",
            ),
        ),
        ("guarantee", good.replace("- ALL", "- KILL")),
        ("d", good.replace("- CHOWN\n", "- CHOWN # kept\n")),
    ];
    for (invariant, output) in broken {
        assert_ne!(output, good, "the breakage of {invariant} did not apply");
        let found = failures(Some(output.clone()));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("{invariant}:"))),
            "invariant {invariant} missed a broken output:\n{output}\nfailures: {found:#?}"
        );
    }
    // Changes not made at all: the guarantees catch them.
    let found = failures(None);
    assert!(
        found.iter().any(|f| f.starts_with("guarantee:")),
        "the guarantees missed an unfixed input: {found:#?}"
    );
    // A comment that went with a removed item, not reported.
    let unreported: Vec<_> = fixed
        .findings
        .iter()
        .filter(|f| !f.message.contains("# for ping"))
        .cloned()
        .collect();
    assert_ne!(
        unreported.len(),
        fixed.findings.len(),
        "the comment is reported"
    );
    let mut checked = common::Checked::default();
    let fixes = common::Fixes {
        output: Some(good),
        changes: &fixed.changes,
        findings: &unreported,
    };
    common::check_result(input, &stream, fixes, &settings, &mut checked);
    assert!(
        checked.failures.iter().any(|f| f.starts_with("c:")),
        "invariant c missed a comment removed silently: {:#?}",
        checked.failures
    );
}
