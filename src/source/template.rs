//! Literal YAML in a Helm template, edited in place. A template is not YAML until it is
//! rendered, but most of it is YAML with `{{ … }}` actions in it: each action is masked with a
//! placeholder of the same length (a plain scalar where it stands in a line of YAML, a comment
//! where a line holds nothing else), the masked text is read by the lossless layer, the change
//! is planned on that tree, and its splices are made on the original text. Offsets hold
//! because masking keeps every length; a splice that would touch an action, or land in
//! another `if`/`with`/`range` branch than the field it edits, is refused, so every action is
//! kept byte for byte and inserted lines render under the same conditions as their parent.

use std::ops::Range;

use super::{Difference, apply};
use crate::yaml::{self, Layout, Node, Step, Text};

/// A template's text with its actions masked, and where its branches are.
struct Masked {
    /// The masked text, as long as the original.
    text: String,
    /// The byte ranges of the actions in the original.
    actions: Vec<Range<usize>>,
    /// After each action's end, the open branches there (the offsets of the actions opening
    /// them), innermost last.
    branches: Vec<(usize, Vec<usize>)>,
    /// The lines that hold only actions: where each starts, and its indentation.
    action_lines: Vec<(usize, usize)>,
}

impl Masked {
    /// Masks every action of `source`; why not when an action is not closed.
    fn new(source: &str) -> Result<Masked, String> {
        let mut actions = Vec::new();
        let mut from = 0;
        while let Some(open) = source[from..].find("{{").map(|at| from + at) {
            let close = source[open + 2..]
                .find("}}")
                .map(|at| open + 2 + at + 2)
                .ok_or("the template has a `{{` that is never closed")?;
            actions.push(open..close);
            from = close;
        }
        let mut bytes = source.as_bytes().to_vec();
        let mut action_lines = Vec::new();
        let mut line_start = 0;
        for line in source.split_inclusive('\n') {
            let line_range = line_start..line_start + line.len();
            line_start = line_range.end;
            let masked: Vec<usize> = line_range
                .clone()
                .filter(|at| actions.iter().any(|a| a.contains(at)) && bytes[*at] != b'\n')
                .collect();
            let only_actions = line_range
                .clone()
                .all(|at| masked.contains(&at) || source.as_bytes()[at].is_ascii_whitespace());
            if only_actions && let Some(first) = masked.first() {
                action_lines.push((line_range.start, first - line_range.start));
            }
            for (number, at) in masked.iter().enumerate() {
                bytes[*at] = match (only_actions, number) {
                    (true, 0) => b'#',
                    (true, _) => b'_',
                    (false, _) => b'k',
                };
            }
        }
        let text = String::from_utf8(bytes).map_err(|_| "the template is not UTF-8")?;
        let mut branches = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        for action in &actions {
            let body = source[action.start + 2..action.end - 2]
                .trim_matches(|c: char| c == '-' || c.is_whitespace());
            let keyword = body.split_whitespace().next().unwrap_or("");
            match keyword {
                "if" | "with" | "range" | "define" | "block" => open.push(action.start),
                "else" => {
                    open.pop();
                    open.push(action.start);
                }
                "end" => {
                    open.pop();
                }
                _ => {}
            }
            branches.push((action.end, open.clone()));
        }
        Ok(Masked {
            text,
            actions,
            branches,
            action_lines,
        })
    }

    /// Whether lines inserted by `splice` would come between YAML and the action lines that
    /// continue it: the next line that is not blank holds only actions and is indented deeper
    /// than the inserted lines (`{{- toYaml .Values.extraEnv | nindent 12 }}` after a list
    /// whose items it adds to). Lines that the other `splices` remove are skipped.
    fn cuts_off_action_lines(&self, splice: &yaml::Splice, splices: &[yaml::Splice]) -> bool {
        let Some((_, inserted)) = splice.text.split_once('\n') else {
            return false;
        };
        let indent = inserted
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let rest = &self.text[splice.range.end..];
        let next = rest.find('\n').map(|at| splice.range.end + at + 1);
        let Some(mut at) = next else { return false };
        while at < self.text.len() {
            if let Some(removed) = splices
                .iter()
                .find(|s| s.text.is_empty() && s.range.start <= at && at < s.range.end)
            {
                at = removed.range.end;
                continue;
            }
            let line = self.text[at..].split('\n').next().unwrap_or("");
            if !line.trim().is_empty() {
                return self
                    .action_lines
                    .iter()
                    .any(|(start, depth)| *start == at && *depth > indent);
            }
            at += line.len() + 1;
        }
        false
    }

