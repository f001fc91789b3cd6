//! The git layer of `kubeharden pr`, driving the `git` command: it is what users already have, and
//! it honours their credentials, config and hooks.
//!
//! Every command runs with an argument vector (no shell) and without a terminal prompt, so a
//! missing credential fails instead of waiting for input. Nothing here touches the user's work
//! tree or index: staging happens in a temporary detached work tree, commits are made with
//! `commit-tree` and no branch or HEAD is moved locally.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Result, anyhow, bail};
use tempfile::TempDir;

/// The identity of commits made where the user configured none (a CI runner, say), rather than
/// a name and address git would guess from the host.
const FALLBACK_NAME: &str = "kubeharden";
const FALLBACK_EMAIL: &str = "kubeharden@users.noreply.github.com";

/// Variables that point git at another repository, index or work tree. A hook or `git rebase
/// --exec` running kubeharden may set them; left in place, `git add` in the temporary work tree
/// would write the user's index. The repository is found from the folder instead. Folder walks
/// remove them too, to ask about the walked folder's own repository.
pub const LOCATION_VARS: [&str; 5] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
];

/// Extra variables for every git child: set (`Some`) or removed (`None`); [`LOCATION_VARS`] are
/// removed all the same. Empty outside tests, which isolate git from the machine's configuration
/// without touching the process environment.
type Env = Vec<(&'static str, Option<OsString>)>;

/// A git work tree, driven through the `git` command.
#[derive(Debug, Clone)]
pub struct Git {
    /// The work tree's top level; every command runs there.
    root: PathBuf,
    env: Env,
}

/// A temporary detached work tree, removed on drop.
#[derive(Debug)]
pub struct Worktree {
    /// Taken on drop, to delete whatever `git worktree remove` left before pruning.
    dir: Option<TempDir>,
    path: PathBuf,
    /// The work tree it was added to, which must remove it.
    main: Git,
}

/// A commit and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The full commit id.
    pub id: String,
    /// The raw message (`%B`): subject, body and trailers, as committed.
    pub message: String,
}

impl Git {
    /// The work tree holding `dir` (`git rev-parse --show-toplevel`); a one-line error naming
    /// `dir` when it is not inside one or git cannot be run.
    pub fn discover(dir: &Path) -> Result<Git> {
        Git::discover_with(dir, Env::new())
    }

    fn discover_with(dir: &Path, env: Env) -> Result<Git> {
        // Checked first: a missing folder makes spawning fail like a missing git would.
        if !dir.is_dir() {
            bail!(
                "cannot find the git work tree holding {}: not a folder",
                dir.display()
            );
        }
        let args = ["rev-parse", "--show-toplevel"];
        let out = spawn(dir, &env, &args, None, &[]).map_err(|e| {
            anyhow!(
                "cannot find the git work tree holding {}: {e}",
                dir.display()
            )
        })?;
        if !out.status.success() {
            bail!(
                "cannot find the git work tree holding {}: `git rev-parse --show-toplevel` failed: {}; \
                 check that it is inside a git clone",
                dir.display(),
                stderr_line(&out)
            );
        }
        let root = path_from(out.stdout)?;
        Ok(Git { root, env })
    }

    /// The top level of the work tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The default branch of `remote` (`git ls-remote --symref REMOTE HEAD`), e.g. "main"; an
    /// error when the remote does not exist, cannot be reached or has no HEAD.
    pub fn remote_default_branch(&self, remote: &str) -> Result<String> {
        check_arg("remote", remote)?;
        let out = self.run(
            &self.root,
            &["ls-remote", "--symref", remote, "HEAD"],
            &reach_hint(remote),
        )?;
        // `ref: refs/heads/main<TAB>HEAD`, then the id; a remote without HEAD prints neither.
        let branch = out.lines().find_map(|line| {
            let (target, name) = line.strip_prefix("ref: ")?.split_once('\t')?;
            (name == "HEAD")
                .then_some(target)?
                .strip_prefix("refs/heads/")
        });
        match branch {
            Some(branch) => Ok(branch.to_owned()),
            None => bail!(
                "{} has no default branch: `git ls-remote --symref {} HEAD` shows no HEAD naming a branch; \
                 check the remote's default branch",
                redact(remote),
                redact(remote)
            ),
        }
    }

