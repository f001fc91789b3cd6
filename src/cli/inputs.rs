//! Turns the PATH arguments into the list of inputs, walking folders.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::FileType;
use std::path::{Component, Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};

use crate::folders::{Look, Nearest, SameFolder};

/// One input to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`, or `/dev/stdin` named as a path), fixed to standard output.
    Stdin,
    /// A device, FIFO or socket named as a path: read like standard input, the fixed text to
    /// standard output. Only regular files are rewritten.
    Stream(PathBuf),
    /// A regular file named on the command line.
    Named(File),
    /// A regular file found by walking a folder; Helm templates among these are skipped, not errors.
    Found(File),
    /// A Helm chart: a folder holding `Chart.yaml`, named or found while walking, rendered
    /// and fixed as a whole (its files are not inputs of their own).
    Chart(PathBuf),
    /// A folder walked that holds kustomizations: its files fixed together and checked by
    /// building every kustomization ([`super::kustomize`]).
    Kustomize(Tree),
}

/// A walked folder holding kustomizations, with the files found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The folder walked: the tree's edits stay below it.
    pub root: PathBuf,
    /// The kustomization folders below it, in path order.
    pub kustomizations: Vec<PathBuf>,
    /// The manifests found below it (charts' files aside).
    pub files: Vec<File>,
}

/// A regular file to fix in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The file read and rewritten: for a symbolic link, its target (relative to the current
    /// folder when below it).
    pub path: PathBuf,
    /// The symbolic link the file was reached through; it stays a link.
    pub link: Option<PathBuf>,
}

impl Input {
    /// The path as the user would write it: as given, or the folder given joined with the
    /// path found below it; a symbolic link as `link -> target`.
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::Stream(path) => path.to_string_lossy().into_owned(),
            Input::Chart(path) => path.to_string_lossy().into_owned(),
            Input::Kustomize(tree) => tree.root.to_string_lossy().into_owned(),
            Input::Named(file) | Input::Found(file) => match &file.link {
                Some(link) => format!("{} -> {}", link.display(), file.path.display()),
                None => file.path.to_string_lossy().into_owned(),
            },
        }
    }

    /// The regular file this input rewrites in place; `None` for what goes to standard output.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Input::Stdin | Input::Stream(_) | Input::Chart(_) | Input::Kustomize(_) => None,
            Input::Named(file) | Input::Found(file) => Some(&file.path),
        }
    }

    /// The path a diff names, as `git diff` would: relative to the top level of the git
    /// repository holding the file, else to the current folder; `-` for standard input.
    pub fn diff_path(&self) -> String {
        match self {
            Input::Stdin => "-".to_owned(),
            Input::Stream(path) => path.to_string_lossy().into_owned(),
            Input::Chart(path) => git_relative(path).to_string_lossy().into_owned(),
            Input::Kustomize(tree) => git_relative(&tree.root).to_string_lossy().into_owned(),
            Input::Named(file) | Input::Found(file) => {
                git_relative_resolved(&file.path, file.canonical())
                    .to_string_lossy()
                    .into_owned()
            }
        }
    }
}

impl File {
    /// The file's path with every symbolic link resolved, as [`Path::canonicalize`] gives it;
    /// `None` when it cannot be. The path itself is no link (a link is followed when the file
    /// is collected), so only its folder is resolved, once per run.
    fn canonical(&self) -> Option<PathBuf> {
        self.in_resolved(resolved_folder_of(&self.path))
    }

    /// [`File::canonical`], given the file's folder resolved.
    fn in_resolved(&self, folder: Option<PathBuf>) -> Option<PathBuf> {
        Some(folder?.join(self.path.file_name()?))
    }
}

/// The folder of `file` with every symbolic link resolved, once per run; `None` when it cannot
/// be.
fn resolved_folder_of(file: &Path) -> Option<PathBuf> {
    let folder = match file.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    canonical_folder(&std::path::absolute(folder).ok()?)
}

/// The paths that name standard input itself: read from them like `-`, never written.
const STDIN_PATHS: [&str; 3] = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"];