    /// The branches open at `offset`.
    fn branch_at(&self, offset: usize) -> &[usize] {
        let after = self.branches.partition_point(|(end, _)| *end <= offset);
        after
            .checked_sub(1)
            .map_or(&[][..], |i| self.branches[i].1.as_slice())
    }

    /// Whether replacing `range` would change an action (an insertion touches one only
    /// strictly inside it).
    fn touches_action(&self, range: &Range<usize>) -> bool {
        self.actions.iter().any(|a| match range.is_empty() {
            true => a.start < range.start && range.start < a.end,
            false => a.start < range.end && range.start < a.end,
        })
    }
}

/// One rendered difference to make in a template's literal YAML: in the template's document
/// of kind `kind`.
pub struct TemplateChange<'d> {
    /// The `kind` of the rendered document, which the template writes literally.
    pub kind: &'d str,
    /// The difference, with paths of the rendered document.
    pub difference: &'d Difference<'static>,
}

/// The template `source` with `changes` made in its literal YAML, and the line each change
/// edits; why not when the template is not literal YAML there.
pub fn edit(source: &str, changes: &[TemplateChange<'_>]) -> Result<(String, Vec<usize>), String> {
    let masked = Masked::new(source)?;
    let text = Text::new(&masked.text);
    let stream = yaml::parse(&text, true).map_err(|e| {
        format!("the template does not read as YAML once its actions are masked ({e})")
    })?;
    let mut intended: Vec<Option<Node<'_>>> = vec![None; stream.documents.len()];
    // Per change: the document, and the offset of the field's nearest literal key.
    let mut anchors: Vec<(usize, usize)> = Vec::new();
    for change in changes {
        let mut of_kind = stream
            .documents
            .iter()
            .enumerate()
            .filter(|(_, root)| root.get("kind").and_then(Node::as_str) == Some(change.kind));
        let (Some((number, original)), None) = (of_kind.next(), of_kind.next()) else {
            return Err(format!(
                "the template does not write one literal `kind: {}` document",
                change.kind
            ));
        };
        let path = &change.difference.path;
        let anchor = literal_anchor(original, path)?;
        let document = intended[number].get_or_insert_with(|| original.clone());
        if !apply(document, change.difference) {
            return Err("its parent is not a literal mapping or list in the template".into());
        }
        anchors.push((number, anchor));
    }
    let mut splices = Vec::new();
    for (number, document) in intended.iter().enumerate() {
        let Some(document) = document else { continue };
        let original = &stream.documents[number];
        let layout = Layout::detect(&text, original);
        let made = yaml::splices(&text, &layout, original, document)
            .map_err(|e| format!("the template cannot take the edit: {e}"))?;
        for splice in &made {
            let owner = anchors
                .iter()
                .filter(|(n, at)| *n == number && *at <= splice.range.start)
                .map(|(_, at)| *at)
                .max()
                .unwrap_or(original.full_start());
            let branch = masked.branch_at(owner);
            if masked.touches_action(&splice.range) || splice.text.contains("{{") {
                return Err("the edit would rewrite a template action".into());
            }
            if masked.cuts_off_action_lines(splice, &made) {
                return Err(
                    "the edit would come between YAML and the template lines that add to it".into(),
                );
            }
            if masked.branch_at(splice.range.start) != branch
                || masked.branch_at(splice.range.end) != branch
            {
                return Err(
                    "the edit would land in another branch of the template's `if`/`with`/`range` than its parent".into(),
                );
            }
        }
        splices.extend(made);
    }
    let new = yaml::apply_splices(source, &mut splices)
        .map_err(|e| format!("the template cannot take the edit: {e}"))?;
    check(&new, &stream, &intended)?;
    let lines = anchors
        .iter()
        .map(|(_, at)| text.position(*at).line)
        .collect();
    Ok((new, lines))
}

/// Where the literal part of `path` in the masked `root` ends: the offset of the last key or
/// item of the path that the template writes. The path must reach the field's parent, and no
/// key on it may be written twice (once per branch of an `if`: which one renders is not known).
fn literal_anchor(root: &Node<'_>, path: &[Step]) -> Result<usize, String> {
    let mut node = root;
    let mut anchor = root.full_start();
    for (depth, step) in path.iter().enumerate() {
        let next = match step {
            Step::Key(key) => {
                let entries = node.entries().unwrap_or(&[]);
                let mut found = entries.iter().filter(|(k, _)| k.as_str() == Some(key));
                match (found.next(), found.next()) {
                    (Some((k, v)), None) => Some((k.full_start(), v)),
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "the template writes `{key}` more than once (in branches of an `if`)"
                        ));
                    }
                    _ => None,
                }
            }
            Step::Index(index) => node
                .items()
                .and_then(|items| items.get(*index))
                .map(|item| (item.full_start(), item)),
        };
        match next {
            Some((at, child)) => {
                anchor = at;
                node = child;
            }
            None if depth + 1 == path.len() => return Ok(anchor),
            None => {
                return Err(
                    "its parent is not written literally in the template (an action renders it)"
                        .into(),
                );
            }
        }
    }
    Ok(anchor)
}

