//! `.kubeharden.yaml`: the profile, the transforms, their options and the paths to exclude,
//! found by walking up from each input (like `.editorconfig`) or named with `--config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::folders::{Look, Nearest};
use crate::k8s::DeclaredKind;
use crate::transform::{self, Literal, Profile, SecretReader, Settings};
use crate::yaml::{self, Position, Step, Text};

/// The file name looked for in each input's folder and its parents.
pub const FILE_NAME: &str = ".kubeharden.yaml";

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    /// `default`, `restricted` or `strict`.
    #[serde(default)]
    profile: Option<String>,
    /// Run only these transforms.
    #[serde(default)]
    only: Vec<String>,
    /// Do not run these transforms.
    #[serde(default)]
    skip: Vec<String>,
    /// Options by transform id, then option name.
    #[serde(default)]
    transforms: BTreeMap<String, BTreeMap<String, Literal>>,
    /// Glob patterns, relative to the file's folder, of paths to leave alone.
    #[serde(default)]
    exclude: Vec<String>,
    /// The helm binary charts are rendered with, relative to the file's folder.
    #[serde(default)]
    helm: Option<PathBuf>,
    /// The kubectl binary kustomizations are built with, relative to the file's folder.
    #[serde(default)]
    kubectl: Option<PathBuf>,
    /// Values files each chart is also rendered with, relative to the file's folder.
    #[serde(default)]
    values: Vec<PathBuf>,
    /// Programs reading secrets from files, added to the table of `secrets-as-files`.
    #[serde(default)]
    secret_readers: Vec<SecretReader>,
    /// Kinds holding a pod spec, besides the built-in ones.
    #[serde(default)]
    kinds: Vec<DeclaredKind>,
}

/// What the command line says, which wins over any file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--profile`.
    pub profile: Option<Profile>,
    /// `--only`.
    pub only: Vec<String>,
    /// `--skip`.
    pub skip: Vec<String>,
}

/// A configuration in force: the settings and the exclusions.
#[derive(Debug)]
pub struct Config {
    /// Which transforms run, and how.
    pub settings: Settings,
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    /// The helm binary named by the file.
    pub helm: Option<PathBuf>,
    /// The kubectl binary named by the file.
    pub kubectl: Option<PathBuf>,
    /// The values files charts are also rendered with, each one a rendering to harden.
    pub values: Vec<PathBuf>,
    /// The folder the exclude patterns are relative to.
    root: PathBuf,
    exclude: GlobSet,
}

impl Config {
    /// The configuration without a file: the command line over the defaults.
    pub fn from_overrides(overrides: &Overrides) -> Result<Config, String> {
        Config::build(ConfigFile::default(), None, overrides).map_err(|(message, _)| message)
    }

    /// Reads the file at `path`; the command line wins over it.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_saphyr::from_str(&text).map_err(|e| read_error(path, &e))?
        };
        let place = |at: &[Step]| position_of(&text, at).map_or(String::new(), |p| format!(":{p}"));
        let mut config = Config::build(file, Some(path), overrides)
            .map_err(|(message, at)| format!("{}{}: {message}", path.display(), place(&at)))?;
        for (i, kind) in config.settings.kinds.iter_mut().enumerate() {
            let at = [Step::Key("kinds".into()), Step::Index(i)];
            kind.declared_at = format!("{}{}", path.display(), place(&at));
        }
        Ok(config)
    }

    /// The configuration of `file` under the command line; an error names the entry of the
    /// file at fault, when one is.
    fn build(
        file: ConfigFile,
        source: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, (String, Vec<Step>)> {
        let key = |k: &str| Step::Key(k.to_owned().into());
        for (list, ids) in [("only", &file.only), ("skip", &file.skip)] {
            if let Some(i) = ids.iter().position(|id| transform::find(id).is_none()) {
                return Err((
                    transform::unknown_transform(&ids[i]),
                    vec![key(list), Step::Index(i)],
                ));
            }
        }
        let profile = match (overrides.profile, &file.profile) {
            (Some(profile), _) => profile,
            (None, Some(name)) => Profile::named(name).ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|(n, _)| *n).collect();
                (
                    format!(
                        "unknown profile `{name}`; the profiles are: {}",
                        names.join(", ")
                    ),
                    vec![key("profile")],
                )
            })?,
            (None, None) => Profile::Default,
        };
        let only = if overrides.only.is_empty() {
            &file.only
        } else {
            &overrides.only
        };
        let skip: Vec<String> = file.skip.iter().chain(&overrides.skip).cloned().collect();
        let mut settings = Settings::new(profile, only, &skip).map_err(|e| (e, Vec::new()))?;
        for (id, options) in &file.transforms {
            let declared = transform::find(id).ok_or_else(|| {
                (
                    transform::unknown_transform(id),
                    vec![key("transforms"), key(id)],
                )
            })?;
            for (name, value) in options {
                let at = || vec![key("transforms"), key(id), key(name)];
                let spec = declared
                    .options
                    .iter()
                    .find(|o| &o.name == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            declared.options.iter().map(|o| o.name.as_str()).collect();
                        let message = match names.is_empty() {
                            true => {
                                format!("unknown option `{name}` of {id}, which has no options")
                            }
                            false => format!(
                                "unknown option `{name}` of {id}; its options are: {}",
                                names.join(", ")
                            ),
                        };
                        (message, at())
                    })?;
                let takes = match &spec.default {
                    Some(default) => (default.kind() == value.kind())
                        .then_some(())
                        .ok_or_else(|| format!("{}, like `{}`", default.kind(), default.display())),
                    None => matches!(value, Literal::Int(_))
                        .then_some(())
                        .ok_or_else(|| "a whole number".to_owned()),
                };
                if let Err(takes) = takes {
                    return Err((
                        format!(
                            "option `{name}` of {id} takes {takes}, not `{}`",
                            value.display()
                        ),
                        at(),
                    ));
                }
                if let Literal::Table(table) = value {
                    for (image, folders) in table {
                        transform::check_writes(image, folders)
                            .map_err(|e| (format!("option `{name}` of {id}: {e}"), at()))?;
                    }
                }
            }
        }
        settings.options = file.transforms;
        for (i, reader) in file.secret_readers.iter().enumerate() {
            reader
                .check()
                .map_err(|e| (e, vec![key("secret-readers"), Step::Index(i)]))?;
        }
        settings.secret_readers = file.secret_readers;
        for (i, kind) in file.kinds.iter().enumerate() {
            kind.check()
                .map_err(|e| (e, vec![key("kinds"), Step::Index(i)]))?;
        }
        settings.kinds = file.kinds;
        let root = source
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut globs = GlobSetBuilder::new();
        for (i, pattern) in file.exclude.iter().enumerate() {
            globs.add(Glob::new(pattern).map_err(|e| {
                (
                    format!("exclude pattern `{pattern}`: {e}"),
                    vec![key("exclude"), Step::Index(i)],
                )
            })?);
        }
        let exclude = globs.build().map_err(|e| (e.to_string(), Vec::new()))?;
        Ok(Config {
            settings,
            source: source.map(Path::to_path_buf),
            helm: file.helm.map(|p| root.join(p)),
            kubectl: file.kubectl.map(|p| root.join(p)),
            values: file.values.iter().map(|p| root.join(p)).collect(),
            root,
            exclude,
        })
    }

    /// Whether `path` matches an exclude pattern, taken relative to the file's folder.
    pub fn excludes(&self, path: &Path) -> bool {
        // Most configurations exclude nothing: no need to make paths absolute, which asks the
        // system for the current folder for each relative one.
        if self.exclude.is_empty() {
            return false;
        }
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        absolute
            .strip_prefix(&root)
            .is_ok_and(|relative| self.exclude.is_match(relative))
    }
}