    /// Fetches `branch` from `remote` (`git fetch --no-tags REMOTE refs/heads/B`) and returns
    /// the commit id it pointed at, or None when the remote has no such branch.
    ///
    /// The id is the one `git ls-remote` read, which also tells a missing branch apart from a
    /// failure; it is the value to pass to [`Git::push`] as `expected`.
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<Option<String>> {
        check_arg("remote", remote)?;
        let reference = self.branch_ref(branch)?;
        let hint = reach_hint(remote);
        let listed = self.run(
            &self.root,
            &["ls-remote", "--heads", remote, &reference],
            &hint,
        )?;
        // Patterns match the end of ref names, so keep the exact one only.
        let id = listed.lines().find_map(|line| {
            let (id, name) = line.split_once('\t')?;
            (name == reference).then(|| id.to_owned())
        });
        let Some(id) = id else {
            return Ok(None);
        };
        self.run(
            &self.root,
            &["fetch", "--no-tags", remote, &reference],
            &hint,
        )?;
        // The branch may have moved between listing and fetching; the listed commit must be here.
        let present = spawn(
            &self.root,
            &self.env,
            &["cat-file", "-e", &format!("{id}^{{commit}}")],
            None,
            &[],
        )?;
        if !present.status.success() {
            bail!(
                "{branch} moved on {} while it was fetched (it was at {id}); run again",
                redact(remote)
            );
        }
        Ok(Some(id))
    }

    /// A temporary detached work tree checked out at `commit` (`git worktree add --detach DIR
    /// COMMIT`), removed (and pruned) when dropped, also when the caller fails half-way.
    pub fn temporary_worktree(&self, commit: &str) -> Result<Worktree> {
        check_arg("commit", commit)?;
        let dir = tempfile::Builder::new()
            .prefix("kubeharden-pr-")
            .tempdir()
            .map_err(|e| {
                anyhow!("cannot create a temporary folder for a work tree: {e}; check TMPDIR")
            })?;
        let path = dir.path().to_owned();
        // Hooks off for this checkout only: it is an internal step, and a post-checkout hook
        // (installing dependencies, say) has no business running in it.
        let args: [&OsStr; 7] = [
            "-c".as_ref(),
            "core.hooksPath=/dev/null".as_ref(),
            "worktree".as_ref(),
            "add".as_ref(),
            "--detach".as_ref(),
            path.as_os_str(),
            commit.as_ref(),
        ];
        self.run(
            &self.root,
            &args,
            "check that the commit exists locally (fetch it first)",
        )?;
        Ok(Worktree {
            dir: Some(dir),
            path,
            main: self.clone(),
        })
    }

    /// The commits reachable from `head` but not from `base` (`git rev-list`), oldest first,
    /// with their full messages.
    pub fn commits_between(&self, base: &str, head: &str) -> Result<Vec<Commit>> {
        check_arg("base", base)?;
        check_arg("head", head)?;
        let range = format!("{base}..{head}");
        // Each commit prints as `commit ID`, a newline, the message, a NUL and a newline.
        let out = self.run(
            &self.root,
            &["rev-list", "--reverse", "--format=%B%x00", &range, "--"],
            "check that both commits exist locally (fetch them first)",
        )?;
        let mut commits = Vec::new();
        for chunk in out.split('\0') {
            let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
            if chunk.is_empty() {
                continue;
            }
            let parsed = chunk
                .split_once('\n')
                .and_then(|(header, message)| Some((header.strip_prefix("commit ")?, message)));
            let Some((id, message)) = parsed else {
                bail!("`git rev-list --format` printed an unexpected line: {chunk:?}");
            };
            commits.push(Commit {
                id: id.to_owned(),
                message: message.to_owned(),
            });
        }
        Ok(commits)
    }

    /// The tree id of `commit`.
    pub fn tree_of(&self, commit: &str) -> Result<String> {
        check_arg("commit", commit)?;
        let out = self.run(
            &self.root,
            &["rev-parse", "--verify", &format!("{commit}^{{tree}}")],
            "check that the commit exists locally (fetch it first)",
        )?;
        Ok(out.trim_end().to_owned())
    }

    /// The id git gives `text` as a blob (`git hash-object --stdin`, nothing written): a
    /// fingerprint that stays the same across machines and versions, without a hash crate.
    pub fn hash_text(&self, text: &str) -> Result<String> {
        let out = self.run_with(
            &self.root,
            &["hash-object", "--stdin"],
            Some(text.as_bytes()),
            &[],
            "check that git works in this repository",
        )?;
        Ok(out.trim_end().to_owned())
    }

