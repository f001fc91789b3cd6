//! The programs known to read a secret from a file, and how: the table of
//! `transforms/secret-readers.yaml` (compiled in) and those a configuration adds under
//! `secret-readers`. `secrets-as-files` converts a variable only when a reader is known.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::k8s::image::{self, ImageName, ImagePattern};

/// The table, compiled into the binary.
const TABLE: &str = include_str!("../../transforms/secret-readers.yaml");

/// The table's file: its readers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    readers: Vec<SecretReader>,
}

/// A program that reads some variables' secrets from files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretReader {
    /// Patterns of the images running it: registry, tag and digest are ignored (in the
    /// pattern too), `postgres` is Docker Hub's official image, `*` matches any run of
    /// characters, `/` included.
    pub images: Vec<ImagePattern>,
    /// The variables it reads from a file, by name.
    #[serde(default)]
    pub variables: Vec<String>,
    /// Or every variable whose name starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The variable naming the file is the variable's name followed by this (`_FILE`).
    #[serde(default)]
    pub suffix: Option<String>,
    /// Or this variable names the file, whichever of `variables` it replaces (`HF_TOKEN` →
    /// `HF_TOKEN_PATH`).
    #[serde(default)]
    pub file_variable: Option<String>,
    /// Where the program's own documentation says so; a configuration may leave it out.
    #[serde(default)]
    pub source: Option<String>,
}

impl SecretReader {
    /// What the type system cannot say: images, variables and one way to name the file.
    pub fn check(&self) -> Result<(), String> {
        if self.images.is_empty() {
            return Err("a secret reader needs `images`".into());
        }
        for pattern in &self.images {
            let pattern = pattern.as_str();
            image::check_pattern(pattern)
                .map_err(|problem| format!("secret reader image pattern `{pattern}`: {problem}"))?;
        }
        match (self.variables.is_empty(), &self.prefix) {
            (false, None) | (true, Some(_)) => {}
            _ => {
                return Err(format!(
                    "the secret reader of {} needs either `variables` or `prefix`",
                    image::listed(&self.images)
                ));
            }
        }
        match (&self.suffix, &self.file_variable) {
            (Some(_), None) => Ok(()),
            (None, Some(_)) if self.prefix.is_none() => Ok(()),
            (None, Some(_)) => Err(format!(
                "the secret reader of {}: `file-variable` goes with `variables`, not `prefix`",
                image::listed(&self.images)
            )),
            _ => Err(format!(
                "the secret reader of {} needs either `suffix` or `file-variable`",
                image::listed(&self.images)
            )),
        }
    }

    /// The variable naming the file that this reader reads `variable` from, when it runs in
    /// `image`.
    fn file_variable_for(&self, image: &ImageName, variable: &str) -> Option<String> {
        let reads = match &self.prefix {
            Some(prefix) => variable.starts_with(prefix.as_str()),
            None => self.variables.iter().any(|v| v == variable),
        };
        // The variable first: it rules out most readers without matching a pattern.
        if !(reads && self.images.iter().any(|pattern| image.matches(pattern))) {
            return None;
        }
        match (&self.suffix, &self.file_variable) {
            (Some(suffix), _) => Some(format!("{variable}{suffix}")),
            (None, file_variable) => file_variable.clone(),
        }
    }

    /// The reader for a reviewer: which program, which convention, and the source.
    pub fn describe(&self) -> String {
        let convention = match (&self.suffix, &self.file_variable) {
            (Some(suffix), _) => format!("`NAME{suffix}` names the file"),
            (None, Some(name)) => format!("`{name}` names the file"),
            (None, None) => String::new(),
        };
        let source = self
            .source
            .as_deref()
            .unwrap_or("secret-readers in .kubeharden.yaml");
        format!("{} ({convention}; {source})", image::listed(&self.images))
    }
}

/// The readers of the table, in order.
pub fn built_in() -> &'static [SecretReader] {
    static TABLE_READERS: OnceLock<Vec<SecretReader>> = OnceLock::new();
    TABLE_READERS.get_or_init(|| {
        let table: Table = serde_saphyr::from_str(TABLE)
            .unwrap_or_else(|e| panic!("transforms/secret-readers.yaml is not a valid table: {e}"));
        for reader in &table.readers {
            if let Err(problem) = reader.check() {
                panic!("transforms/secret-readers.yaml: {problem}");
            }
            if reader.source.is_none() {
                panic!(
                    "transforms/secret-readers.yaml: the reader of {} names no source",
                    image::listed(&reader.images)
                );
            }
        }
        table.readers
    })
}

/// The reader of `variable` in a container running `image`, and the variable naming its file:
/// from `configured` first (a configuration knows its own images best), then the table.
pub fn find<'r>(
    configured: &'r [SecretReader],
    image: &str,
    variable: &str,
) -> Option<(&'r SecretReader, String)> {
    let image = ImageName::of(image);
    configured
        .iter()
        .chain(built_in())
        .find_map(|r| Some((r, r.file_variable_for(&image, variable)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_valid_and_names_the_file_variable_each_reader_expects() {
        assert!(!built_in().is_empty());
        for (image, variable, expected) in [
            (
                "postgres:16",
                "POSTGRES_PASSWORD",
                Some("POSTGRES_PASSWORD_FILE"),
            ),
            (
                "grafana/grafana:11.0.0",
                "GF_SECURITY_ADMIN_PASSWORD",
                Some("GF_SECURITY_ADMIN_PASSWORD__FILE"),
            ),
            (
                "docker.io/vllm/vllm-openai:v0.6.0",
                "HF_TOKEN",
                Some("HF_TOKEN_PATH"),
            ),
            (
                "vllm/vllm-openai",
                "HUGGING_FACE_HUB_TOKEN",
                Some("HF_TOKEN_PATH"),
            ),
            ("postgres:16", "PGPASSWORD", None),
            ("someone/postgres", "POSTGRES_PASSWORD", None),
            ("redis:7", "REDIS_PASSWORD", None),
        ] {
            let found = find(&[], image, variable).map(|(_, v)| v);
            assert_eq!(found.as_deref(), expected, "{image} {variable}");
        }
    }

    #[test]
    fn a_reader_needs_one_way_to_choose_variables_and_one_to_name_the_file() {
        let reader = |yaml: &str| {
            serde_saphyr::from_str::<SecretReader>(yaml)
                .unwrap()
                .check()
        };
        assert!(reader("images: [a]\nvariables: [X]\nsuffix: _FILE").is_ok());
        assert!(reader("images: [\"acme/*\"]\nvariables: [X]\nsuffix: _FILE").is_ok());
        assert!(reader("images: [\"acme/{a,b}\"]\nvariables: [X]\nsuffix: _FILE").is_err());
        assert!(reader("images: [a]\nprefix: X_\nsuffix: _FILE").is_ok());
        assert!(reader("images: [a]\nvariables: [X]\nfile-variable: X_PATH").is_ok());
        assert!(reader("images: []\nvariables: [X]\nsuffix: _FILE").is_err());
        assert!(reader("images: [a]\nsuffix: _FILE").is_err());
        assert!(reader("images: [a]\nvariables: [X]\nprefix: X\nsuffix: _FILE").is_err());
        assert!(reader("images: [a]\nvariables: [X]").is_err());
        assert!(reader("images: [a]\nvariables: [X, Y]\nfile-variable: P").is_ok());
        assert!(reader("images: [a]\nprefix: X\nfile-variable: P").is_err());
        assert!(reader("images: [a]\nvariables: [X]\nsuffix: _F\nfile-variable: P").is_err());
    }
}