/// Finds the nearest `.kubeharden.yaml` of each input, remembering what each folder gave: the
/// files of one folder, and the folders of one tree, look at each folder once.
#[derive(Debug)]
pub struct Discovery {
    /// The configuration file found for each folder looked at (none: no file up to the top).
    found: Nearest<PathBuf>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            found: Nearest::new(configuration_in),
        }
    }
}

impl Discovery {
    /// The nearest `.kubeharden.yaml` in the folder of `input` or above it, up to the top
    /// level of its git repository.
    pub fn discover(&mut self, input: &Path) -> Option<PathBuf> {
        let absolute = std::path::absolute(input).ok()?;
        match absolute.is_dir() {
            true => self.found.from(&absolute),
            false => self.discover_for_file(&absolute),
        }
    }

    /// As [`Discovery::discover`], for an input known to be a file: the file system is not
    /// asked what it is.
    pub fn discover_for_file(&mut self, file: &Path) -> Option<PathBuf> {
        let absolute = std::path::absolute(file).ok()?;
        self.found.from(absolute.parent()?)
    }
}

/// The configuration file in `folder`; the search stops at the repository's top level (a
/// folder holding `.git`, a folder or, in a worktree, a file): a file above it belongs to no
/// one in particular.
fn configuration_in(folder: &Path) -> Look<PathBuf> {
    let candidate = folder.join(FILE_NAME);
    if candidate.is_file() {
        Look::Found(candidate)
    } else if folder.join(".git").exists() {
        Look::Stop
    } else {
        Look::Up
    }
}

/// Where the entry at `at` is in the configuration `source`: its key, or its item.
fn position_of(source: &str, at: &[Step]) -> Option<Position> {
    let (last, parent) = at.split_last()?;
    let text = Text::new(source);
    let stream = yaml::parse(&text, false).ok()?;
    let parent = yaml::lookup(stream.documents.first()?, parent)?;
    let node = match last {
        Step::Key(k) => {
            &parent
                .entries()?
                .iter()
                .find(|(key, _)| key.as_str() == Some(k))?
                .0
        }
        Step::Index(i) => parent.items()?.get(*i)?,
    };
    Some(text.position(node.full_start()))
}

/// A reader's error as `FILE:LINE:COL: message`, in the reader's words for people (not its
/// options), on one line.
fn read_error(path: &Path, error: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    let error = error.without_snippet();
    let message: String = serde_saphyr::UserMessageFormatter
        .format_message(error)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let place = error
        .location()
        .filter(|l| l.line() > 0)
        .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
    format!("{}{place}: {message}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_folder_is_looked_at_once_and_gives_what_a_fresh_search_gives() {
        let repository = tempfile::tempdir().unwrap();
        let root = repository.path();
        for folder in [".git", "apps/web/deploy", "apps/api", "infra"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::write(root.join("apps").join(FILE_NAME), "profile: strict\n").unwrap();
        let inputs = [
            ("apps/web/deploy/a.yaml", Some("apps")),
            ("apps/api/b.yaml", Some("apps")),
            ("infra/c.yaml", None),
            ("apps/web/deploy/d.yaml", Some("apps")),
            ("e.yaml", None),
        ];
        let mut discovery = Discovery::default();
        for (input, expected) in inputs {
            let found = discovery.discover(&root.join(input));
            let expected = expected.map(|folder| root.join(folder).join(FILE_NAME));
            assert_eq!(found, expected, "{input}");
            assert_eq!(Discovery::default().discover(&root.join(input)), expected);
        }
        // Every folder from the inputs' up to the top, once each, and none above the top.
        assert_eq!(discovery.found.folders_known(), 6);
    }
}
