//! `kubeharden pr` end to end: a temporary repository with manifests, a bare repository as its
//! `origin`, and a fake GitHub that records every request.

mod common;
mod fake_github;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use fake_github::FakeGitHub;
use tempfile::TempDir;

const REPO: &str = "octo/web";
const TOKEN: &str = "ghp_PRTESTsecret0123456789abcdef";
const BRANCH: &str = "kubeharden/harden";

const PRIVILEGED: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web # the server
      image: nginx:1.27
      securityContext:
        privileged: true
";

/// A repository with `deploy/web.yaml` pushed to a bare `origin`, git isolated from the
/// machine's configuration.
struct Repos {
    dir: TempDir,
}

impl Repos {
    fn new(manifest: &str) -> Repos {
        let repos = Repos {
            dir: TempDir::new().unwrap(),
        };
        fs::create_dir_all(repos.home()).unwrap();
        fs::create_dir_all(repos.tmp()).unwrap();
        repos.git(
            repos.dir.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        repos.git(repos.dir.path(), &["init", "-q", "-b", "main", "work"]);
        repos.write("deploy/web.yaml", manifest);
        repos.write("README.md", "# web\n");
        repos.commit_all("Add the web pod");
        let origin = repos.dir.path().join("origin.git");
        repos.git(
            &repos.work(),
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
        repos
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// TMPDIR of kubeharden, so that its temporary worktree has a known parent.
    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.home().display().to_string()),
            ("XDG_CONFIG_HOME", self.home().display().to_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
            ("GIT_TERMINAL_PROMPT", "0".to_owned()),
        ]
    }

    /// Runs git in `dir` as a person named Dev; its stdout.
    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .current_dir(dir)
            .envs(self.env())
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.work().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn commit_all(&self, message: &str) {
        self.git(&self.work(), &["add", "-A"]);
        self.git(&self.work(), &["commit", "-q", "-m", message]);
    }

    /// The commit a branch of `origin` points at, if it exists.
    fn remote_branch(&self, branch: &str) -> Option<String> {
        let out = self.git(
            &self.work(),
            &["ls-remote", "origin", &format!("refs/heads/{branch}")],
        );
        out.split_whitespace().next().map(str::to_owned)
    }

    /// Runs `kubeharden pr` in the work tree against `fake`.
    fn pr(&self, fake: &FakeGitHub, extra: &[&str]) -> Output {
        self.pr_at(&fake.api_url(), extra)
    }

    /// Runs `kubeharden pr` in the work tree with this `--api-url`.
    fn pr_at(&self, api_url: &str, extra: &[&str]) -> Output {
        Command::cargo_bin("kubeharden")
            .unwrap()
            .current_dir(self.work())
            .envs(self.env())
            .env_remove("GIT_AUTHOR_NAME")
            .env_remove("GIT_AUTHOR_EMAIL")
            .env_remove("GIT_COMMITTER_NAME")
            .env_remove("GIT_COMMITTER_EMAIL")
            .env("GITHUB_TOKEN", TOKEN)
            .env("TMPDIR", self.tmp())
            .args(["pr", "--github-repo", REPO, "--api-url", api_url])
            .args(extra)
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn requests(fake: &FakeGitHub, method: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == method)
        .count()
}

#[test]
fn opens_a_pull_request_with_one_commit_on_the_branch_and_leaves_the_work_tree_alone() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    let output = repos.pr(&fake, &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let pulls = fake.open_pull_requests();
    assert_eq!(pulls.len(), 1);
    assert_eq!(stdout.trim(), pulls[0].html_url);

    // The create request: head, base, title and body.
    let create = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a create request");
    let sent = create.json();
    assert_eq!(sent["head"], BRANCH);
    assert_eq!(sent["base"], "main");
    assert_eq!(sent["title"], "Harden Kubernetes manifests (kubeharden)");
    let body = sent["body"].as_str().unwrap();
    assert!(body.contains("| `deploy/web.yaml` | Pod `web` |"), "{body}");
    assert!(body.contains("### Keeping a fix out"), "{body}");

    // The branch: one commit by kubeharden on top of main, with the fixed manifest.
    let head = repos.remote_branch(BRANCH).expect("the branch was pushed");
    let main = repos.remote_branch("main").unwrap();
    let work = repos.work();
    repos.git(&work, &["fetch", "-q", "origin", BRANCH]);
    assert_eq!(repos.git(&work, &["rev-parse", &format!("{head}^")]), main);
    let message = repos.git(&work, &["log", "-1", "--format=%B", &head]);
    assert!(
        message.starts_with("Harden Kubernetes manifests"),
        "{message}"
    );
    assert!(
        message.contains("- deploy/web.yaml: no-privileged"),
        "{message}"
    );
    assert!(message.contains("\nKubeharden-Fix: "), "{message}");
    assert_eq!(
        repos.git(&work, &["log", "-1", "--format=%an <%ae>", &head]),
        "kubeharden <kubeharden@users.noreply.github.com>"
    );
    let fixed = repos.git(&work, &["show", &format!("{head}:deploy/web.yaml")]);
    assert!(fixed.contains("privileged: false"), "{fixed}");
    assert!(fixed.contains("- name: web # the server"), "{fixed}");

    // The user's work tree and branch are as they were.
    assert_eq!(
        fs::read_to_string(work.join("deploy/web.yaml")).unwrap(),
        PRIVILEGED
    );
    assert_eq!(repos.git(&work, &["status", "--porcelain"]), "");
    assert_eq!(repos.git(&work, &["branch", "--show-current"]), "main");
    assert_eq!(
        repos
            .git(&work, &["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1,
        "the temporary worktree is gone"
    );
}

#[test]
fn a_second_run_with_nothing_new_makes_no_commit_and_no_request_that_changes_anything() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    assert_eq!(repos.pr(&fake, &[]).status.code(), Some(0));
    let head = repos.remote_branch(BRANCH).unwrap();
    let output = repos.pr(&fake, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(repos.remote_branch(BRANCH).unwrap(), head, "no new commit");
    assert_eq!(requests(&fake, "POST"), 1, "no new pull request");
    assert_eq!(requests(&fake, "PATCH"), 0, "nothing to update");
    assert_eq!(fake.open_pull_requests().len(), 1);
    assert_eq!(
        text(&output.stdout).trim(),
        fake.open_pull_requests()[0].html_url
    );
    assert!(text(&output.stderr).contains("already holds these fixes"));
}

#[test]
fn new_fixes_on_the_base_update_the_branch_and_patch_the_open_pull_request() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    assert_eq!(repos.pr(&fake, &[]).status.code(), Some(0));
    let first = repos.remote_branch(BRANCH).unwrap();
    repos.write(
        "deploy/worker.yaml",
        &PRIVILEGED.replace("name: web\n", "name: worker\n"),
    );
    repos.commit_all("Add a worker");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);

    let output = repos.pr(&fake, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let second = repos.remote_branch(BRANCH).unwrap();
    assert_ne!(second, first, "the branch moved");
    let work = repos.work();
    repos.git(&work, &["fetch", "-q", "origin", BRANCH]);
    assert_eq!(
        repos.git(&work, &["rev-parse", &format!("{second}^")]),
        repos.remote_branch("main").unwrap(),
        "one commit on the new base"
    );
    let fixed = repos.git(&work, &["show", &format!("{second}:deploy/worker.yaml")]);
    assert!(fixed.contains("privileged: false"));
    assert_eq!(requests(&fake, "POST"), 1);
    let patch = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("the open pull request is updated");
    assert!(patch.path.ends_with("/pulls/1"), "{}", patch.path);
    assert!(
        patch.json()["body"]
            .as_str()
            .unwrap()
            .contains("deploy/worker.yaml")
    );
}

#[test]
fn a_commit_kubeharden_did_not_make_stops_the_run() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    assert_eq!(repos.pr(&fake, &[]).status.code(), Some(0));
    // A person adds a commit on the bot's branch.
    let work = repos.work();
    repos.git(&work, &["fetch", "-q", "origin", BRANCH]);
    repos.git(&work, &["checkout", "-q", "-b", "mine", "FETCH_HEAD"]);
    repos.write(
        "deploy/web.yaml",
        &PRIVILEGED.replace("nginx:1.27", "nginx:1.28"),
    );
    repos.commit_all("Bump nginx");
    repos.git(&work, &["push", "-q", "origin", &format!("mine:{BRANCH}")]);
    repos.git(&work, &["checkout", "-q", "main"]);
    let theirs = repos.remote_branch(BRANCH).unwrap();
    repos.write(
        "deploy/worker.yaml",
        &PRIVILEGED.replace("name: web\n", "name: worker\n"),
    );
    repos.commit_all("Add a worker");
    repos.git(&work, &["push", "-q", "origin", "main"]);

    let output = repos.pr(&fake, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("kubeharden did not make"), "{stderr}");
    assert!(stderr.contains("Bump nginx"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        repos.remote_branch(BRANCH).unwrap(),
        theirs,
        "their commit stays"
    );
    assert_eq!(requests(&fake, "PATCH"), 0);
}

#[test]
fn a_rejected_token_gives_one_line_and_the_token_appears_nowhere() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    fake.fail_with(
        401,
        &[],
        r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#,
    );
    let output = repos.pr(&fake, &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("401"), "{stderr}");
    assert!(errors[0].contains("GITHUB_TOKEN"), "{stderr}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    // The request did carry it, so the test would see a leak.
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.header("authorization").is_some_and(|a| a.contains(TOKEN)))
    );
}

#[test]
fn nothing_to_fix_makes_no_branch_and_no_pull_request() {
    let repos = Repos::new("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n");
    let fake = FakeGitHub::start(REPO);
    let output = repos.pr(&fake, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("nothing to fix"));
    assert!(output.stdout.is_empty());
    assert_eq!(repos.remote_branch(BRANCH), None);
    assert!(fake.requests().is_empty());
}

#[test]
fn dry_run_prints_the_plan_and_touches_nothing() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    let output = repos.pr(&fake, &["--dry-run", "--branch", "bot/harden"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        stdout.contains("would create branch bot/harden from main"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--- commit message ---\nHarden Kubernetes manifests"),
        "{stdout}"
    );
    assert!(stdout.contains("--- pull request body ---\n## Harden Kubernetes manifests"));
    assert_eq!(repos.remote_branch("bot/harden"), None);
    assert!(fake.requests().is_empty());
}

#[test]
fn paths_are_taken_relative_to_the_current_folder() {
    let repos = Repos::new(PRIVILEGED);
    repos.write(
        "other/pod.yaml",
        &PRIVILEGED.replace("name: web\n", "name: other\n"),
    );
    repos.commit_all("Add another pod");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let fake = FakeGitHub::start(REPO);
    let output = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(repos.work().join("deploy"))
        .envs(repos.env())
        .env("GITHUB_TOKEN", TOKEN)
        .args([
            "pr",
            "--github-repo",
            REPO,
            "--api-url",
            &fake.api_url(),
            "--dry-run",
            ".",
        ])
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(stdout.contains("- deploy/web.yaml: "), "{stdout}");
    assert!(!stdout.contains("other/pod.yaml"), "{stdout}");
}

#[test]
fn the_base_branch_is_never_the_branch_it_pushes() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    let main = repos.remote_branch("main").unwrap();
    let output = repos.pr(&fake, &["--branch", "main"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is the base branch"), "{stderr}");
    assert_eq!(repos.remote_branch("main").unwrap(), main);
    assert!(fake.requests().is_empty());
}

#[test]
fn nothing_is_pushed_when_github_cannot_be_used() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    fake.fail_with(404, &[], r#"{"message":"Not Found"}"#);
    let output = repos.pr(&fake, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert_eq!(
        repos.remote_branch(BRANCH),
        None,
        "no branch without a pull request"
    );
}

#[test]
fn a_new_base_moves_the_open_pull_request_there() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    assert_eq!(repos.pr(&fake, &[]).status.code(), Some(0));
    repos.git(&repos.work(), &["push", "-q", "origin", "main:release"]);
    let output = repos.pr(&fake, &["--base", "release"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let pulls = fake.open_pull_requests();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].base, "release");
}

#[test]
fn a_closed_pull_request_is_not_opened_again_until_the_fixes_change() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    assert_eq!(repos.pr(&fake, &[]).status.code(), Some(0));
    fake.close(1);
    let output = repos.pr(&fake, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("#1 with these fixes was closed"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    assert!(fake.open_pull_requests().is_empty());
    assert_eq!(requests(&fake, "POST"), 1);

    repos.write(
        "deploy/worker.yaml",
        &PRIVILEGED.replace("name: web\n", "name: worker\n"),
    );
    repos.commit_all("Add a worker");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let output = repos.pr(&fake, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let pulls = fake.open_pull_requests();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].number, 2, "new fixes, a new pull request");
}

#[test]
fn an_api_url_with_user_info_is_refused_before_the_token_goes_anywhere() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    // Looks like localhost to a reader; the host is the fake's, after the `@`.
    let api_url = fake.api_url().replacen("http://", "http://localhost:1@", 1);
    let output = repos.pr_at(&api_url, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("user info"), "{stderr}");
    assert!(fake.requests().is_empty(), "the token was sent");
    assert_eq!(repos.remote_branch(BRANCH), None);
}

#[cfg(unix)]
#[test]
fn a_token_file_others_can_read_gets_a_warning_and_its_byte_order_mark_is_dropped() {
    use std::os::unix::fs::PermissionsExt;
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    let file = repos.dir.path().join("token");
    fs::write(&file, format!("\u{feff}{TOKEN}\r\n")).unwrap();
    let warning = "can be read by other users";
    for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false)] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        let output = repos.pr(&fake, &["--token-file", file.to_str().unwrap()]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{mode:o}: {stderr}");
        assert_eq!(stderr.contains(warning), warned, "{mode:o}: {stderr}");
        assert!(!stderr.contains(TOKEN), "{stderr}");
    }
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(bearer.as_str()))
    );
}