    /// Creates a commit object with `tree`, the single `parent` and `message`, taken as is
    /// (`git commit-tree`); returns its id. No branch or HEAD moves and no hook runs.
    ///
    /// The author and committer are the ones configured (`user.*`, `author.*`, `committer.*` or
    /// the `GIT_AUTHOR_*`/`GIT_COMMITTER_*` variables), or `kubeharden
    /// <kubeharden@users.noreply.github.com>` for whichever is not configured.
    pub fn commit_tree(&self, tree: &str, parent: &str, message: &str) -> Result<String> {
        check_arg("tree", tree)?;
        check_arg("parent", parent)?;
        let mut identity = Vec::new();
        for (role, name_var, email_var) in [
            ("GIT_AUTHOR_IDENT", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"),
            (
                "GIT_COMMITTER_IDENT",
                "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL",
            ),
        ] {
            if !self.has_identity(role)? {
                identity.push((name_var, FALLBACK_NAME));
                identity.push((email_var, FALLBACK_EMAIL));
            }
        }
        let out = self.run_with(
            &self.root,
            &["commit-tree", "-p", parent, "-F", "-", tree],
            Some(message.as_bytes()),
            &identity,
            "check that the tree and the parent exist locally",
        )?;
        Ok(out.trim_end().to_owned())
    }

    /// Pushes `commit` to `remote` as `refs/heads/BRANCH` only when the remote branch is still
    /// at `expected` (a full commit id), or does not exist when `expected` is None: `git push
    /// --force-with-lease=refs/heads/B:EXPECTED REMOTE COMMIT:refs/heads/B`.
    ///
    /// When the lease fails, the error says the branch moved on the remote since it was read
    /// and that nothing was pushed. The user's pre-push hook runs.
    pub fn push(
        &self,
        remote: &str,
        commit: &str,
        branch: &str,
        expected: Option<&str>,
    ) -> Result<()> {
        check_arg("remote", remote)?;
        let reference = self.branch_ref(branch)?;
        // An abbreviated or misspelt value would not protect anything: git reads the lease's
        // value as an object name.
        if let Some(expected) = expected
            && !is_object_id(expected)
        {
            bail!(
                "cannot push {branch}: the expected remote commit {expected:?} is not a full commit id"
            );
        }
        let commit = self
            .run(
                &self.root,
                &["rev-parse", "--verify", &format!("{commit}^{{commit}}")],
                "check that the commit exists locally",
            )?
            .trim_end()
            .to_owned();
        // An empty expected value means the branch must not exist.
        let lease = format!("--force-with-lease={reference}:{}", expected.unwrap_or(""));
        let refspec = format!("{commit}:{reference}");
        let args = ["push", "--porcelain", &lease, remote, &refspec];
        let out = spawn(&self.root, &self.env, &args, None, &[])?;
        // `!<TAB>FROM:TO<TAB>[rejected] (stale info)`; the summaries are not translated.
        let stdout = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = stdout.lines().find(|line| line.starts_with('!')) {
            let remote = redact(remote);
            if line.contains("(stale info)") {
                let was = match expected {
                    Some(id) => format!("it was at {id}"),
                    None => "it did not exist".to_owned(),
                };
                bail!(
                    "{branch} moved on {remote} since it was read ({was}); nothing was pushed; run again"
                );
            }
            let reason = line.rsplit('\t').next().unwrap_or(line);
            bail!(
                "{remote} refused the push to {branch}: {reason}; nothing was pushed; \
                 check your permissions and the branch's protection rules"
            );
        }
        if !out.status.success() {
            return Err(failure(
                &args,
                &out,
                &format!(
                    "check that you may push to {} (credentials, permissions, the pre-push hook)",
                    redact(remote)
                ),
            ));
        }
        Ok(())
    }

    /// The name of the branch `given` by name or in full (`refs/heads/NAME`), once git agrees it
    /// is a valid branch name (`git check-ref-format --branch`, which refuses `HEAD` and names
    /// starting with `-`). Branch names compare equal only in this form: `refs/heads/main` is
    /// `main`.
    ///
    /// Other `refs/` names are refused: `refs/tags/v1` would be a branch
    /// `refs/heads/refs/tags/v1`, which nobody means.
    pub fn branch_name(&self, given: &str) -> Result<String> {
        let invalid =
            || anyhow!("{given:?} is not a valid branch name (see `git check-ref-format`)");
        let name = given.strip_prefix("refs/heads/").unwrap_or(given);
        if name.is_empty() || name.starts_with('-') || name.starts_with("refs/") {
            return Err(invalid());
        }
        let out = spawn(
            &self.root,
            &self.env,
            &["check-ref-format", "--branch", name],
            None,
            &[],
        )?;
        // `--branch` also expands `@{-1}` to the branch checked out before: only a name that
        // stands for itself is taken.
        if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim_end() != name {
            return Err(invalid());
        }
        Ok(name.to_owned())
    }

    /// `refs/heads/BRANCH` for a valid [`Git::branch_name`]: it goes into refspecs, where a `:`
    /// or a leading `-` would change the meaning.
    fn branch_ref(&self, branch: &str) -> Result<String> {
        Ok(format!("refs/heads/{}", self.branch_name(branch)?))
    }

    /// Whether git knows who the author or committer (`role`, a `git var` name) is without
    /// guessing from the user name and host name.
    fn has_identity(&self, role: &str) -> Result<bool> {
        let args = ["-c", "user.useConfigOnly=true", "var", role];
        Ok(spawn(&self.root, &self.env, &args, None, &[])?
            .status
            .success())
    }

    /// Runs git in `dir` and returns its standard output; an error naming the command, git's
    /// message and `hint` when it fails.
    fn run<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S], hint: &str) -> Result<String> {
        self.run_with(dir, args, None, &[], hint)
    }

    /// [`Git::run`], feeding git `input` and setting `vars`.
    fn run_with<S: AsRef<OsStr>>(
        &self,
        dir: &Path,
        args: &[S],
        input: Option<&[u8]>,
        vars: &[(&str, &str)],
        hint: &str,
    ) -> Result<String> {
        let out = spawn(dir, &self.env, args, input, vars)?;
        if !out.status.success() {
            return Err(failure(args, &out, hint));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Worktree {
    /// Its folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stages every change in it (`git add -A`) and writes the index as a tree (`git
    /// write-tree`); returns the tree id. The index is the temporary work tree's own.
    pub fn write_tree(&self) -> Result<String> {
        let hint = format!("check the files in {}", self.path.display());
        self.main.run(&self.path, &["add", "-A"], &hint)?;
        let tree = self.main.run(&self.path, &["write-tree"], &hint)?;
        Ok(tree.trim_end().to_owned())
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        // `--force`: the work tree holds the fixed files, which are not committed there.
        let args = [
            OsStr::new("worktree"),
            OsStr::new("remove"),
            OsStr::new("--force"),
            self.path.as_os_str(),
        ];
        let removed = spawn(&self.main.root, &self.main.env, &args, None, &[])
            .is_ok_and(|out| out.status.success());
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        // Only when git did not remove it: prune also forgets other work trees whose folders
        // are gone, which the user may still mean to restore.
        if !removed {
            let _ = spawn(
                &self.main.root,
                &self.main.env,
                &["worktree", "prune"],
                None,
                &[],
            );
        }
    }
}

/// Runs git in `dir` with `args`, feeding it `input` and setting `vars`; its output, whatever
/// its exit status. An error only when git cannot be started.
fn spawn<S: AsRef<OsStr>>(
    dir: &Path,
    env: &Env,
    args: &[S],
    input: Option<&[u8]>,
    vars: &[(&str, &str)],
) -> Result<Output> {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        // A missing credential fails instead of waiting for an answer nobody will type.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (var, value) in env {
        match value {
            Some(value) => command.env(var, value),
            None => command.env_remove(var),
        };
    }
    for var in LOCATION_VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    let cannot_run = |e: std::io::Error| {
        anyhow!(
            "cannot run `{}`: {e}; check that git is installed and on PATH",
            shown(args)
        )
    };
    let mut child = command.spawn().map_err(cannot_run)?;
    // Written before reading the output: git reads all of its input first. A failed write
    // means git exited early, which its exit status and message tell better.
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().map_err(cannot_run)
}

/// The error for a failed command: which one, git's message, what to check.
fn failure<S: AsRef<OsStr>>(args: &[S], out: &Output, hint: &str) -> anyhow::Error {
    anyhow!(
        "`{}` failed: {}; {hint}",
        shown(args),
        redact(&stderr_line(out))
    )
}

/// Git's own message: its first `fatal:` or `error:` line (hints come before them), else its
/// first line, else the exit status.
fn stderr_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.clone().next();
    match lines
        .find(|line| line.starts_with("fatal:") || line.starts_with("error:"))
        .or(first)
    {
        Some(line) => line.to_owned(),
        None => format!("git exited with {}", out.status),
    }
}