/// The extensions of manifest files met while walking a folder, in any case.
const MANIFEST_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Whether a walk takes `path` for a manifest: its extension is `.yaml`, `.yml` or `.json`, in
/// any case.
pub fn is_manifest_path(path: &Path) -> bool {
    path.extension().and_then(OsStr::to_str).is_some_and(|e| {
        MANIFEST_EXTENSIONS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(e))
    })
}

/// What the PATH arguments name.
#[derive(Debug, Default)]
pub struct Collected {
    /// The inputs, in order; each file once, however many paths or links reach it.
    pub inputs: Vec<Input>,
    /// The paths that cannot be read: the path, and what is wrong.
    pub unreadable: Vec<(String, String)>,
    /// What walks left alone.
    pub skipped: Skipped,
}

/// What walks left alone, for the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Skipped {
    /// Symbolic links to folders, out of the folder walked, or broken.
    pub links: usize,
    /// Devices, FIFOs and sockets with a manifest's name.
    pub special: usize,
}

/// Expands `paths` into inputs: `-` is standard input, a file is itself (a symbolic link its
/// target; a device, FIFO or socket is read like `-`), a folder is every manifest below it
/// that git would list ([`walk`]), in path order, except that a chart met on the way is one
/// input in place of its files. With `within`, a symbolic link named on the
/// command line must lead inside that folder. An error when standard input is named twice.
pub fn collect(paths: &[String], within: Option<&Path>) -> Result<Collected, String> {
    let mut collected = Collected::default();
    for arg in paths {
        if arg == "-" || STDIN_PATHS.contains(&arg.as_str()) {
            if collected.inputs.contains(&Input::Stdin) {
                return Err(format!(
                    "standard input is named twice (`{arg}`); it can be read only once"
                ));
            }
            collected.inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(arg);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let first = collected.inputs.len();
                walk(path, &mut collected);
                let found = collected.inputs.split_off(first);
                let found = charts_in_place_of_their_files(found);
                collected.inputs.extend(kustomize_tree(path, found));
            }
            Ok(meta) if !meta.is_file() => collected.inputs.push(Input::Stream(path.to_path_buf())),
            Ok(_) => match named_file(path, within) {
                Ok(file) => collected.inputs.push(Input::Named(file)),
                Err(e) => collected.unreadable.push((arg.clone(), e)),
            },
            Err(e) => collected.unreadable.push((arg.clone(), e.to_string())),
        }
    }
    collected.inputs = each_file_once(std::mem::take(&mut collected.inputs));
    Ok(collected)
}

/// A regular file named on the command line, resolved when it is a symbolic link.
fn named_file(path: &Path, within: Option<&Path>) -> Result<File, String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(File {
            path: tidy(path),
            link: None,
        });
    }
    let target = path.canonicalize().map_err(|e| e.to_string())?;
    if let Some(root) = within
        && !target.starts_with(root.canonicalize().map_err(|e| e.to_string())?)
    {
        return Err(format!(
            "a symbolic link to {}, outside the repository; it was left alone",
            target.display()
        ));
    }
    Ok(File {
        path: shown(&target),
        link: Some(tidy(path)),
    })
}

/// `inputs` with each file once: a file also reached through a link is fixed under its own
/// name, and two links to one file fix it once.
fn each_file_once(inputs: Vec<Input>) -> Vec<Input> {
    let mut folders = SameFolder::default();
    let identities: Vec<Option<PathBuf>> = inputs
        .iter()
        .map(|input| match input {
            Input::Named(file) | Input::Found(file) => {
                let folder = folders.answer(&file.path, resolved_folder_of);
                Some(
                    file.in_resolved(folder)
                        .unwrap_or_else(|| file.path.clone()),
                )
            }
            _ => None,
        })
        .collect();
    let direct: HashSet<&PathBuf> = inputs
        .iter()
        .zip(&identities)
        .filter(|(i, _)| matches!(i, Input::Named(f) | Input::Found(f) if f.link.is_none()))
        .filter_map(|(_, id)| id.as_ref())
        .collect();
    let mut seen = HashSet::new();
    inputs
        .into_iter()
        .zip(&identities)
        .filter(|(input, id)| {
            let Some(id) = id else {
                return true;
            };
            let through_link =
                matches!(input, Input::Named(f) | Input::Found(f) if f.link.is_some());
            !(through_link && direct.contains(id)) && seen.insert(id)
        })
        .map(|(input, _)| input)
        .collect()
}

