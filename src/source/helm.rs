//! Helm charts as rendered sources: rendered by the real `helm template`, planned on the
//! rendered manifests, the changes mapped back into the chart's `values.yaml`, verified by
//! rendering the edited chart again.
//!
//! Where a rendered field comes from is found by probing, not by reading templates: the chart is
//! rendered once more with a values overlay that puts a marker key (`khprobe-N`) into every
//! mapping of its values and a marker item into every empty list; a marker met in the rendered
//! output at some path says which values subtree a template emitted whole there
//! (`toYaml .Values.x | nindent N`, `with .Values.x`). A change at or below such a path becomes
//! an edit of that subtree in `values.yaml`. Any other change (literal YAML in a template, a
//! vendored subchart's workload) is reported as a warning with no edit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    Difference, SourceEdit, apply, differences, first_mismatch, owned_difference, template, within,
};
use crate::transform::{self, Change, Finding, FindingKind, Settings, Suppressions};
use crate::yaml::{self, CollectionStyle, Guard, Node, NodeKind, Step, Text, path_to_string};

/// The file every chart holds; a folder holding it is a chart.
pub const CHART_FILE: &str = "Chart.yaml";

/// The values file of a chart, where mapped changes are written.
const VALUES_FILE: &str = "values.yaml";

/// The release name charts are rendered under; it only shows in names, which are not edited.
const RELEASE: &str = "kubeharden";

/// The prefix of probe markers: keys in mappings, items in empty lists.
const MARKER: &str = "khprobe-";

/// Whether `folder` is a Helm chart.
pub fn is_chart(folder: &Path) -> bool {
    folder.join(CHART_FILE).is_file()
}

/// Whether the chart in `folder` is a library chart (`type: library`): it renders nothing of
/// its own and is never edited.
fn is_library(folder: &Path) -> bool {
    std::fs::read_to_string(folder.join(CHART_FILE))
        .is_ok_and(|text| text.lines().any(|l| l.trim_end() == "type: library"))
}

/// The helm binary to render with.
#[derive(Debug, Clone)]
pub struct Helm {
    binary: PathBuf,
}

impl Helm {
    /// The helm named (by `--helm` or the configuration), else `$KUBEHARDEN_HELM`, else `helm`
    /// on `PATH`; an error saying how to install it when there is none.
    pub fn find(named: Option<&Path>) -> Result<Helm, String> {
        super::find_tool(named, "KUBEHARDEN_HELM", "helm", INSTALL_HINT)
            .map(|binary| Helm { binary })
    }

    /// The helm binary's path.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `helm template` of `chart` with `values` files in order: the rendered manifests, or
    /// helm's error in one line.
    fn template(&self, chart: &Path, values: &[PathBuf]) -> Result<String, String> {
        self.run_template(chart, values, false)
    }

    /// The default values of the vendored subchart `name` of `chart` (a folder or an archive
    /// `NAME-VERSION.tgz` in `charts/`), by `helm show values`; none when it cannot be read.
    fn subchart_values(&self, chart: &Path, name: &str) -> Option<String> {
        let folder = chart.join("charts");
        let location = std::fs::read_dir(&folder)
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
                file == name
                    || file
                        .strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|rest| rest.ends_with(".tgz"))
            })?;
        let output = Command::new(&self.binary)
            .arg("show")
            .arg("values")
            .arg(location)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8(output.stdout).ok())
            .flatten()
    }

    /// `helm template` for a probe: the chart's values schema, which rejects marker keys, is
    /// not checked.
    fn template_unchecked(&self, chart: &Path, values: &[PathBuf]) -> Result<String, String> {
        self.run_template(chart, values, true)
    }

    fn run_template(
        &self,
        chart: &Path,
        values: &[PathBuf],
        skip_schema: bool,
    ) -> Result<String, String> {
        let mut command = Command::new(&self.binary);
        command.arg("template").arg(RELEASE).arg(chart);
        if skip_schema {
            command.arg("--skip-schema-validation");
        }
        for file in values {
            command.arg("--values").arg(file);
        }
        super::tool_output(&mut command, "helm template")
    }
}

/// How to get helm, for the error when it is missing.
const INSTALL_HINT: &str = "install helm (https://helm.sh/docs/intro/install/) or name it with --helm PATH, the configuration key `helm:` or KUBEHARDEN_HELM";

/// What fixing a chart gave: the verified edits of its values, and the findings, each with the
/// chart file it is about.
pub type ChartFix = super::SourceFix;

/// A planned rendered difference, where it is and what it is for.
struct Planned {
    /// Which rendered document (index into the rendering's documents).
    document: usize,
    /// That document's identity across renderings.
    identity: String,
    /// The template that renders it, relative to the chart.
    template: String,
    /// The rendered document's `kind`, which finds its document in the template.
    kind: String,
    difference: Difference<'static>,
    /// The longest prefix of the difference's path that the rendered document has.
    existing: Vec<Step>,
    /// The planner's changes inside this difference.
    changes: Vec<Change>,
    /// The values scalar that renders the replaced scalar, found by trying the new value.
    scalar_source: Option<Vec<Step>>,
}

/// One rendering of the chart (its defaults, or its defaults and one values file) and what
/// was planned on it.
struct Rendering {
    /// The values files given to helm.
    files: Vec<PathBuf>,
    /// `helm template` output of the unchanged chart.
    source: String,
    /// The paths that differ between two renders of the unchanged chart.
    volatile: Vec<Vec<Step>>,
    planned: Vec<Planned>,
    /// Where values subtrees land, when anything was planned.
    probe: Probe,
}

/// Why the edited chart did not verify.
enum Unverified {
    /// Nothing to retry: the edited chart does not render, or renders other documents.
    Fatal(String),
    /// A rendered field differs from the intended one.
    Mismatch {
        rendering: usize,
        identity: String,
        path: Vec<Step>,
    },
}

