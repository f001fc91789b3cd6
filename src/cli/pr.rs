//! `kubeharden pr`: the fixes of the remote's base branch, committed on a bot branch and
//! proposed as a pull request. The user's work tree is never touched: the fixes are made in a
//! temporary worktree of the base commit, and the branch always holds one kubeharden commit on
//! top of the base, so that a run with the same fixes changes nothing and a run with new fixes
//! replaces that commit.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{Emit, Selection, Wanted, fix_paths, stderr_lines};
use crate::pr::git::{Git, redact};
use crate::pr::github::{GitHub, Token};
use crate::report::{FileStatus, Report, markdown, plural};

/// The trailer that marks kubeharden's commits: a branch holding any other commit is not
/// kubeharden's to rewrite.
pub const TRAILER: &str = "Kubeharden-Fix";

#[derive(Debug, Args)]
pub struct PrArgs {
    /// The GitHub repository that receives the pull request.
    #[arg(long, value_name = "OWNER/NAME")]
    github_repo: String,
    /// The GitHub REST API; for GitHub Enterprise, https://HOST/api/v3.
    #[arg(long, value_name = "URL", default_value = "https://api.github.com")]
    api_url: String,
    /// Read the token from FILE [default: the GITHUB_TOKEN environment variable].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The branch to fix and to merge into [default: the remote's default branch].
    #[arg(long, value_name = "BRANCH")]
    base: Option<String>,
    /// The branch that carries the fixes.
    #[arg(long, value_name = "NAME", default_value = "kubeharden/harden")]
    branch: String,
    /// The git remote to fetch from and push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    remote: String,
    /// Print the branch, commit message, title and body; push nothing, call no API.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    selection: Selection,
    /// Files and folders to fix, relative to the current folder, inside the work tree.
    #[arg(default_value = ".")]
    paths: Vec<String>,
}