/// Adds the manifests below `root`: inside a git work tree, the files git lists (tracked ones,
/// even when a `.gitignore` matches them, and untracked ones it does not ignore; a submodule's
/// files belong to the submodule); elsewhere, every file that the `.gitignore` files inside
/// `root` do not exclude. `.ignore` files are not read. A symbolic link to a file inside
/// `root` stands for its target; other links, and special files, are counted and left alone.
fn walk(root: &Path, collected: &mut Collected) {
    let resolved_root = root.canonicalize().ok();
    let listed = match git_files(root, resolved_root.as_deref()) {
        Some(files) => files,
        None => match plain_files(root) {
            Ok(files) => files,
            Err(e) => {
                collected
                    .unreadable
                    .push((root.display().to_string(), e.to_string()));
                return;
            }
        },
    };
    let canonical_root = resolved_root.unwrap_or_else(|| root.to_path_buf());
    let mut found: Vec<File> = Vec::new();
    for (path, kind) in listed {
        let is_manifest = is_manifest_path(&path);
        let excluded = path
            .file_name()
            .is_some_and(|n| n == crate::config::FILE_NAME);
        let Some(kind) = kind.or_else(|| Some(std::fs::symlink_metadata(&path).ok()?.file_type()))
        else {
            // Tracked, but deleted from the work tree.
            continue;
        };
        if kind.is_symlink() {
            match std::fs::canonicalize(&path) {
                Ok(target) if target.is_dir() => collected.skipped.links += 1,
                Ok(target) if is_manifest && !excluded => {
                    if !target.starts_with(&canonical_root) {
                        collected.skipped.links += 1;
                    } else if target.is_file() {
                        found.push(File {
                            path: shown(&target),
                            link: Some(tidy(&path)),
                        });
                    } else {
                        collected.skipped.special += 1;
                    }
                }
                Ok(_) => {}
                Err(_) if is_manifest => collected.skipped.links += 1,
                Err(_) => {}
            }
        } else if is_manifest && !excluded {
            if kind.is_file() {
                found.push(File {
                    path: tidy(&path),
                    link: None,
                });
            } else if !kind.is_dir() {
                collected.skipped.special += 1;
            }
        }
    }
    found.sort_by(|a, b| {
        fn name(f: &File) -> &PathBuf {
            f.link.as_ref().unwrap_or(&f.path)
        }
        name(a).cmp(name(b))
    });
    collected.inputs.extend(found.into_iter().map(Input::Found));
}

/// A path a walk lists, with what it is when the walk knows without asking the file system
/// again (a folder's listing says).
type Listed = (PathBuf, Option<FileType>);