/// How many times an edit that changed more than intended may be dropped and the rest
/// verified again.
const RETRIES: usize = 8;

/// An edit of `values.yaml` that a rendered difference maps to.
#[derive(Clone)]
enum ValuesEdit<'a> {
    /// Set the value at the path (a key path from the values root).
    Set(Vec<Step>, Node<'a>),
    /// Append an item to the list at the path.
    Append(Vec<Step>, Node<'a>),
    /// Remove the key at the path.
    Remove(Vec<Step>),
}

impl ValuesEdit<'_> {
    fn path(&self) -> &[Step] {
        match self {
            ValuesEdit::Set(p, _) | ValuesEdit::Append(p, _) | ValuesEdit::Remove(p) => p,
        }
    }

    fn same_as(&self, other: &ValuesEdit<'_>) -> bool {
        match (self, other) {
            (ValuesEdit::Set(a, x), ValuesEdit::Set(b, y))
            | (ValuesEdit::Append(a, x), ValuesEdit::Append(b, y)) => {
                a == b && super::same_data_unordered(x, y)
            }
            (ValuesEdit::Remove(a), ValuesEdit::Remove(b)) => a == b,
            _ => false,
        }
    }
}

/// One rendered document and where it came from.
struct Rendered<'a> {
    /// The template that produced it, relative to the chart folder (`templates/x.yaml`).
    template: String,
    /// The document's identity across renderings: template, kind, namespace, name.
    identity: String,
    root: Node<'a>,
}

/// Splits `helm template` output into documents with their templates.
fn documents<'a>(text: &Text<'a>) -> Result<Vec<Rendered<'a>>, String> {
    let stream = yaml::parse(text, false)
        .map_err(|e| format!("helm rendered output kubeharden cannot read: {e}"))?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    Ok(stream
        .documents
        .into_iter()
        .filter(|root| root.entries().is_some())
        .map(|root| {
            let before = &text.source[..root.full_start()];
            let template = before
                .rfind("# Source: ")
                .map(|at| {
                    let line = before[at + "# Source: ".len()..]
                        .lines()
                        .next()
                        .unwrap_or("");
                    // `CHART/templates/x.yaml`: the chart's own name comes first.
                    line.split_once('/')
                        .map_or(line, |(_, rest)| rest)
                        .to_owned()
                })
                .unwrap_or_default();
            let field = |node: Option<&Node<'_>>, key: &str| {
                node.and_then(|n| n.get(key))
                    .and_then(Node::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let metadata = root.get("metadata");
            let mut identity = format!(
                "{template} {} {}/{}",
                field(Some(&root), "kind"),
                field(metadata, "namespace"),
                field(metadata, "name")
            );
            let count = seen.entry(identity.clone()).or_default();
            *count += 1;
            identity.push_str(&format!(" #{count}"));
            Rendered {
                template,
                identity,
                root,
            }
        })
        .collect())
}