/// Runs `kubeharden pr`: 0 when the pull request is up to date (or nothing needed fixing),
/// 2 when something failed, or when some input could not be processed (the others were).
pub fn run(args: &PrArgs) -> ExitCode {
    match propose(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Does the work; whether every input was processed.
fn propose(args: &PrArgs) -> Result<bool> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let git = Git::discover(&cwd)?;
    let paths = paths_in_repository(git.root(), &cwd, &args.paths)?;
    let branch = git.branch_name(&args.branch)?;
    // Without a token there is no point fetching and fixing: say so first.
    let github = if args.dry_run {
        None
    } else {
        if let Some(file) = &args.token_file {
            warn_if_others_can_read(file);
        }
        let token = Token::load(
            args.token_file.as_deref(),
            std::env::var("GITHUB_TOKEN").ok(),
        )?;
        Some(GitHub::new(&args.api_url, &args.github_repo, token)?)
    };
    // A remote given as a URL may carry credentials: messages show it redacted.
    let remote = redact(&args.remote);
    // Both as branch names, so that `refs/heads/main` is `main`.
    let base = match &args.base {
        Some(base) => git.branch_name(base)?,
        None => git.remote_default_branch(&args.remote)?,
    };
    if base == branch {
        bail!(
            "--branch {} is the base branch: kubeharden pushes its fixes to a branch of their own; pass another --branch or --base",
            args.branch
        );
    }
    let Some(base_commit) = git.fetch_branch(&args.remote, &base)? else {
        bail!("{remote} has no branch {base}; check --base and --remote");
    };
    let branch_commit = git.fetch_branch(&args.remote, &branch)?;
    if let Some(head) = &branch_commit {
        refuse_foreign_commits(&git, &base_commit, head, &branch)?;
    }

    let worktree = git.temporary_worktree(&base_commit)?;
    let report = fix_in(worktree.path(), &paths, &args.selection)?;
    for line in report.files.iter().flat_map(stderr_lines) {
        eprintln!("{line}");
    }
    let complete = report.totals().errors == 0;
    let tree = worktree.write_tree()?;
    drop(worktree);
    if tree == git.tree_of(&base_commit)? {
        eprintln!(
            "kubeharden pr: nothing to fix on {base}; no branch, no pull request ({} file{} scanned)",
            report.files.len(),
            plural(report.files.len())
        );
        if report.files.is_empty() {
            eprintln!("{}", super::nothing_found_hint(&args.paths));
        }
        return Ok(complete);
    }
    let title = markdown::TITLE;
    let fixes_mark = format!("{FIXES_MARK}{} -->", git.hash_text(&fixes_text(&report))?);
    let body = format!("{}\n{fixes_mark}\n", markdown::pr_body(&report));
    let message = commit_message(&report);
    let up_to_date = match &branch_commit {
        Some(head) => git.tree_of(head)? == tree,
        None => false,
    };

    let Some(github) = github else {
        let mut out = std::io::stdout().lock();
        let action = match (&branch_commit, up_to_date) {
            (None, _) => format!("create branch {branch} from {base}"),
            (Some(_), true) => format!("keep branch {branch} (it holds these fixes)"),
            (Some(_), false) => format!("replace the kubeharden commit on {branch}"),
        };
        let _ = writeln!(
            out,
            "would {action} on {remote}, then open or update the pull request into {base} on {repo}\n\n\
             --- commit message ---\n{message}\n--- pull request title ---\n{title}\n\n--- pull request body ---\n{body}",
            repo = args.github_repo,
        );
        return Ok(complete);
    };

    // A read-only call first: a wrong repository, token or API URL stops the run before
    // anything is pushed.
    let open = github.find_open_pull_request(&branch)?;
    // A reviewer closed the pull request for these very fixes: not opened again, even when
    // the base moved on. New fixes make a new commit, and a new pull request; without the
    // branch, the user asked to start over.
    if open.is_none()
        && branch_commit.is_some()
        && let Some(closed) = github.find_closed_pull_request(&branch)?
        && (up_to_date
            || closed
                .body
                .as_deref()
                .is_some_and(|b| b.contains(&fixes_mark)))
    {
        eprintln!(
            "kubeharden pr: pull request #{} with these fixes was closed; not opening it again (new fixes open a new one; delete the branch {branch} to start over)",
            closed.number
        );
        return Ok(complete);
    }
    if up_to_date {
        eprintln!("kubeharden pr: {branch} already holds these fixes; no new commit");
    } else {
        let commit = git.commit_tree(&tree, &base_commit, &message)?;
        git.push(&args.remote, &commit, &branch, branch_commit.as_deref())?;
        eprintln!(
            "kubeharden pr: pushed {} to {branch} on {remote}",
            short(&commit)
        );
    }
    let pull = match open {
        Some(open)
            if open.title == title
                && open.body.as_deref() == Some(body.as_str())
                && open.base.name == base =>
        {
            eprintln!("kubeharden pr: pull request #{} is up to date", open.number);
            open
        }
        Some(open) => {
            // The base too: it may have changed (`--base`, a renamed default branch).
            let updated = github.update_pull_request(open.number, &base, title, &body)?;
            eprintln!("kubeharden pr: updated pull request #{}", updated.number);
            updated
        }
        None => {
            let created = github.create_pull_request(&branch, &base, title, &body)?;
            eprintln!("kubeharden pr: opened pull request #{}", created.number);
            created
        }
    };
    println!("{}", pull.html_url);
    Ok(complete)
}

/// The start of the line that ends a pull request's body and identifies its fixes (an HTML
/// comment, which GitHub does not show): a closed pull request with the same line is not opened
/// again, whatever else changed on the base.
const FIXES_MARK: &str = "<!-- kubeharden-fixes: ";

/// The fixes of `report`, one change a line, without what an unrelated edit of the base moves
/// (line numbers): the text whose fingerprint is [`FIXES_MARK`]'s.
fn fixes_text(report: &Report) -> String {
    let mut text = String::new();
    for file in &report.files {
        for c in &file.changes {
            let r = &c.resource;
            text.push_str(&format!(
                "{:?} {} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?} {:?}\n",
                file.path,
                c.document,
                r.api_version,
                r.kind,
                r.namespace,
                r.name,
                c.container,
                c.transform,
                c.path,
                c.old,
                c.new
            ));
        }
    }
    text
}

/// Warns when users other than the owner may read the token file: each of them could act as
/// the token's owner on GitHub.
#[cfg(unix)]
fn warn_if_others_can_read(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(file) {
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o044 != 0 {
            eprintln!(
                "warning: the token file {} can be read by other users (mode {mode:04o}); `chmod 600 {}` keeps it to its owner",
                file.display(),
                file.display()
            );
        }
    }
}

/// Modes are a Unix notion; elsewhere the file's access is left to the user.
#[cfg(not(unix))]
fn warn_if_others_can_read(_file: &Path) {}

/// Stops when the branch holds a commit without kubeharden's trailer: someone else's work.
fn refuse_foreign_commits(git: &Git, base: &str, head: &str, branch: &str) -> Result<()> {
    let foreign = git
        .commits_between(base, head)?
        .into_iter()
        .find(|c| !has_trailer(&c.message));
    if let Some(commit) = foreign {
        let subject = commit.message.lines().next().unwrap_or_default();
        bail!(
            "branch {branch} holds commit {} (\"{subject}\") that kubeharden did not make; nothing was changed: merge or close its pull request and delete the branch, or pass another --branch",
            short(&commit.id)
        );
    }
    Ok(())
}

fn has_trailer(message: &str) -> bool {
    message
        .lines()
        .any(|line| line.starts_with(&format!("{TRAILER}:")))
}

/// Fixes `paths` (relative to the work tree's top level) in the worktree at `root`.
fn fix_in(root: &Path, paths: &[String], selection: &Selection) -> Result<Report> {
    // Paths are given relative to the top level so that reports name them as the repository
    // does; a named configuration file is read before leaving the user's folder.
    let selection = Selection {
        config: selection.config.as_ref().map(|c| absolute(c)),
        profile: selection.profile,
        only: selection.only.clone(),
        skip: selection.skip.clone(),
        max_file_size: selection.max_file_size,
        helm: selection.helm.as_ref().map(|h| absolute(h)),
        values: selection.values.iter().map(|v| absolute(v)).collect(),
        kubectl: selection.kubectl.as_ref().map(|k| absolute(k)),
    };
    let back = std::env::current_dir().context("cannot read the current folder")?;
    std::env::set_current_dir(root)
        .with_context(|| format!("cannot enter the temporary worktree {}", root.display()))?;
    // A link in the repository may point anywhere: only its files are kubeharden's to edit.
    let run = fix_paths(
        paths,
        &selection,
        Wanted::listed(Emit::Write),
        &[],
        Some(Path::new(".")),
    );
    std::env::set_current_dir(&back)
        .with_context(|| format!("cannot return to {}", back.display()))?;
    let run = run.map_err(anyhow::Error::msg)?;
    let mut files = run.unreadable;
    files.extend(run.outcomes.into_iter().map(|o| o.report));
    Ok(Report {
        dry_run: false,
        profile: run.profile.to_string(),
        files,
    })
}

/// `path` made absolute, or as it is when the current folder cannot be read.
fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `paths` (relative to `cwd`, or absolute) as paths relative to the work tree's `root`.
fn paths_in_repository(root: &Path, cwd: &Path, paths: &[String]) -> Result<Vec<String>> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    paths
        .iter()
        .map(|path| {
            if path == "-" {
                bail!("`kubeharden pr` fixes files in the repository; standard input (`-`) has no place there");
            }
            // An absolute path may reach the work tree through a link, as the root does not.
            let given = Path::new(path);
            let absolute = if given.is_absolute() {
                given.canonicalize().unwrap_or_else(|_| normalize(given))
            } else {
                normalize(&cwd.join(path))
            };
            let relative = absolute.strip_prefix(&root).map_err(|_| {
                anyhow::anyhow!("{path} is outside the work tree {}", root.display())
            })?;
            Ok(relative_name(relative))
        })
        .collect()
}

/// A path relative to the top level as the fix takes it: `.` for the top level itself.
fn relative_name(relative: &Path) -> String {
    match relative.to_string_lossy().into_owned() {
        empty if empty.is_empty() => ".".to_owned(),
        relative => relative,
    }
}

/// `path` without `.` and `..` components, resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The commit message: what changed in which file, and the trailer.
fn commit_message(report: &Report) -> String {
    let totals = report.totals();
    let mut message = format!(
        "Harden Kubernetes manifests\n\nkubeharden {} (profile {}) changed {} field{} in {} file{}:\n\n",
        env!("CARGO_PKG_VERSION"),
        report.profile,
        totals.changes,
        plural(totals.changes),
        totals.changed,
        plural(totals.changed),
    );
    for file in report
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Changed)
    {
        let mut transforms: Vec<&str> = Vec::new();
        for change in &file.changes {
            if !transforms.contains(&change.transform) {
                transforms.push(change.transform);
            }
        }
        message.push_str(&format!("- {}: {}\n", file.path, transforms.join(", ")));
    }
    message.push_str(&format!("\n{TRAILER}: {}\n", env!("CARGO_PKG_VERSION")));
    message
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