#[test]
fn branch_names_follow_gits_rules_and_are_compared_in_full() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    let main = repos.remote_branch("main").unwrap();
    for (branch, says) in [
        ("HEAD", "not a valid branch name"),
        ("@{-1}", "not a valid branch name"),
        ("refs/heads/main", "is the base branch"),
        ("refs/tags/v1", "not a valid branch name"),
    ] {
        let output = repos.pr(&fake, &["--branch", branch]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{branch}: {stderr}");
        assert!(stderr.contains(says), "{branch}: {stderr}");
    }
    let refs = repos.git(&repos.work(), &["ls-remote", "origin"]);
    assert_eq!(refs.lines().count(), 2, "only HEAD and main: {refs}");
    assert_eq!(repos.remote_branch("main").unwrap(), main);
    assert!(fake.requests().is_empty());

    // The fully qualified name of a branch names that branch.
    let output = repos.pr(&fake, &["--base", "refs/heads/main"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(fake.open_pull_requests()[0].base, "main");
}

#[test]
fn a_closed_pull_request_is_not_reopened_when_only_the_base_moved() {
    let repos = Repos::new(PRIVILEGED);
    let fake = FakeGitHub::start(REPO);
    assert_eq!(repos.pr(&fake, &[]).status.code(), Some(0));
    let head = repos.remote_branch(BRANCH).unwrap();
    fake.close(1);
    // An unrelated commit: the tree differs, the fixes do not.
    repos.write("README.md", "# web\n\nThe web pod.\n");
    repos.commit_all("Describe the pod");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let output = repos.pr(&fake, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("#1 with these fixes was closed"),
        "{stderr}"
    );
    assert!(fake.open_pull_requests().is_empty());
    assert_eq!(requests(&fake, "POST"), 1);
    assert_eq!(repos.remote_branch(BRANCH).unwrap(), head, "nothing pushed");

    // Without the branch, the user asked to start over.
    repos.git(
        &repos.work(),
        &["push", "-q", "origin", &format!(":{BRANCH}")],
    );
    let output = repos.pr(&fake, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(fake.open_pull_requests()[0].number, 2);
}

/// `git ls-tree` of one path in `commit`: mode, type, id and path.
fn tree_entry(repos: &Repos, commit: &str, path: &str) -> String {
    let work = repos.work();
    repos.git(&work, &["fetch", "-q", "origin", commit]);
    repos.git(&work, &["ls-tree", commit, "--", path])
}

#[cfg(unix)]
#[test]
fn a_linked_manifest_stays_a_link_and_its_target_in_the_repository_is_fixed() {
    let repos = Repos::new(PRIVILEGED);
    std::os::unix::fs::symlink("deploy/web.yaml", repos.work().join("web-link.yaml")).unwrap();
    repos.commit_all("Link the web pod");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let fake = FakeGitHub::start(REPO);
    let output = repos.pr(&fake, &["web-link.yaml"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let head = repos.remote_branch(BRANCH).expect("the fixes were pushed");
    let link = tree_entry(&repos, &head, "web-link.yaml");
    assert!(link.starts_with("120000 blob "), "{link}");
    let target = repos.git(
        &repos.work(),
        &["cat-file", "-p", &format!("{head}:web-link.yaml")],
    );
    assert_eq!(target, "deploy/web.yaml");
    let fixed = repos.git(&repos.work(), &["show", &format!("{head}:deploy/web.yaml")]);
    assert!(fixed.contains("privileged: false"), "{fixed}");
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_repository_is_refused_and_what_it_points_at_is_left_alone() {
    let repos = Repos::new(PRIVILEGED);
    let outside = repos.dir.path().join("outside.yaml");
    std::os::unix::fs::symlink(&outside, repos.work().join("outside.yaml")).unwrap();
    // Relative, and out of the temporary worktree, whose folder is in TMPDIR, too.
    let above_worktree = repos.tmp().join("outside.yaml");
    std::os::unix::fs::symlink("../../outside.yaml", repos.work().join("deploy/up.yaml")).unwrap();
    for file in [&outside, &above_worktree] {
        fs::write(file, PRIVILEGED).unwrap();
    }
    repos.commit_all("Link a pod outside");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let fake = FakeGitHub::start(REPO);
    let output = repos.pr(
        &fake,
        &["outside.yaml", "deploy/up.yaml", "deploy/web.yaml"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for link in ["outside.yaml", "deploy/up.yaml"] {
        assert!(
            stderr.contains(&format!("error: {link}: a symbolic link to "))
                && stderr.contains("outside the repository; it was left alone"),
            "{stderr}"
        );
    }
    for file in [&outside, &above_worktree] {
        assert_eq!(fs::read_to_string(file).unwrap(), PRIVILEGED);
    }
    let head = repos
        .remote_branch(BRANCH)
        .expect("the other file's fixes were pushed");
    for link in ["outside.yaml", "deploy/up.yaml"] {
        let entry = tree_entry(&repos, &head, link);
        assert!(entry.starts_with("120000 blob "), "{entry}");
    }
}

#[test]
fn a_chart_is_fixed_in_its_values_and_the_body_says_so() {
    let Some(helm) = common::helm() else { return };
    let repos = Repos::new(PRIVILEGED);
    repos.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    repos.write(
        "chart/values.yaml",
        "# Settings of the web container.\nsecurityContext: {}\n",
    );
    repos.write(
        "chart/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: web:1.0\n          {{- with .Values.securityContext }}\n          securityContext:\n            {{- toYaml . | nindent 12 }}\n          {{- end }}\n",
    );
    repos.commit_all("Add the web chart");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let fake = FakeGitHub::start(REPO);
    let helm = helm.display().to_string();
    let output = repos.pr(
        &fake,
        &[
            "--helm",
            &helm,
            "--only",
            "no-privilege-escalation",
            "chart",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let create = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a create request");
    let body = create.json()["body"].as_str().unwrap().to_owned();
    assert!(
        body.contains("In Helm charts, 1 fix went into values files and 0 into templates"),
        "{body}"
    );
    let head = repos.remote_branch(BRANCH).expect("the branch was pushed");
    let work = repos.work();
    repos.git(&work, &["fetch", "-q", "origin", BRANCH]);
    let values = repos.git(&work, &["show", &format!("{head}:chart/values.yaml")]);
    assert_eq!(
        values,
        "# Settings of the web container.\nsecurityContext:\n  allowPrivilegeEscalation: false"
    );
}

#[test]
fn a_kustomize_tree_is_fixed_on_the_branch_with_its_new_overlay_patch() {
    let Some(kubectl) = common::rendered::tool("kubectl", "KUBEHARDEN_KUBECTL") else {
        return;
    };
    let repos = Repos::new(PRIVILEGED);
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-kustomize/base-outside-the-tree/input");
    common::rendered::copy(&case, &repos.work());
    repos.commit_all("Add the web overlay");
    repos.git(&repos.work(), &["push", "-q", "origin", "main"]);
    let fake = FakeGitHub::start(REPO);
    let kubectl = kubectl.display().to_string();
    let output = repos.pr(&fake, &["--kubectl", &kubectl, "app"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let head = repos.remote_branch(BRANCH).expect("the branch was pushed");
    let work = repos.work();
    repos.git(&work, &["fetch", "-q", "origin", BRANCH]);
    let changed = repos.git(&work, &["diff", "--name-status", "main", &head]);
    assert_eq!(
        changed,
        "A\tapp/overlays/prod/kubeharden-patch.yaml\nM\tapp/overlays/prod/kustomization.yaml"
    );
    let expected = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "golden-kustomize/base-outside-the-tree/expected/app/overlays/prod/kubeharden-patch.yaml",
    ))
    .unwrap();
    let patch = repos.git(
        &work,
        &[
            "show",
            &format!("{head}:app/overlays/prod/kubeharden-patch.yaml"),
        ],
    );
    assert_eq!(patch, expected.trim_end());
    let body = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a create request")
        .json()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.contains("`app/overlays/prod/kubeharden-patch.yaml`"),
        "{body}"
    );
}
