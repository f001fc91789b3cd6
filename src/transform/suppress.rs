//! Suppressions written where the manifest lives: an annotation on the resource, or a
//! `# kubeharden: ignore[...]` comment on the line of the field, of the container's first line,
//! or of the resource's `kind:` line.

use std::collections::HashMap;

use crate::k8s::Resource;
use crate::yaml::{self, Node, Text};

/// The annotation that suppresses transforms for a whole resource: `"id,id"` or `"all"`.
pub const ANNOTATION: &str = "kubeharden.dev/skip";

/// Which transforms a comment or an annotation suppresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ids {
    All,
    Some(Vec<String>),
}

impl Ids {
    fn parse(list: &str) -> Ids {
        let ids: Vec<String> = list
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if ids.is_empty() || ids.iter().any(|i| i == "all") {
            Ids::All
        } else {
            Ids::Some(ids)
        }
    }

    fn covers(&self, id: &str) -> bool {
        match self {
            Ids::All => true,
            Ids::Some(ids) => ids.iter().any(|i| i == id),
        }
    }
}

/// The suppression comments of one file, by 1-based line.
#[derive(Debug, Default)]
pub struct Suppressions {
    by_line: HashMap<usize, Ids>,
}

impl Suppressions {
    /// Reads every `# kubeharden: ignore` and `# kubeharden: ignore[id,id]` comment.
    pub fn from_comments(text: &Text<'_>, comments: &[std::ops::Range<usize>]) -> Suppressions {
        let mut suppressions = Suppressions::default();
        suppressions.read_comments(text, comments);
        suppressions
    }

    /// Adds the suppressions among `comments`, for a file read a document at a time.
    pub fn read_comments(&mut self, text: &Text<'_>, comments: &[std::ops::Range<usize>]) {
        let found = comments.iter().filter_map(|span| {
            let body = text.source[span.clone()].trim_start_matches('#').trim();
            let rest = body
                .strip_prefix("kubeharden:")?
                .trim_start()
                .strip_prefix("ignore")?;
            let ids = match rest
                .trim()
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
            {
                Some((list, _)) => Ids::parse(list),
                None if rest.trim().is_empty() => Ids::All,
                None => return None,
            };
            Some((text.position(span.start).line, ids))
        });
        self.by_line.extend(found);
    }

    /// Whether the file has any suppression comment.
    pub fn has_comments(&self) -> bool {
        !self.by_line.is_empty()
    }

    /// Why `transform` must leave this place alone, if a comment on one of `lines` says so.
    pub fn on_lines(&self, transform: &str, lines: &[usize]) -> Option<String> {
        let line = lines
            .iter()
            .find(|l| self.by_line.get(l).is_some_and(|ids| ids.covers(transform)))?;
        Some(format!("suppressed by the comment on line {line}"))
    }

    /// Why `transform` must leave this place alone, if it must: a comment on one of `lines`,
    /// or the resource's annotation (for a container, also its container-scoped annotation
    /// `kubeharden.dev/skip.NAME`).
    pub fn reason(
        &self,
        transform: &str,
        root: &Node<'_>,
        resource: &Resource,
        container: Option<&str>,
        lines: &[usize],
    ) -> Option<String> {
        if let Some(reason) = self.on_lines(transform, lines) {
            return Some(reason);
        }
        let mut path = resource.path.clone();
        path.extend(["metadata", "annotations"].map(|k| yaml::Step::Key(k.into())));
        let annotations = yaml::lookup(root, &path)?;
        let scoped = container.map(|name| format!("{ANNOTATION}.{name}"));
        [Some(ANNOTATION.to_owned()), scoped]
            .into_iter()
            .flatten()
            .find_map(|key| {
                let value = annotations.get(&key)?.as_str()?;
                Ids::parse(value)
                    .covers(transform)
                    .then(|| format!("suppressed by the annotation {key}"))
            })
    }
}
