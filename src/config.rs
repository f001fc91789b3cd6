//! `.kubeharden.yaml`: the profile, the transforms, their options and the paths to exclude,
//! found by walking up from each input (like `.editorconfig`) or named with `--config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::transform::{self, Literal, Profile, SecretReader, Settings};

/// The file name looked for in each input's folder and its parents.
pub const FILE_NAME: &str = ".kubeharden.yaml";

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    /// `default` or `restricted`.
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
    /// Programs reading secrets from files, added to the table of `secrets-as-files`.
    #[serde(default)]
    secret_readers: Vec<SecretReader>,
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
    /// The folder the exclude patterns are relative to.
    root: PathBuf,
    exclude: GlobSet,
}

impl Config {
    /// The configuration without a file: the command line over the defaults.
    pub fn from_overrides(overrides: &Overrides) -> Result<Config, String> {
        Config::build(ConfigFile::default(), None, overrides)
    }

    /// Reads the file at `path`; the command line wins over it.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_saphyr::from_str(&text)
                .map_err(|e| format!("{}: {}", path.display(), first_line(&e.to_string())))?
        };
        Config::build(file, Some(path), overrides).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn build(
        file: ConfigFile,
        source: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, String> {
        let profile = match (overrides.profile, &file.profile) {
            (Some(profile), _) => profile,
            (None, Some(name)) => Profile::named(name).ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown profile `{name}`; the profiles are: {}",
                    names.join(", ")
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
        let mut settings = Settings::new(profile, only, &skip)?;
        for (id, options) in &file.transforms {
            let declared = transform::find(id).ok_or_else(|| transform::unknown_transform(id))?;
            for (name, value) in options {
                let spec = declared
                    .options
                    .iter()
                    .find(|o| &o.name == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            declared.options.iter().map(|o| o.name.as_str()).collect();
                        match names.is_empty() {
                            true => {
                                format!("unknown option `{name}` of {id}, which has no options")
                            }
                            false => format!(
                                "unknown option `{name}` of {id}; its options are: {}",
                                names.join(", ")
                            ),
                        }
                    })?;
                if matches!(spec.default, Literal::Bool(_)) != matches!(value, Literal::Bool(_)) {
                    return Err(format!(
                        "option `{name}` of {id} takes a value like `{}`, not `{}`",
                        spec.default.display(),
                        value.display()
                    ));
                }
            }
        }
        settings.options = file.transforms;
        for reader in &file.secret_readers {
            reader.check()?;
        }
        settings.secret_readers = file.secret_readers;
        let root = source
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut globs = GlobSetBuilder::new();
        for pattern in &file.exclude {
            globs.add(Glob::new(pattern).map_err(|e| format!("exclude pattern `{pattern}`: {e}"))?);
        }
        let exclude = globs.build().map_err(|e| e.to_string())?;
        Ok(Config {
            settings,
            source: source.map(Path::to_path_buf),
            root,
            exclude,
        })
    }

    /// Whether `path` matches an exclude pattern, taken relative to the file's folder.
    pub fn excludes(&self, path: &Path) -> bool {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        absolute
            .strip_prefix(&root)
            .is_ok_and(|relative| self.exclude.is_match(relative))
    }
}

/// The nearest `.kubeharden.yaml` in the folder of `input` or above it, up to the top level of
/// its git repository.
pub fn discover(input: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(input).ok()?;
    let start = if absolute.is_dir() {
        absolute.as_path()
    } else {
        absolute.parent()?
    };
    // Up to the repository's top level (a folder holding `.git`, a folder or, in a worktree,
    // a file): a file above it belongs to no one in particular.
    for folder in start.ancestors() {
        let candidate = folder.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if folder.join(".git").exists() {
            return None;
        }
    }
    None
}

/// The first line of a reader's message, without its own `error:` label.
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or(message);
    line.strip_prefix("error: ").unwrap_or(line)
}
