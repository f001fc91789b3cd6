//! Turns the PATH arguments into the list of inputs, walking folders.

use std::path::{Path, PathBuf};

/// One input to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input, fixed to standard output.
    Stdin,
    /// A file named on the command line.
    Named(PathBuf),
    /// A file found by walking a folder; Helm templates among these are skipped, not errors.
    Found(PathBuf),
    /// A Helm chart: a folder holding `Chart.yaml`, named or found while walking, rendered
    /// and fixed as a whole (its files are not inputs of their own).
    Chart(PathBuf),
}

impl Input {
    /// The path as the user would write it: as given, or the folder given joined with the
    /// path found below it.
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::Named(p) | Input::Found(p) | Input::Chart(p) => p.to_string_lossy().into_owned(),
        }
    }
}

/// The extensions of manifest files met while walking a folder.
const MANIFEST_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Expands `paths` into inputs: `-` is standard input, a file is itself, a folder is every
/// manifest below it that `.gitignore` files do not exclude, in path order, except that a
/// chart met on the way is one input in place of its files. A path that cannot
/// be read is returned as an error: the path, and what is wrong.
pub fn collect(paths: &[String]) -> (Vec<Input>, Vec<(String, String)>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in paths {
        if arg == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(arg);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                walk(path, &mut found, &mut errors);
                inputs.extend(charts_in_place_of_their_files(found));
            }
            Ok(_) => inputs.push(Input::Named(path.to_path_buf())),
            Err(e) => errors.push((arg.clone(), e.to_string())),
        }
    }
    (inputs, errors)
}

fn walk(root: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<(String, String)>) {
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        // Git's own files, and kubeharden's configuration, are not manifests.
        .filter_entry(|entry| {
            entry.file_name() != ".git" && entry.file_name() != crate::config::FILE_NAME
        })
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let is_manifest = entry.file_type().is_some_and(|t| t.is_file())
                    && path
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e));
                if is_manifest {
                    inputs.push(Input::Found(tidy(path)));
                }
            }
            Err(e) => errors.push((root.display().to_string(), e.to_string())),
        }
    }
}

/// The inputs with the files of each chart replaced by the chart, where its first file was.
/// Charts inside a chart (`charts/NAME`) are part of it, not inputs of their own.
fn charts_in_place_of_their_files(found: Vec<Input>) -> Vec<Input> {
    let mut charts: Vec<PathBuf> = found
        .iter()
        .filter_map(|input| match input {
            Input::Found(path)
                if path.file_name() == Some(crate::source::helm::CHART_FILE.as_ref()) =>
            {
                path.parent().map(Path::to_path_buf)
            }
            _ => None,
        })
        .collect();
    // Sorted, a chart's parent chart comes before it.
    charts.sort();
    let mut outermost: Vec<PathBuf> = Vec::new();
    for chart in charts {
        if !outermost.iter().any(|outer| chart.starts_with(outer)) {
            outermost.push(chart);
        }
    }
    let mut out: Vec<Input> = Vec::new();
    for input in found {
        let chart = match &input {
            Input::Found(path) => outermost.iter().find(|c| path.starts_with(c)),
            _ => None,
        };
        // A chart walked from inside is the folder `.`.
        let chart = chart.map(|c| match c.as_os_str().is_empty() {
            true => Input::Chart(PathBuf::from(".")),
            false => Input::Chart(c.clone()),
        });
        match chart {
            Some(chart) if out.contains(&chart) => {}
            Some(chart) => out.push(chart),
            None => out.push(input),
        }
    }
    out
}

/// Drops a leading `./` so that diff headers read `a/deploy/x.yaml`, which `git apply` takes.
fn tidy(path: &Path) -> PathBuf {
    path.strip_prefix(".")
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