/// Fixes the chart in `chart`: renders it with its defaults and once more with each of
/// `values` (files the user deploys with), plans on every rendering, maps the changes into the
/// chart's `values.yaml`, and verifies by rendering again. An edit that renders more than
/// intended is dropped (reported as unmappable) and the rest verified again; nothing is
/// returned to write unless every rendering of the edited chart is the intended one. The
/// error is one line.
pub fn fix_chart(
    helm: &Helm,
    chart: &Path,
    values: &[PathBuf],
    settings: &Settings,
) -> Result<ChartFix, String> {
    if is_library(chart) {
        return Ok(ChartFix::default());
    }
    let values_path = chart.join(VALUES_FILE);
    let values_source = match std::fs::read_to_string(&values_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", values_path.display())),
    };
    let values_text = Text::new(&values_source);
    let values_stream =
        yaml::parse(&values_text, true).map_err(|e| format!("{}:{e}", values_path.display()))?;
    let values_root = values_stream.documents.first();
    let values_guard = values_root.map(|root| Guard::new(root, &values_stream.anchor_names));
    let values_suppressions = Suppressions::from_comments(&values_text, &values_stream.comments);

    let mut fix = ChartFix::default();
    let mut renderings = Vec::new();
    for files in std::iter::once(Vec::new()).chain(values.iter().map(|f| vec![f.clone()])) {
        renderings.push(render_and_plan(
            helm,
            chart,
            files,
            settings,
            values_root,
            &mut fix,
        )?);
    }
    // Values paths an edit may not touch, and why: found by verification.
    let mut refused: Vec<(Vec<Step>, String)> = Vec::new();
    // Planned differences (rendering, index) that are not made, and why.
    let mut blocked: Vec<((usize, usize), String)> = Vec::new();
    for _ in 0..=RETRIES {
        let (values_intended, made, changes, templates, findings, mapped) = 'pass: loop {
            let mut values_intended = values_root.cloned();
            let mut made: Vec<ValuesEdit<'_>> = Vec::new();
            let mut changes: Vec<Change> = Vec::new();
            let mut templates = TemplateEdits::default();
            let mut findings = Vec::new();
            // Per rendering: the mapped differences.
            let mut mapped: Vec<Vec<Mapped<'_>>> = Vec::new();
            for (number, rendering) in renderings.iter().enumerate() {
                let mut here = Vec::new();
                for (index, item) in rendering.planned.iter().enumerate() {
                    if let Some((_, reason)) = blocked.iter().find(|(at, _)| *at == (number, index))
                    {
                        // Its own reason first, when it has one other than having no values
                        // edit (then why its template could not take it is the reason).
                        let own = map_difference(&rendering.probe, item)
                            .err()
                            .filter(|own| own != NO_VALUES_SUBTREE && own != MIXED_LIST);
                        findings.push(unmapped(chart, item, own.as_deref().unwrap_or(reason)));
                        continue;
                    }
                    let mapping =
                        map_difference(&rendering.probe, item).and_then(|(edit, landed)| {
                            if let Some((_, reason)) =
                                refused.iter().find(|(p, _)| edit.path().starts_with(p))
                            {
                                return Err(reason.clone());
                            }
                            let lines = values_key_lines(&values_text, values_root, edit.path());
                            if let Some(reason) = item
                                .changes
                                .iter()
                                .find_map(|c| values_suppressions.on_lines(c.transform, &lines))
                            {
                                return Err(format!("{reason} of {VALUES_FILE}"));
                            }
                            edit_values(&mut values_intended, &values_guard, &mut made, &edit)?;
                            Ok((edit, landed))
                        });
                    match mapping {
                        Ok((edit, landed)) => {
                            let line = values_line(&values_text, values_root, edit.path());
                            for change in &item.changes {
                                let change = Change {
                                    line,
                                    ..change.clone()
                                };
                                // Each rendering plans the same change again: reported once.
                                if !changes.contains(&change) {
                                    changes.push(change);
                                }
                            }
                            here.push(Mapped {
                                index,
                                item,
                                landed: Some(landed),
                            });
                        }
                        Err(reason) if reason == NO_VALUES_SUBTREE || reason == MIXED_LIST => {
                            if let Err(why) = templates.add(chart, item) {
                                let reason = format!("{reason}, and {why}");
                                block(&renderings, (number, index), reason, &mut blocked);
                                continue 'pass;
                            }
                            here.push(Mapped {
                                index,
                                item,
                                landed: None,
                            });
                        }
                        Err(reason) => {
                            block(&renderings, (number, index), reason, &mut blocked);
                            continue 'pass;
                        }
                    }
                }
                mapped.push(here);
            }
            break (values_intended, made, changes, templates, findings, mapped);
        };
        let mut edits: Vec<SourceEdit> = templates.into_edits(chart);
        if let Some(values_intended) = values_intended.filter(|_| !made.is_empty()) {
            let mut documents: Vec<Option<Node<'_>>> = vec![None; values_stream.documents.len()];
            documents[0] = Some(values_intended);
            let new_values = yaml::write(&values_text, &values_stream, &documents)
                .map(|w| w.text(values_text.source))
                .map_err(|e| format!("{}: {e}", values_path.display()))?;
            edits.push(SourceEdit {
                path: values_path.clone(),
                original: values_source.clone(),
                new: new_values,
                changes,
                lifecycle: crate::source::Lifecycle::Changed,
            });
        }
        if edits.is_empty() {
            fix.findings.extend(findings);
            return Ok(fix);
        }
        edits.sort_by(|a, b| a.path.cmp(&b.path));
        match verify(helm, chart, &renderings, &edits, &mapped) {
            Ok(()) => {
                fix.findings.extend(findings);
                fix.edits = edits;
                return Ok(fix);
            }
            Err(Unverified::Fatal(message)) => return Err(message),
            Err(Unverified::Mismatch {
                rendering,
                identity,
                path,
            }) => {
                let culprits: Vec<Vec<Step>> = mapped[rendering]
                    .iter()
                    .filter(|m| {
                        m.item.identity == identity
                            && m.landed.as_ref().is_some_and(|l| path.starts_with(l))
                    })
                    .filter_map(|m| {
                        map_difference(&renderings[rendering].probe, m.item)
                            .ok()
                            .map(|(edit, _)| edit.path().to_vec())
                    })
                    .collect();
                let shown = identity.rsplit_once(" #").map_or(&*identity, |(i, _)| i);
                // The template edits of the template that rendered the mismatch.
                let template_culprits: Vec<(usize, usize)> = mapped
                    .iter()
                    .enumerate()
                    .flat_map(|(number, here)| here.iter().map(move |m| (number, m)))
                    .filter(|(_, m)| {
                        m.landed.is_none() && identity.starts_with(&format!("{} ", m.item.template))
                    })
                    .map(|(number, m)| (number, m.index))
                    .collect();
                if culprits.is_empty() && template_culprits.is_empty() {
                    return Err(format!(
                        "verification failed: after the edits, {shown} renders `{}` other than intended; nothing written",
                        path_to_string(&path)
                    ));
                }
                for culprit in culprits {
                    let reason = format!(
                        "setting the values key `{}` also changes `{}`, which the template renders otherwise when it is set",
                        path_to_string(&culprit),
                        path_to_string(&path)
                    );
                    refused.push((culprit, reason));
                }
                for at in template_culprits {
                    let reason = format!(
                        "{NO_VALUES_SUBTREE}, and the edit of its template renders `{}` of {shown} other than intended",
                        path_to_string(&path)
                    );
                    block(&renderings, at, reason, &mut blocked);
                }
            }
        }
    }
    Err("verification failed: the edits kept rendering more than intended; nothing written".into())
}

/// Why a difference has no values edit when no values subtree lands at or above it: the
/// fields around it are literal YAML of the template, or rendered by an action.
const NO_VALUES_SUBTREE: &str = "no values subtree renders it";

/// Why a difference has no values edit when it changes a template's own item of a list that
/// also holds items of a values subtree.
const MIXED_LIST: &str = "it changes an item of a list that mixes values and template items";

/// Why a change to a vendored subchart's workload has no edit: the subchart's templates are
/// never edited, and no value it exposes renders the field.
const VENDORED: &str = "it is rendered by a vendored subchart, which kubeharden does not edit, and no value the subchart exposes renders it";

/// The name of the vendored subchart whose template `template` (relative to the chart) is:
/// `charts/NAME/templates/x.yaml`; none for the chart's own templates and deeper subcharts.
fn subchart_of(template: &str) -> Option<&str> {
    let rest = template.strip_prefix("charts/")?;
    let (name, inside) = rest.split_once('/')?;
    inside.starts_with("templates/").then_some(name)
}