/// The command line as the user would type it, without credentials.
fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    let mut line = String::from("git");
    for arg in args {
        line.push(' ');
        line.push_str(&arg.as_ref().to_string_lossy());
    }
    redact(&line)
}

/// `text` with the user and password of every URL in it replaced by `***`: a remote may be
/// given as `https://user:token@host/...`, and messages end up in CI logs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '\'' || c == '"' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                out.push_str("***");
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Refuses an empty value and one git would read as an option.
fn check_arg(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.starts_with('-') {
        bail!("{value:?} is not a valid {what}");
    }
    Ok(())
}

/// A full SHA-1 or SHA-256 object id in hexadecimal.
fn is_object_id(value: &str) -> bool {
    matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The path git printed on one line, kept byte for byte where paths are bytes.
fn path_from(mut stdout: Vec<u8>) -> Result<PathBuf> {
    while stdout.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        stdout.pop();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Ok(PathBuf::from(OsString::from_vec(stdout)))
    }
    #[cfg(not(unix))]
    {
        String::from_utf8(stdout)
            .map(PathBuf::from)
            .map_err(|_| anyhow!("git printed a work tree path that is not UTF-8"))
    }
}

/// What to check when a remote cannot be read.
fn reach_hint(remote: &str) -> String {
    format!(
        "check that the remote {} exists (`git remote -v`) and that you can reach it",
        redact(remote)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const DEPLOY: &str = "kind: Deployment\nmetadata:\n  name: web\n";

    /// A repository with one commit on `main` and a bare `origin` holding it as its default
    /// branch, with git isolated from the machine's configuration and language.
    struct Fixture {
        _tmp: TempDir,
        top: PathBuf,
        env: Env,
        repo: PathBuf,
        origin: PathBuf,
        base: String,
        tree: String,
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            let top = tmp.path().canonicalize().unwrap();
            let home = top.join("home");
            fs::create_dir(&home).unwrap();
            let mut env: Env = vec![
                ("HOME", Some(home.clone().into())),
                ("XDG_CONFIG_HOME", Some(home.into())),
                ("GIT_CONFIG_NOSYSTEM", Some("1".into())),
                ("GIT_CEILING_DIRECTORIES", Some(top.clone().into())),
                ("LC_ALL", Some("C".into())),
            ];
            for var in [
                "GIT_CONFIG_GLOBAL",
                "GIT_CONFIG_COUNT",
                "GIT_CONFIG_PARAMETERS",
                "GIT_AUTHOR_NAME",
                "GIT_AUTHOR_EMAIL",
                "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL",
            ] {
                env.push((var, None));
            }
            let mut fixture = Fixture {
                _tmp: tmp,
                repo: top.join("repo"),
                origin: top.join("origin.git"),
                top,
                env,
                base: String::new(),
                tree: String::new(),
            };
            let (top, repo, origin) = (&fixture.top, &fixture.repo, &fixture.origin);
            fixture.run(top, &["init", "-q", "-b", "main", "repo"]);
            fs::write(repo.join("deploy.yaml"), DEPLOY).unwrap();
            fixture.run(repo, &["add", "-A"]);
            fixture.run(
                repo,
                &[
                    "-c",
                    "user.name=T",
                    "-c",
                    "user.email=t@example.com",
                    "commit",
                    "-q",
                    "-m",
                    "base",
                ],
            );
            fixture.run(top, &["init", "-q", "--bare", "origin.git"]);
            fixture.run(repo, &["remote", "add", "origin", origin.to_str().unwrap()]);
            fixture.run(repo, &["push", "-q", "origin", "main"]);
            fixture.run(origin, &["symbolic-ref", "HEAD", "refs/heads/main"]);
            fixture.base = fixture.run(repo, &["rev-parse", "HEAD"]);
            fixture.tree = fixture.run(repo, &["rev-parse", "HEAD^{tree}"]);
            fixture
        }

        /// The code under test, isolated like the fixture's own commands.
        fn git(&self) -> Git {
            Git::discover_with(&self.repo, self.env.clone()).unwrap()
        }

        /// Runs git in `dir`, which must succeed; its output without the final newline.
        fn run(&self, dir: &Path, args: &[&str]) -> String {
            let out = spawn(dir, &self.env, args, None, &[]).unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "git {args:?} in {}: {stderr}",
                dir.display()
            );
            String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
        }

        /// A new commit of the base tree on `parent` in `dir`, made by the fixture.
        fn commit(&self, dir: &Path, parent: &str, message: &str) -> String {
            let identity = [
                "-c",
                "user.name=Other",
                "-c",
                "user.email=other@example.com",
            ];
            let rest = ["commit-tree", &self.tree, "-p", parent, "-m", message];
            self.run(dir, &[&identity[..], &rest[..]].concat())
        }

        fn worktree_count(&self) -> usize {
            let list = self.run(&self.repo, &["worktree", "list", "--porcelain"]);
            list.lines()
                .filter(|line| line.starts_with("worktree "))
                .count()
        }
    }

    #[test]
    fn discover_finds_the_top_level_from_a_subfolder() {
        let f = Fixture::new();
        let sub = f.repo.join("deploy");
        fs::create_dir(&sub).unwrap();
        let git = Git::discover_with(&sub, f.env.clone()).unwrap();
        assert_eq!(git.root(), f.repo);
    }

    #[test]
    fn discover_outside_a_work_tree_names_the_folder() {
        let f = Fixture::new();
        let outside = f.top.join("outside");
        fs::create_dir(&outside).unwrap();
        let error = Git::discover_with(&outside, f.env.clone())
            .unwrap_err()
            .to_string();
        let named = format!(
            "cannot find the git work tree holding {}: ",
            outside.display()
        );
        assert!(error.starts_with(&named), "{error}");
        assert!(
            error.contains("`git rev-parse --show-toplevel` failed: fatal: not a git repository"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
        let missing = f.top.join("missing");
        let error = Git::discover_with(&missing, f.env.clone())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&missing.display().to_string()) && error.ends_with("not a folder"),
            "{error}"
        );
    }

    #[test]
    fn remote_default_branch_reads_the_remote_head() {
        let f = Fixture::new();
        let git = f.git();
        assert_eq!(git.remote_default_branch("origin").unwrap(), "main");
        f.run(&f.repo, &["push", "-q", "origin", "main:refs/heads/trunk"]);
        f.run(&f.origin, &["symbolic-ref", "HEAD", "refs/heads/trunk"]);
        assert_eq!(git.remote_default_branch("origin").unwrap(), "trunk");

        f.run(&f.origin, &["symbolic-ref", "HEAD", "refs/heads/gone"]);
        let error = git.remote_default_branch("origin").unwrap_err().to_string();
        assert!(error.starts_with("origin has no default branch"), "{error}");

        let error = git
            .remote_default_branch("nowhere")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("`git ls-remote --symref nowhere HEAD` failed: fatal: 'nowhere' does not appear to be a git repository; check that the remote nowhere exists"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn fetch_branch_fetches_an_existing_branch_and_tells_a_missing_one() {
        let f = Fixture::new();
        let git = f.git();
        // Made on the remote, so the repository lacks it until fetched.
        let bot = f.commit(&f.origin, &f.base, "remote work");
        f.run(&f.origin, &["update-ref", "refs/heads/bot", &bot]);
        // Ends like `refs/heads/other`, which ls-remote's pattern matches too.
        f.run(
            &f.origin,
            &["update-ref", "refs/heads/team/refs/heads/other", &bot],
        );
        let object = format!("{bot}^{{commit}}");
        assert!(
            !spawn(&f.repo, &f.env, &["cat-file", "-e", &object], None, &[])
                .unwrap()
                .status
                .success()
        );

        assert_eq!(
            git.fetch_branch("origin", "bot").unwrap(),
            Some(bot.clone())
        );
        f.run(&f.repo, &["cat-file", "-e", &object]);
        assert_eq!(git.fetch_branch("origin", "absent").unwrap(), None);
        assert_eq!(git.fetch_branch("origin", "other").unwrap(), None);

        let error = git.fetch_branch("nowhere", "bot").unwrap_err().to_string();
        assert!(
            error.starts_with("`git ls-remote --heads nowhere refs/heads/bot` failed: fatal:"),
            "{error}"
        );
        let error = git
            .fetch_branch("origin", "bad..name")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "\"bad..name\" is not a valid branch name (see `git check-ref-format`)"
        );
        assert!(git.fetch_branch("--upload-pack=touch", "bot").is_err());
    }

    #[test]
    fn branch_names_are_checked_by_git_and_may_be_given_in_full() {
        let f = Fixture::new();
        let git = f.git();
        assert_eq!(git.branch_name("refs/heads/team/x").unwrap(), "team/x");
        f.run(&f.repo, &["checkout", "-q", "-b", "other"]);
        f.run(&f.repo, &["checkout", "-q", "main"]);
        // `check-ref-format --branch` expands `@{-1}` to `other`, the branch checked out before.
        for bad in [
            "@{-1}",
            "HEAD",
            "refs/heads/HEAD",
            "refs/tags/v1",
            "-x",
            "a b",
            "",
        ] {
            assert!(git.branch_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn temporary_worktree_is_removed_on_drop() {
        let f = Fixture::new();
        let git = f.git();
        let worktree = git.temporary_worktree(&f.base).unwrap();
        let path = worktree.path().to_owned();
        assert!(!path.starts_with(&f.repo));
        assert_eq!(
            fs::read_to_string(path.join("deploy.yaml")).unwrap(),
            DEPLOY
        );
        assert_eq!(f.run(&path, &["rev-parse", "HEAD"]), f.base);
        assert_eq!(f.worktree_count(), 2);
        // Modified and untracked files do not keep it alive.
        fs::write(path.join("deploy.yaml"), "kind: Pod\n").unwrap();
        fs::write(path.join("new.yaml"), "kind: Pod\n").unwrap();
        drop(worktree);
        assert!(!path.exists());
        assert_eq!(f.worktree_count(), 1);
        assert_eq!(f.run(&f.repo, &["symbolic-ref", "HEAD"]), "refs/heads/main");
        assert_eq!(f.run(&f.repo, &["status", "--porcelain"]), "");
    }

    #[test]
    fn temporary_worktree_is_removed_when_the_caller_fails_or_deleted_it() {
        let f = Fixture::new();
        let git = f.git();
        let mut seen = PathBuf::new();
        let mut half_way = || -> Result<()> {
            let worktree = git.temporary_worktree(&f.base)?;
            seen = worktree.path().to_owned();
            git.tree_of("no-such-commit")?;
            unreachable!("tree_of must fail");
        };
        assert!(half_way().is_err());
        assert!(!seen.as_os_str().is_empty() && !seen.exists());
        assert_eq!(f.worktree_count(), 1);

        // `git worktree remove` fails on a deleted folder; pruning forgets it.
        let worktree = git.temporary_worktree(&f.base).unwrap();
        fs::remove_dir_all(worktree.path()).unwrap();
        drop(worktree);
        assert_eq!(f.worktree_count(), 1);

        let error = git
            .temporary_worktree("no-such-commit")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("worktree add --detach")
                && error.contains("fatal: invalid reference: no-such-commit"),
            "{error}"
        );
        assert_eq!(f.worktree_count(), 1);
    }

    #[test]
    fn write_tree_stages_in_the_worktree_only() {
        let f = Fixture::new();
        // Left over from a hook: must not send the temporary work tree's staging to the user's index.
        let mut env = f.env.clone();
        env.push(("GIT_DIR", Some(f.repo.join(".git").into())));
        env.push(("GIT_INDEX_FILE", Some(f.repo.join(".git/index").into())));
        let git = Git::discover_with(&f.repo, env).unwrap();
        let worktree = git.temporary_worktree(&f.base).unwrap();
        assert_eq!(worktree.write_tree().unwrap(), f.tree);
        assert_eq!(git.tree_of(&f.base).unwrap(), f.tree);

        let fixed = "kind: Deployment\nmetadata:\n  name: web\n  labels: {}\n";
        fs::write(worktree.path().join("deploy.yaml"), fixed).unwrap();
        fs::write(worktree.path().join("added.yaml"), "kind: Service\n").unwrap();
        let tree = worktree.write_tree().unwrap();
        assert_ne!(tree, f.tree);
        assert_eq!(
            f.run(&f.repo, &["cat-file", "-p", &format!("{tree}:deploy.yaml")]),
            fixed.trim_end()
        );
        assert_eq!(
            f.run(&f.repo, &["cat-file", "-p", &format!("{tree}:added.yaml")]),
            "kind: Service"
        );
        assert_eq!(f.run(&f.repo, &["status", "--porcelain"]), "");
        assert_eq!(
            fs::read_to_string(f.repo.join("deploy.yaml")).unwrap(),
            DEPLOY
        );
    }

    /// The raw commit object: headers, a blank line, the message.
    fn cat_commit(f: &Fixture, id: &str) -> (String, String) {
        let out = spawn(&f.repo, &f.env, &["cat-file", "commit", id], None, &[]).unwrap();
        assert!(out.status.success());
        let raw = String::from_utf8(out.stdout).unwrap();
        let (headers, message) = raw.split_once("\n\n").unwrap();
        (headers.to_owned(), message.to_owned())
    }

    #[test]
    fn commit_tree_uses_the_configured_identity() {
        let f = Fixture::new();
        f.run(&f.repo, &["config", "user.name", "Alice Example"]);
        f.run(&f.repo, &["config", "user.email", "alice@example.com"]);
        let refs = f.run(&f.repo, &["for-each-ref"]);
        let git = f.git();
        let message = "Harden manifests\n\nKubeharden-Run: 1\n";
        let id = git.commit_tree(&f.tree, &f.base, message).unwrap();
        let (headers, written) = cat_commit(&f, &id);
        let lines: Vec<&str> = headers.lines().collect();
        assert_eq!(lines[0], format!("tree {}", f.tree));
        assert_eq!(lines[1], format!("parent {}", f.base));
        assert!(
            lines[2].starts_with("author Alice Example <alice@example.com> "),
            "{headers}"
        );
        assert!(
            lines[3].starts_with("committer Alice Example <alice@example.com> "),
            "{headers}"
        );
        assert_eq!(written, message);
        // Nothing moved.
        assert_eq!(f.run(&f.repo, &["for-each-ref"]), refs);
        assert_eq!(f.run(&f.repo, &["rev-parse", "HEAD"]), f.base);
    }

    #[test]
    fn commit_tree_falls_back_to_kubeharden_where_no_identity_is_configured() {
        let f = Fixture::new();
        let id = f.git().commit_tree(&f.tree, &f.base, "fix\n").unwrap();
        let (headers, _) = cat_commit(&f, &id);
        assert!(
            headers.contains("\nauthor kubeharden <kubeharden@users.noreply.github.com> "),
            "{headers}"
        );
        assert!(
            headers.contains("\ncommitter kubeharden <kubeharden@users.noreply.github.com> "),
            "{headers}"
        );

        // Each role on its own: an author from the environment stays.
        let mut env = f.env.clone();
        env.push(("GIT_AUTHOR_NAME", Some("Bob".into())));
        env.push(("GIT_AUTHOR_EMAIL", Some("bob@example.com".into())));
        let git = Git::discover_with(&f.repo, env).unwrap();
        let id = git.commit_tree(&f.tree, &f.base, "fix\n").unwrap();
        let (headers, _) = cat_commit(&f, &id);
        assert!(
            headers.contains("\nauthor Bob <bob@example.com> "),
            "{headers}"
        );
        assert!(
            headers.contains("\ncommitter kubeharden <kubeharden@users.noreply.github.com> "),
            "{headers}"
        );

        let error = git
            .commit_tree("0000000000000000000000000000000000000000", &f.base, "x")
            .unwrap_err();
        assert!(
            error.to_string().starts_with("`git commit-tree -p "),
            "{error}"
        );
    }

    #[test]
    fn push_creates_the_branch_and_refuses_a_stale_lease() {
        let f = Fixture::new();
        let git = f.git();
        let on_origin = || f.run(&f.origin, &["rev-parse", "refs/heads/bot"]);
        let ours = f.commit(&f.repo, &f.base, "ours");
        git.push("origin", &ours, "bot", None).unwrap();
        assert_eq!(on_origin(), ours);

        // Someone else pushes meanwhile.
        let theirs = f.commit(&f.repo, &f.base, "theirs");
        f.run(
            &f.repo,
            &[
                "push",
                "-q",
                "--force",
                "origin",
                &format!("{theirs}:refs/heads/bot"),
            ],
        );
        let next = f.commit(&f.repo, &f.base, "next");
        let error = git
            .push("origin", &next, "bot", Some(&ours))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "bot moved on origin since it was read (it was at {ours}); nothing was pushed; run again"
            )
        );
        let error = git
            .push("origin", &next, "bot", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "bot moved on origin since it was read (it did not exist); nothing was pushed; run again"
        );
        assert_eq!(on_origin(), theirs);

        git.push("origin", &next, "bot", Some(&theirs)).unwrap();
        assert_eq!(on_origin(), next);
        assert!(git.push("origin", &next, "bot", Some(&next[..7])).is_err());
        assert_eq!(f.run(&f.repo, &["rev-parse", "HEAD"]), f.base);
    }

    #[cfg(unix)]
    #[test]
    fn push_reports_a_refusal_by_the_remote() {
        use std::os::unix::fs::PermissionsExt;
        let f = Fixture::new();
        let hook = f.origin.join("hooks/pre-receive");
        fs::write(&hook, "#!/bin/sh\necho 'protected branch' >&2\nexit 1\n").unwrap();
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
        let ours = f.commit(&f.repo, &f.base, "ours");
        let error = f
            .git()
            .push("origin", &ours, "bot", None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("origin refused the push to bot: [remote rejected] (pre-receive hook declined); nothing was pushed"), "{error}");
    }

    #[test]
    fn commits_between_lists_oldest_first_with_full_messages() {
        let f = Fixture::new();
        let git = f.git();
        let first_message = "First fix\n\nWhy it matters.\n\nKubeharden-Run: 1\n";
        let first = git.commit_tree(&f.tree, &f.base, first_message).unwrap();
        let second = git.commit_tree(&f.tree, &first, "Second\n").unwrap();
        let empty = git.commit_tree(&f.tree, &second, "").unwrap();
        let commits = git.commits_between(&f.base, &empty).unwrap();
        let expected =
            [(&first, first_message), (&second, "Second\n"), (&empty, "")].map(|(id, message)| {
                Commit {
                    id: id.clone(),
                    message: message.to_owned(),
                }
            });
        assert_eq!(commits, expected);
        assert_eq!(git.commits_between(&second, &second).unwrap(), []);
        assert!(git.commits_between(&f.base, "no-such-commit").is_err());
    }

    #[test]
    fn redact_hides_credentials_in_urls() {
        assert_eq!(
            redact("git push https://x-access-token:ghs_secret@github.com/o/r.git a:b"),
            "git push https://***@github.com/o/r.git a:b"
        );
        assert_eq!(
            redact("fatal: 'ssh://git@host/r' x"),
            "fatal: 'ssh://***@host/r' x"
        );
        assert_eq!(
            redact("https://github.com/o/r and origin"),
            "https://github.com/o/r and origin"
        );
    }
}