/// Checks the edited template: masked again, each edited document reads back as intended and
/// the others as they were.
fn check(
    new: &str,
    stream: &yaml::Stream<'_>,
    intended: &[Option<Node<'_>>],
) -> Result<(), String> {
    let masked = Masked::new(new)?;
    let text = Text::new(&masked.text);
    let reread = yaml::parse(&text, false)
        .map_err(|e| format!("the edited template no longer reads as YAML ({e})"))?;
    let same = reread.documents.len() == stream.documents.len()
        && reread
            .documents
            .iter()
            .zip(stream.documents.iter().zip(intended))
            .all(|(got, (original, edited))| got.same_data(edited.as_ref().unwrap_or(original)));
    match same {
        true => Ok(()),
        false => Err("the edited template does not read back as intended".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn difference(path: &str, value: &str) -> Difference<'static> {
        let path = path
            .split('.')
            .map(|part| match part.parse::<usize>() {
                Ok(index) => Step::Index(index),
                Err(_) => Step::Key(part.to_owned().into()),
            })
            .collect();
        Difference {
            path,
            new: Some(Node::new_scalar(value.to_owned(), false)),
        }
    }

    #[test]
    fn masking_keeps_lengths_and_makes_action_lines_comments() {
        let source = "a: {{ .Values.a }}\n  {{- if .Values.b }}\nb: \"{{ x }}\"\n{{- end }}\n";
        let masked = Masked::new(source).unwrap();
        assert_eq!(masked.text.len(), source.len());
        assert_eq!(
            masked.text,
            "a: kkkkkkkkkkkkkkk\n  #__________________\nb: \"kkkkkkk\"\n#_________\n"
        );
        assert_eq!(masked.branch_at(0), &[] as &[usize]);
        assert_eq!(masked.branch_at(source.find("b:").unwrap()), &[21]);
    }

    #[test]
    fn an_edit_keeps_every_action_byte_identical() {
        let source = "kind: Pod\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  {{- if .Values.x }}\n  hostNetwork: true\n  {{- end }}\n  containers:\n    - name: {{ .Chart.Name }}\n      image: x\n";
        let add = difference("spec.containers.0.securityContext", "x");
        let changes = [TemplateChange {
            kind: "Pod",
            difference: &add,
        }];
        let (new, lines) = edit(source, &changes).unwrap();
        assert_eq!(new, format!("{source}      securityContext: x\n"));
        assert_eq!(lines, vec![9]);
    }

    #[test]
    fn an_edit_inside_another_branch_is_refused() {
        let source = "kind: Pod\nspec:\n  containers: []\n  {{- with .Values.x }}\n  tolerations: x\n  {{- end }}\n";
        let add = difference("spec.hostNetwork", "false");
        let changes = [TemplateChange {
            kind: "Pod",
            difference: &add,
        }];
        assert!(edit(source, &changes).unwrap_err().contains("branch"));
    }

    #[test]
    fn lines_inserted_before_action_lines_that_add_to_the_yaml_above_are_refused() {
        let source = "kind: Pod\nspec:\n  containers:\n    - name: a\n      env:\n        - name: A\n          valueFrom: x\n        {{- toYaml .Values.more | nindent 8 }}\n";
        let gone = Difference {
            new: None,
            ..difference("spec.containers.0.env.0.valueFrom", "")
        };
        let add = difference("spec.containers.0.securityContext", "x");
        let changes = [
            TemplateChange {
                kind: "Pod",
                difference: &gone,
            },
            TemplateChange {
                kind: "Pod",
                difference: &add,
            },
        ];
        assert!(edit(source, &changes).unwrap_err().contains("add to it"));
    }

    #[test]
    fn a_key_written_in_two_branches_is_refused() {
        let source = "kind: Pod\nspec:\n{{- if .Values.x }}\n  a: {b: 1}\n{{- else }}\n  a: {b: 2}\n{{- end }}\n";
        let add = difference("spec.a.c", "3");
        let changes = [TemplateChange {
            kind: "Pod",
            difference: &add,
        }];
        assert!(
            edit(source, &changes)
                .unwrap_err()
                .contains("more than once")
        );
    }
}