/// A planned difference that was mapped, and where to.
struct Mapped<'p> {
    /// Its index in its rendering's plan.
    index: usize,
    item: &'p Planned,
    /// The rendered place of the values subtree it went through; `None` when it went into
    /// the literal YAML of its template.
    landed: Option<Vec<Step>>,
}

/// The template edits of one pass: per template (relative to the chart), its text, the
/// planned differences it takes, and its text with them made and the line each edits.
#[derive(Default)]
struct TemplateEdits<'p> {
    by_template: BTreeMap<String, TemplateEdit<'p>>,
}

/// One template's edit, see [`TemplateEdits`].
struct TemplateEdit<'p> {
    original: String,
    items: Vec<&'p Planned>,
    new: String,
    lines: Vec<usize>,
}

impl<'p> TemplateEdits<'p> {
    /// Makes `item` in the literal YAML of its template, with the other items of that
    /// template; why not, with nothing changed.
    fn add(&mut self, chart: &Path, item: &'p Planned) -> Result<(), String> {
        if item.template.starts_with("charts/") {
            return Err(
                "its template is a vendored subchart's, which kubeharden does not edit".into(),
            );
        }
        let original = match self.by_template.get(&item.template) {
            Some(edit) => edit.original.clone(),
            None => std::fs::read_to_string(chart.join(&item.template))
                .map_err(|e| format!("its template cannot be read ({e})"))?,
        };
        let mut items = self
            .by_template
            .get(&item.template)
            .map_or_else(Vec::new, |edit| edit.items.clone());
        items.push(item);
        let changes: Vec<template::TemplateChange<'_>> = items
            .iter()
            .map(|i| template::TemplateChange {
                kind: &i.kind,
                difference: &i.difference,
            })
            .collect();
        let (new, lines) = template::edit(&original, &changes)?;
        self.by_template.insert(
            item.template.clone(),
            TemplateEdit {
                original,
                items,
                new,
                lines,
            },
        );
        Ok(())
    }

    /// The edited templates, each with its changes on the lines they edit.
    fn into_edits(self, chart: &Path) -> Vec<SourceEdit> {
        self.by_template
            .into_iter()
            .map(|(template, edit)| {
                let mut changes: Vec<Change> = Vec::new();
                for (item, line) in edit.items.iter().zip(&edit.lines) {
                    for change in &item.changes {
                        let change = Change {
                            line: *line,
                            ..change.clone()
                        };
                        if !changes.contains(&change) {
                            changes.push(change);
                        }
                    }
                }
                SourceEdit {
                    path: chart.join(template),
                    original: edit.original,
                    new: edit.new,
                    changes,
                    lifecycle: crate::source::Lifecycle::Changed,
                }
            })
            .collect()
    }
}

/// Blocks the planned difference `at` for `reason`, and with it every difference of the same
/// resource that a transform of it also planned: a transform's changes go in together or not
/// at all (a read-only root filesystem without its writable `/tmp` would break the workload).
fn block(
    renderings: &[Rendering],
    at: (usize, usize),
    reason: String,
    blocked: &mut Vec<((usize, usize), String)>,
) {
    let mut work = vec![(at, reason)];
    while let Some((at, reason)) = work.pop() {
        if blocked.iter().any(|(b, _)| *b == at) {
            continue;
        }
        let item = &renderings[at.0].planned[at.1];
        let transforms: Vec<&str> = item.changes.iter().map(|c| c.transform).collect();
        for (number, rendering) in renderings.iter().enumerate() {
            for (index, other) in rendering.planned.iter().enumerate() {
                let shares = other.identity == item.identity
                    && other
                        .changes
                        .iter()
                        .any(|c| transforms.contains(&c.transform));
                if shares && (number, index) != at {
                    let why = format!(
                        "it goes with `{}`, which cannot be set",
                        path_to_string(&item.difference.path)
                    );
                    work.push(((number, index), why));
                }
            }
        }
        blocked.push((at, reason));
    }
}

/// Renders `chart` with `files`, plans on the rendering, and probes it when anything was
/// planned; the planner's findings go to `fix`, on the template of their document.
fn render_and_plan(
    helm: &Helm,
    chart: &Path,
    files: Vec<PathBuf>,
    settings: &Settings,
    values_root: Option<&Node<'_>>,
    fix: &mut ChartFix,
) -> Result<Rendering, String> {
    let source = helm.template(chart, &files)?;
    let again = helm.template(chart, &files)?;
    let text = Text::new(&source);
    let rendered = documents(&text)?;
    let volatile = volatile_paths(&rendered, &again)?;
    let stream = yaml::parse(&text, true).map_err(|e| e.to_string())?;
    let reading = transform::StreamReading::of(&text, &stream);
    let mut planned = Vec::new();
    // `documents` leaves out the stream's empty documents.
    let workloads = stream
        .documents
        .iter()
        .enumerate()
        .filter(|(_, r)| r.entries().is_some());
    for (index, (number, root)) in workloads.enumerate() {
        let plan = transform::plan(
            settings,
            &text,
            root,
            &stream.anchor_names,
            number,
            &reading,
        );
        fix.workloads += crate::k8s::pod_specs(root, &settings.kinds).len();
        let document = &rendered[index];
        for finding in plan.findings {
            let line = template_line(chart, &document.template, &[]);
            let finding = Finding {
                line,
                document: index,
                ..finding
            };
            fix.findings.push((chart.join(&document.template), finding));
        }
        let Some(intended) = &plan.intended else {
            continue;
        };
        for difference in differences(root, intended) {
            let changes: Vec<Change> = plan
                .changes
                .iter()
                .filter(|c| within(&c.path, &difference.path))
                .cloned()
                .collect();
            if changes.is_empty() {
                continue;
            }
            planned.push(Planned {
                document: index,
                identity: document.identity.clone(),
                template: document.template.clone(),
                kind: root
                    .get("kind")
                    .and_then(Node::as_str)
                    .unwrap_or("")
                    .to_owned(),
                existing: nearest_existing(root, &difference.path).to_vec(),
                difference: owned_difference(&difference),
                changes,
                scalar_source: None,
            });
        }
    }
    let probe = match planned.is_empty() {
        true => Probe::new(),
        false => {
            let wanted = wanted_names(planned.iter().map(|p| &p.difference));
            let subcharts: Vec<&str> = planned
                .iter()
                .filter_map(|p| subchart_of(&p.template))
                .collect();
            probe(helm, chart, &files, values_root, &subcharts, &wanted)?
        }
    };
    if let Some(values) = values_root {
        let mut budget = PROBE_RENDERS;
        for item in &mut planned {
            item.scalar_source =
                scalar_source(helm, chart, &files, values, &rendered, item, &mut budget)?;
        }
    }
    Ok(Rendering {
        files,
        source,
        volatile,
        planned,
        probe,
    })
}