/// The files git lists below `root` (`git ls-files --cached --others --exclude-standard`),
/// joined to `root`; `None` when `root` is not inside a git work tree or git cannot run. What
/// each is, git does not say. `resolved_root` is `root` with its symbolic links resolved.
fn git_files(root: &Path, resolved_root: Option<&Path>) -> Option<Vec<Listed>> {
    // With no `.git` at or above the folder git can only fail (it looks for its repository up
    // the resolved folder, and the variables that could point it elsewhere are removed below),
    // and starting it costs a process (1-2 ms).
    if resolved_root.is_some_and(|resolved| folders().tops.from(resolved).is_none()) {
        return None;
    }
    let mut command = std::process::Command::new("git");
    command
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ".",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // A hook running kubeharden may point git elsewhere: the walk asks about its own folder.
    for var in crate::pr::git::LOCATION_VARS {
        command.env_remove(var);
    }
    let output = command.output().ok()?;
    if !output.status.success() {
        return None;
    }
    let mut files: Vec<PathBuf> = output
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| root.join(path_from_bytes(name)))
        .collect();
    // A file both tracked and changed is listed once per stage; the order is git's, not ours.
    files.sort();
    files.dedup();
    Some(files.into_iter().map(|path| (path, None)).collect())
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The files below `root`, outside git: the `.gitignore` files inside `root` apply (those
/// above it do not: they belong to no walk of this folder), `.git` folders are skipped. What
/// each is, the folder's listing says (a symbolic link is not followed).
fn plain_files(root: &Path) -> Result<Vec<Listed>, ignore::Error> {
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .git_exclude(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        // In path order, which `walk` sorts by: sorting what is sorted takes one comparison
        // a file, where comparing paths a component at a time is slow. The entries of one
        // folder share all but their names, so their paths compare as their names do, without
        // cutting the name out of each path at each comparison.
        .sort_by_file_path(|a, b| a.as_os_str().cmp(b.as_os_str()))
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry?;
        let kind = entry.file_type();
        if entry.depth() > 0 && !kind.is_some_and(|t| t.is_dir()) {
            files.push((entry.into_path(), kind));
        }
    }
    Ok(files)
}

/// The inputs with the files of each chart replaced by the chart, where its first file was.
/// Charts inside a chart (`charts/NAME`) are part of it, not inputs of their own.
fn charts_in_place_of_their_files(found: Vec<Input>) -> Vec<Input> {
    let mut charts: Vec<PathBuf> = found
        .iter()
        .filter_map(|input| match input {
            Input::Found(file)
                if file.path.file_name() == Some(crate::source::helm::CHART_FILE.as_ref()) =>
            {
                file.path.parent().map(Path::to_path_buf)
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
            Input::Found(file) => outermost.iter().find(|c| file.path.starts_with(c)),
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

/// The inputs with the loose files replaced by one [`Tree`] of `root`, where its first file
/// was, when a kustomization is among them; as they were otherwise.
fn kustomize_tree(root: &Path, found: Vec<Input>) -> Vec<Input> {
    let is_kustomization = |file: &File| {
        file.link.is_none()
            && file.path.file_name().is_some_and(|name| {
                crate::source::kustomize::KUSTOMIZATION_FILES
                    .iter()
                    .any(|k| name == *k)
            })
    };
    let kustomizations: Vec<PathBuf> = found
        .iter()
        .filter_map(|input| match input {
            Input::Found(file) if is_kustomization(file) => {
                file.path.parent().map(|p| match p.as_os_str().is_empty() {
                    true => PathBuf::from("."),
                    false => p.to_path_buf(),
                })
            }
            _ => None,
        })
        .collect();
    if kustomizations.is_empty() {
        return found;
    }
    // A chart below a kustomization that inflates charts is part of its build.
    let inflated = |chart: &Path| {
        kustomizations.iter().any(|k| {
            (k == Path::new(".") || chart.starts_with(k))
                && crate::source::kustomize::inflates_charts(k)
        })
    };
    let found: Vec<Input> = found
        .into_iter()
        .filter(|input| !matches!(input, Input::Chart(chart) if inflated(chart)))
        .collect();
    let mut tree = Tree {
        root: tidy(root),
        kustomizations,
        files: Vec::new(),
    };
    if tree.root.as_os_str().is_empty() {
        tree.root = PathBuf::from(".");
    }
    let mut out = Vec::new();
    let mut at = None;
    for input in found {
        match input {
            Input::Found(file) => {
                at.get_or_insert(out.len());
                if !is_kustomization(&file) {
                    tree.files.push(file);
                }
            }
            other => out.push(other),
        }
    }
    out.insert(at.unwrap_or(out.len()), Input::Kustomize(tree));
    out
}

/// Drops a leading `./`, as people write paths.
fn tidy(path: &Path) -> PathBuf {
    path.strip_prefix(".")
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A resolved (absolute) path as people would name it from here: relative to the current
/// folder when below it.
fn shown(target: &Path) -> PathBuf {
    std::env::current_dir()
        .and_then(|cwd| cwd.canonicalize())
        .ok()
        .and_then(|cwd| target.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| target.to_path_buf())
}

/// `path` as `git diff` names it: relative to the top level of the git work tree holding it
/// (the nearest folder with a `.git`), else to the current folder (with `..` where needed).
pub(super) fn git_relative(path: &Path) -> PathBuf {
    git_relative_resolved(path, path.canonicalize().ok())
}

/// [`git_relative`] of `path`, given it `resolved` (`None`: it cannot be).
fn git_relative_resolved(path: &Path, resolved: Option<PathBuf>) -> PathBuf {
    let Some(absolute) = resolved.or_else(|| std::path::absolute(path).ok()) else {
        return tidy(path);
    };
    let top = absolute
        .parent()
        .and_then(|folder| folders().tops.from(folder));
    if let Some(top) = top
        && let Ok(relative) = absolute.strip_prefix(top)
    {
        return relative.to_path_buf();
    }
    match std::env::current_dir()
        .ok()
        .and_then(|cwd| canonical_folder(&cwd))
    {
        Some(cwd) => relative_to(&absolute, &cwd),
        None => absolute,
    }
}

/// What the run has learnt of folders, asked from every thread of the pool (a diff names its
/// file where the file is fixed): each folder resolved, and its git work tree found, once, not
/// once for each of its files.
static FOLDERS: LazyLock<Mutex<Folders>> = LazyLock::new(|| {
    Mutex::new(Folders {
        resolved: HashMap::new(),
        tops: Nearest::new(git_top_in),
    })
});

/// See [`FOLDERS`].
struct Folders {
    /// Each absolute folder with its symbolic links resolved; `None` when it cannot be.
    resolved: HashMap<PathBuf, Option<PathBuf>>,
    /// The top level of the git work tree holding each folder (the nearest with a `.git`).
    tops: Nearest<PathBuf>,
}

/// The folders learnt, even if a thread panicked while holding them (what is there is right).
fn folders() -> MutexGuard<'static, Folders> {
    FOLDERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `folder` as the top level of a git work tree: it holds `.git` (a folder or, in a worktree,
/// a file).
fn git_top_in(folder: &Path) -> Look<PathBuf> {
    match folder.join(".git").exists() {
        true => Look::Found(folder.to_owned()),
        false => Look::Up,
    }
}

/// The absolute `folder` resolved, remembered for the run.
fn canonical_folder(folder: &Path) -> Option<PathBuf> {
    let mut folders = folders();
    if let Some(known) = folders.resolved.get(folder) {
        return known.clone();
    }
    let resolved = folder.canonicalize().ok();
    folders.resolved.insert(folder.to_owned(), resolved.clone());
    resolved
}

/// `path` relative to `base`, both absolute: up with `..` to their common folder, then down.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let path: Vec<Component> = path.components().collect();
    let base: Vec<Component> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = base[common..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    relative.extend(&path[common..]);
    relative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_resolved_through_its_folder_is_what_canonicalize_gives() {
        let repository = tempfile::tempdir().unwrap();
        let root = repository.path();
        for folder in [".git", "apps/web", "elsewhere"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        std::fs::write(root.join("apps/web/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(root.join("elsewhere/b.yaml"), "b: 1\n").unwrap();
        std::os::unix::fs::symlink(root.join("apps"), root.join("apps-link")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere/b.yaml"), root.join("apps/b.yaml"))
            .unwrap();
        for path in [
            "apps/web/a.yaml",
            "apps-link/web/a.yaml",
            "apps-link/web/../web/a.yaml",
            "apps-link/../elsewhere/b.yaml",
        ] {
            let path = root.join(path);
            let file = File {
                path: path.clone(),
                link: None,
            };
            assert_eq!(file.canonical(), path.canonicalize().ok(), "{path:?}");
            assert_eq!(
                git_relative_resolved(&path, file.canonical()),
                git_relative(&path)
            );
        }
        // A link's target is named from the top of the repository it is in.
        assert_eq!(
            git_relative(&root.join("apps-link/b.yaml")),
            Path::new("elsewhere/b.yaml")
        );
        assert_eq!(
            git_relative(&root.join("apps-link/web/a.yaml")),
            Path::new("apps/web/a.yaml")
        );
    }
}