/// The warning for a planned difference that has no place in the chart's source, on the
/// template line that most likely writes it.
/// A suppression comment on a values key is reported as a suppression, on the values file.
fn unmapped(chart: &Path, item: &Planned, reason: &str) -> (PathBuf, Finding) {
    let first = &item.changes[0];
    let line = template_line(chart, &item.template, &item.existing);
    let finding = Finding {
        document: item.document,
        resource: first.resource.clone(),
        container: first.container.clone(),
        line,
        transform: first.transform,
        kind: FindingKind::Warning,
        message: unmapped_message(item, reason),
        reader: None,
    };
    if let Some(line) = reason
        .strip_prefix("suppressed by the comment on line ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
    {
        let field = path_to_string(&item.difference.path);
        let finding = Finding {
            line,
            kind: FindingKind::Suppressed,
            message: format!("`{field}` left as it is ({reason})"),
            ..finding
        };
        return (chart.join(VALUES_FILE), finding);
    }
    (chart.join(&item.template), finding)
}

/// The paths whose values differ between two renders of the same chart, by document.
fn volatile_paths(first: &[Rendered<'_>], again: &str) -> Result<Vec<Vec<Step>>, String> {
    let text = Text::new(again);
    let second = documents(&text)?;
    let mut out = Vec::new();
    for document in first {
        let Some(other) = second.iter().find(|d| d.identity == document.identity) else {
            continue;
        };
        out.extend(
            differences(&document.root, &other.root)
                .into_iter()
                .map(|d| d.path),
        );
    }
    Ok(out)
}

/// Where the probe found values subtrees: for each rendered document identity, each rendered
/// path that holds a marker.
type Probe = BTreeMap<String, Vec<Landed>>;

/// A rendered place that holds a values subtree.
struct Landed {
    /// The rendered path of the mapping or list holding the marker.
    rendered: Vec<Step>,
    /// The values path of the subtree.
    values: Vec<Step>,
    /// Whether the marker was all it held: the subtree is the whole rendered value, not
    /// mixed with literal fields or items of the template.
    whole: bool,
}

/// The most renders one probe may take: bisecting around markers a chart rejects costs a
/// render per step.
const PROBE_RENDERS: usize = 48;

/// A values subtree that may be emitted whole: a mapping (marked with an extra key) or an
/// empty list (marked with one item).
struct Candidate {
    path: Vec<Step>,
    list: bool,
}

/// Renders the chart with marker overlays over `files` and reads where the markers landed.
/// Only subtrees whose key resembles a key of a wanted rendered path are marked (`wanted`,
/// lower case: `securityContext` finds `containerSecurityContext`). Markers can change what a
/// chart does (an `if` on an empty mapping, a schema, a `fail`): a set that does not render
/// is split in two and each half probed alone, and a single marker that does not render is
/// left out.
///
/// The defaults of each vendored subchart in `subcharts` (by name) are marked too, under the
/// subchart's key: a parent chart sets a subchart's values there.
fn probe(
    helm: &Helm,
    chart: &Path,
    files: &[PathBuf],
    values: Option<&Node<'_>>,
    subcharts: &[&str],
    wanted: &[String],
) -> Result<Probe, String> {
    let mut candidates = Vec::new();
    if let Some(root) = values {
        collect_candidates(root, &mut Vec::new(), wanted, &mut candidates);
    }
    let mut seen: Vec<&str> = Vec::new();
    for name in subcharts {
        if seen.contains(name) {
            continue;
        }
        seen.push(name);
        let Some(defaults) = helm.subchart_values(chart, name) else {
            continue;
        };
        let text = Text::new(&defaults);
        if let Ok(stream) = yaml::parse(&text, false)
            && let Some(root) = stream.documents.first()
        {
            let mut path = vec![Step::Key((*name).to_owned().into())];
            collect_candidates(root, &mut path, wanted, &mut candidates);
        }
    }
    let mut found = Probe::new();
    let mut budget = PROBE_RENDERS;
    probe_set(helm, chart, files, &candidates, &mut budget, &mut found)?;
    Ok(found)
}

fn probe_set(
    helm: &Helm,
    chart: &Path,
    files: &[PathBuf],
    set: &[Candidate],
    budget: &mut usize,
    found: &mut Probe,
) -> Result<(), String> {
    if set.is_empty() || *budget == 0 {
        return Ok(());
    }
    *budget -= 1;
    let mut overlay = serde_json::Map::new();
    for (number, candidate) in set.iter().enumerate() {
        mark(
            &mut overlay,
            &candidate.path,
            &format!("{MARKER}{number}"),
            candidate.list,
        );
    }
    let mut file =
        tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a probe: {e}"))?;
    std::io::Write::write_all(
        &mut file,
        serde_json::Value::Object(overlay).to_string().as_bytes(),
    )
    .map_err(|e| format!("cannot write a probe: {e}"))?;
    let mut all = files.to_vec();
    all.push(file.path().to_path_buf());
    match helm.template_unchecked(chart, &all) {
        Ok(source) => {
            let text = Text::new(&source);
            for document in documents(&text)? {
                let landed = found.entry(document.identity).or_default();
                find_markers(&document.root, &mut Vec::new(), set, landed);
            }
            Ok(())
        }
        Err(_) if set.len() > 1 => {
            let (first, second) = set.split_at(set.len() / 2);
            probe_set(helm, chart, files, first, budget, found)?;
            probe_set(helm, chart, files, second, budget, found)
        }
        Err(_) => Ok(()),
    }
}

/// Puts `marker` into the overlay `object` at the values `path`: a key of the mapping there,
/// or (`list`) the one item of the list there, a mapping holding the marker key.
fn mark(
    object: &mut serde_json::Map<String, serde_json::Value>,
    path: &[Step],
    marker: &str,
    list: bool,
) {
    let Some((Step::Key(first), rest)) = path.split_first() else {
        return;
    };
    let item = serde_json::json!({ marker: marker });
    if rest.is_empty() && list {
        object.insert(first.to_string(), serde_json::Value::Array(vec![item]));
        return;
    }
    let entry = object
        .entry(first.clone())
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if !entry.is_object() {
        *entry = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(inner) = entry {
        match rest.is_empty() {
            true => {
                inner.insert(
                    marker.to_owned(),
                    serde_json::Value::String(marker.to_owned()),
                );
            }
            false => mark(inner, rest, marker, list),
        }
    }
}

/// The mappings and empty lists below the values root whose key resembles a `wanted` name.
fn collect_candidates(
    node: &Node<'_>,
    path: &mut Vec<Step>,
    wanted: &[String],
    out: &mut Vec<Candidate>,
) {
    let resembles = |path: &[Step]| match path.last() {
        Some(Step::Key(key)) => {
            let key = key.to_lowercase();
            wanted.iter().any(|w| key.contains(w.as_str()))
        }
        _ => false,
    };
    match &node.kind {
        NodeKind::Mapping { entries, .. } => {
            if resembles(path) {
                out.push(Candidate {
                    path: path.clone(),
                    list: false,
                });
            }
            for (key, value) in entries {
                let Some(name) = key.as_str() else { continue };
                path.push(Step::Key(name.to_owned().into()));
                collect_candidates(value, path, wanted, out);
                path.pop();
            }
        }
        NodeKind::Sequence { items, .. } if items.is_empty() && resembles(path) => {
            out.push(Candidate {
                path: path.clone(),
                list: true,
            })
        }
        _ => {}
    }
}

/// Collects where markers landed in a probe rendering: a mapping with the marker key of a
/// mapping candidate, or a list with the marker item of a list candidate, at `path`.
fn find_markers(
    node: &Node<'_>,
    path: &mut Vec<Step>,
    candidates: &[Candidate],
    out: &mut Vec<Landed>,
) {
    let marker_of = |key: Option<&str>, list: bool| {
        key.and_then(|t| t.strip_prefix(MARKER))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| candidates.get(n))
            .filter(|c| c.list == list)
    };
    let mut land = |candidate: &Candidate, whole: bool| {
        out.push(Landed {
            rendered: path.clone(),
            values: candidate.path.clone(),
            whole,
        })
    };
    match &node.kind {
        NodeKind::Mapping { entries, .. } => {
            if let Some(candidate) = entries
                .iter()
                .find_map(|(k, _)| marker_of(k.as_str(), false))
            {
                land(candidate, entries.len() == 1);
            }
            for (key, value) in entries {
                let Some(name) = key.as_str() else { continue };
                path.push(Step::Key(name.to_owned().into()));
                find_markers(value, path, candidates, out);
                path.pop();
            }
        }
        NodeKind::Sequence { items, .. } => {
            let item_marker = |item: &Node<'_>| {
                item.entries()?
                    .iter()
                    .find_map(|(k, _)| marker_of(k.as_str(), true))
            };
            if let Some(candidate) = items.iter().find_map(item_marker) {
                land(candidate, items.len() == 1);
            }
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                find_markers(item, path, candidates, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// For a difference that replaces a rendered scalar (`privileged: true`): the values scalar
/// that renders it (`{{ .Values.x.privileged }}`), found by trying. Each values scalar with the
/// same value whose key resembles the field's is set to the intended value in an overlay, one
/// at a time, and the chart rendered; the one that makes the field intended is the source.
/// Verification later checks that it changes nothing else.
fn scalar_source(
    helm: &Helm,
    chart: &Path,
    files: &[PathBuf],
    values: &Node<'_>,
    rendered: &[Rendered<'_>],
    item: &Planned,
    budget: &mut usize,
) -> Result<Option<Vec<Step>>, String> {
    let (Some(new), Some(Step::Key(field))) = (&item.difference.new, item.difference.path.last())
    else {
        return Ok(None);
    };
    let Some(old) = yaml::lookup(&rendered[item.document].root, &item.difference.path) else {
        return Ok(None);
    };
    let (Some(_), Some(wanted)) = (old.as_str(), new.as_str()) else {
        return Ok(None);
    };
    let mut leaves = Vec::new();
    scalar_leaves(values, &mut Vec::new(), &mut leaves);
    let field = field.to_lowercase();
    for (path, leaf) in leaves {
        let resembles =
            matches!(path.last(), Some(Step::Key(k)) if k.to_lowercase().contains(&field));
        if !resembles || !leaf.means_the_same_as(old) || *budget == 0 {
            continue;
        }
        *budget -= 1;
        let value = match (new.is_bool(true), new.is_bool(false)) {
            (true, _) => serde_json::Value::Bool(true),
            (_, true) => serde_json::Value::Bool(false),
            _ => serde_json::Value::String(wanted.to_owned()),
        };
        let mut overlay = serde_json::Value::Null;
        for step in path.iter().rev() {
            let Step::Key(key) = step else { continue };
            let inner = std::mem::take(&mut overlay);
            overlay = serde_json::json!({ key.clone(): if inner.is_null() { value.clone() } else { inner } });
        }
        let mut file =
            tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a probe: {e}"))?;
        std::io::Write::write_all(&mut file, overlay.to_string().as_bytes())
            .map_err(|e| format!("cannot write a probe: {e}"))?;
        let mut all = files.to_vec();
        all.push(file.path().to_path_buf());
        let Ok(source) = helm.template_unchecked(chart, &all) else {
            continue;
        };
        let text = Text::new(&source);
        let tried = documents(&text)?;
        let now = tried
            .iter()
            .find(|d| d.identity == item.identity)
            .and_then(|d| yaml::lookup(&d.root, &item.difference.path));
        if now.is_some_and(|n| n.means_the_same_as(new)) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Every scalar below `node` reached through mapping keys only, with its path.
fn scalar_leaves<'n, 'a>(
    node: &'n Node<'a>,
    path: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, &'n Node<'a>)>,
) {
    match &node.kind {
        NodeKind::Mapping { entries, .. } => {
            for (key, value) in entries {
                let Some(name) = key.as_str() else { continue };
                path.push(Step::Key(name.to_owned().into()));
                scalar_leaves(value, path, out);
                path.pop();
            }
        }
        NodeKind::Scalar { .. } if !path.is_empty() => out.push((path.clone(), node)),
        _ => {}
    }
}

/// The key names of the rendered paths of `differences`, lower case, as values keys would
/// contain them; indexes and the generic keys every workload path shares left out.
fn wanted_names<'d>(differences: impl Iterator<Item = &'d Difference<'d>>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for difference in differences {
        for step in &difference.path {
            if let Step::Key(key) = step
                && !matches!(&**key, "spec" | "template" | "jobTemplate" | "containers")
                && !names.contains(&key.to_lowercase())
            {
                names.push(key.to_lowercase());
            }
        }
    }
    names
}

/// The values edit that makes `difference` of `document`, or why there is none.
fn map_difference(
    probe: &Probe,
    item: &Planned,
) -> Result<(ValuesEdit<'static>, Vec<Step>), String> {
    let difference = &item.difference;
    let subchart = subchart_of(&item.template);
    if item.template.starts_with("charts/") && subchart.is_none() {
        return Err(
            "it is rendered by a subchart of a subchart, which kubeharden does not edit".into(),
        );
    }
    if let (Some(values), Some(new)) = (&item.scalar_source, &difference.new) {
        let edit = ValuesEdit::Set(values.clone(), new.clone());
        return Ok((edit, difference.path.clone()));
    }
    // No probe entry: nothing in the values resembles the field, or the resource renders only
    // without markers; either way no values subtree lands there.
    let landed = probe
        .get(&item.identity)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|l| difference.path.starts_with(&l.rendered))
        // A subchart's workload takes only its own values, under its key.
        .filter(|l| {
            subchart.is_none_or(|name| matches!(l.values.first(), Some(Step::Key(k)) if k == name))
        })
        .max_by_key(|l| l.rendered.len())
        .ok_or(match subchart {
            Some(_) => VENDORED,
            None => NO_VALUES_SUBTREE,
        })?;
    let rest = &difference.path[landed.rendered.len()..];
    let mut target = landed.values.clone();
    target.extend_from_slice(rest);
    let edit = match (&difference.new, rest) {
        (Some(new), [Step::Index(_)]) => ValuesEdit::Append(landed.values.clone(), new.clone()),
        (_, [.., Step::Index(_)]) | (_, [Step::Index(_), ..]) => {
            return Err(MIXED_LIST.into());
        }
        (_, []) if !landed.whole => {
            return Err("the template mixes its own fields with the values subtree there".into());
        }
        (Some(new), _) => ValuesEdit::Set(target, new.clone()),
        (None, []) => return Err("it removes a whole values subtree".into()),
        (None, _) => ValuesEdit::Remove(target),
    };
    Ok((edit, landed.rendered.clone()))
}

/// Makes `edit` on the `values` tree (none when the chart has no values file), unless an
/// equal edit was made already; why not when the values cannot take it, or when another
/// workload wanted the same key otherwise.
fn edit_values<'a>(
    values: &mut Option<Node<'a>>,
    guard: &Option<Guard<'_>>,
    made: &mut Vec<ValuesEdit<'a>>,
    edit: &ValuesEdit<'a>,
) -> Result<(), String> {
    if made.iter().any(|m| m.same_as(edit)) {
        return Ok(());
    }
    let key = path_to_string(edit.path());
    if made.iter().any(|m| m.path() == edit.path()) {
        return Err(format!(
            "the values key `{key}` also feeds another workload, which needs it otherwise"
        ));
    }
    let (Some(root), Some(guard)) = (values.as_mut(), guard) else {
        return Err("the chart has no values.yaml to edit".into());
    };
    let result = match edit {
        ValuesEdit::Set(path, value) => yaml::set(root, path, value.clone(), guard),
        // An empty `[]` becomes a block list, as a maintainer would write its first item.
        ValuesEdit::Append(path, value)
            if yaml::lookup(root, path)
                .and_then(Node::items)
                .is_some_and(<[_]>::is_empty) =>
        {
            let list = Node::new(NodeKind::Sequence {
                style: CollectionStyle::Block,
                items: vec![value.clone()],
            });
            yaml::set(root, path, list, guard)
        }
        ValuesEdit::Append(path, value) => yaml::append(root, path, value.clone(), guard),
        ValuesEdit::Remove(path) => yaml::remove(root, path, guard),
    };
    result.map_err(|e| format!("the values key `{key}` cannot be edited: {e}"))?;
    made.push(edit.clone());
    Ok(())
}

/// Renders a copy of the chart with its files replaced by `edits` for every rendering and
/// checks each document against the original with its `mapped` differences applied.
fn verify(
    helm: &Helm,
    chart: &Path,
    renderings: &[Rendering],
    edits: &[SourceEdit],
    mapped: &[Vec<Mapped<'_>>],
) -> Result<(), Unverified> {
    let fatal = Unverified::Fatal;
    let copy = tempfile::tempdir()
        .map_err(|e| fatal(format!("cannot create a folder to verify in: {e}")))?;
    let name = chart.file_name().unwrap_or(std::ffi::OsStr::new("chart"));
    let edited = copy.path().join(name);
    copy_folder(chart, &edited)
        .map_err(|e| fatal(format!("cannot copy the chart to verify it: {e}")))?;
    for edit in edits {
        let relative = edit.path.strip_prefix(chart).unwrap_or(&edit.path);
        std::fs::write(edited.join(relative), &edit.new)
            .map_err(|e| fatal(format!("cannot write the edits to verify them: {e}")))?;
    }
    for (number, (rendering, mapped)) in renderings.iter().zip(mapped).enumerate() {
        let again = helm.template(&edited, &rendering.files).map_err(|e| {
            fatal(format!(
                "the edited chart no longer renders ({e}); nothing written"
            ))
        })?;
        let before_text = Text::new(&rendering.source);
        let before = documents(&before_text).map_err(fatal)?;
        let after_text = Text::new(&again);
        let after = documents(&after_text).map_err(fatal)?;
        if before.len() != after.len() {
            return Err(fatal(format!(
                "the edited chart renders {} documents instead of {}; nothing written",
                after.len(),
                before.len()
            )));
        }
        for (index, (want, got)) in before.iter().zip(&after).enumerate() {
            let mut expected = want.root.clone();
            for m in mapped.iter().filter(|m| m.item.document == index) {
                apply(&mut expected, &m.item.difference);
            }
            if let Some(path) = first_mismatch(&got.root, &expected, &rendering.volatile) {
                return Err(Unverified::Mismatch {
                    rendering: number,
                    identity: want.identity.clone(),
                    path,
                });
            }
        }
    }
    Ok(())
}

/// Copies the folder `from` to `to`, recursively (links followed).
fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            if entry.file_name() != ".git" {
                copy_folder(&entry.path(), &target)?;
            }
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The lines of the values keys along `path` that the values file has: where a suppression
/// comment on a values key is looked for.
fn values_key_lines(text: &Text<'_>, root: Option<&Node<'_>>, path: &[Step]) -> Vec<usize> {
    let Some(root) = root else { return Vec::new() };
    (1..=path.len())
        .filter_map(|n| key_start(root, &path[..n - 1], path.get(n - 1)))
        .map(|at| text.position(at).line)
        .collect()
}

/// The line of the values file holding the edited key, or its closest existing parent.
fn values_line(text: &Text<'_>, root: Option<&Node<'_>>, path: &[Step]) -> usize {
    let Some(root) = root else { return 1 };
    let existing = nearest_existing(root, path);
    let node = yaml::lookup(root, existing).unwrap_or(root);
    let at = match (existing.last(), existing.len()) {
        // The key's own line: the value of `securityContext: {}` is on it too, but a block
        // mapping's value starts on the next line.
        (Some(Step::Key(_)), n) => key_start(root, &existing[..n - 1], existing.last()),
        _ => None,
    }
    .unwrap_or(node.full_start());
    text.position(at).line
}

/// Where the key `last` of the mapping at `parent` starts.
fn key_start(root: &Node<'_>, parent: &[Step], last: Option<&Step>) -> Option<usize> {
    let Some(Step::Key(name)) = last else {
        return None;
    };
    let mapping = yaml::lookup(root, parent)?;
    mapping
        .entries()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(k, _)| k.full_start())
}

/// The longest prefix of `path` that exists in `root`.
fn nearest_existing<'p>(root: &Node<'_>, path: &'p [Step]) -> &'p [Step] {
    let mut length = path.len();
    while length > 0 && yaml::lookup(root, &path[..length]).is_none() {
        length -= 1;
    }
    &path[..length]
}

/// The line of `template` (relative to `chart`) that most likely writes the rendered field at
/// `path`: each key of the path looked for in turn, from the line of the previous one on.
/// A guess for messages; 1 when the template cannot be read.
fn template_line(chart: &Path, template: &str, path: &[Step]) -> usize {
    let Ok(source) = std::fs::read_to_string(chart.join(template)) else {
        return 1;
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut at = 0;
    for step in path {
        let Step::Key(key) = step else { continue };
        let wanted = format!("{key}:");
        if let Some(found) = lines[at..].iter().position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.starts_with(&wanted)
        }) {
            at += found;
        }
    }
    at + 1
}

/// The warning for a change that has no place in the chart's source.
fn unmapped_message(item: &Planned, reason: &str) -> String {
    let existing = &item.existing;
    let field = path_to_string(&item.difference.path);
    let mut what: Vec<&str> = item.changes.iter().map(|c| c.transform).collect();
    what.dedup();
    // The field's own mapping when the template writes one (`securityContext:` with literal
    // fields), else the first key the template does not write at all (`strategy`).
    let key = match existing.last() {
        Some(Step::Key(k)) if !matches!(&**k, "spec" | "template" | "metadata") => Some(k),
        _ => item.difference.path[existing.len()..]
            .iter()
            .find_map(|s| match s {
                Step::Key(k) => Some(k),
                Step::Index(_) => None,
            }),
    }
    .map_or("securityContext", |k| &**k);
    format!(
        "`{field}` ({}) cannot be set from the chart's values: {reason}; no edit made. A maintainer could add a values key such as `{key}` and render it there with `toYaml`",
        what.join(", ")
    )
}
