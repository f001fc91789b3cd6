//! The GitHub client against the fake GitHub: the requests it sends, what it reads back, and the
//! one-line errors it gives, none of which may hold the token.

mod fake_github;

use std::fs;
use std::net::TcpListener;

use fake_github::FakeGitHub;
use kubeharden::pr::github::{BaseBranch, GitHub, PullRequest, Token};
use serde_json::json;
use tempfile::TempDir;

const REPO: &str = "octo/web";
/// Recognizable, so that a leak in any message is found.
const TOKEN: &str = "ghp_SECRETsecret0123456789abcdef";

fn token() -> Token {
    Token::load(None, Some(TOKEN.to_owned())).unwrap()
}

fn client(fake: &FakeGitHub) -> GitHub {
    GitHub::new(&fake.api_url(), REPO, token()).unwrap()
}

/// The checks every error must pass: one line, the operation named, no token anywhere.
fn check_error(error: &anyhow::Error, operation: &str) -> String {
    let shown = format!("{error:#}");
    let debug = format!("{error:?}");
    assert!(!shown.contains(TOKEN), "token in {shown}");
    assert!(!debug.contains(TOKEN), "token in {debug}");
    assert!(!shown.contains('\n'), "not one line: {shown}");
    assert!(shown.contains(operation), "{operation:?} not in {shown}");
    shown
}

fn assert_has(message: &str, words: &[&str]) {
    for word in words {
        assert!(message.contains(word), "{word:?} not in {message}");
    }
}

/// Runs each operation against a fake that answers everything with this response, checks the
/// common properties and returns the message of the create call.
fn failure(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let fake = FakeGitHub::start(REPO);
    fake.fail_with(status, headers, body);
    let github = client(&fake);
    let find = github.find_open_pull_request("fixes").unwrap_err();
    let update = github.update_pull_request(7, "main", "t", "b").unwrap_err();
    let create = github
        .create_pull_request("fixes", "main", "t", "b")
        .unwrap_err();
    check_error(&find, "looking for the open pull request from branch fixes");
    check_error(&update, "updating pull request #7");
    let message = check_error(&create, "creating the pull request");
    assert_eq!(fake.requests().len(), 3);
    message
}

#[test]
fn find_none_then_create_then_find_then_update() {
    let fake = FakeGitHub::start(REPO);
    let github = client(&fake);
    assert_eq!(
        github.find_open_pull_request("kubeharden/fixes").unwrap(),
        None
    );

    let created = github
        .create_pull_request("kubeharden/fixes", "main", "Harden manifests", "Two fixes.")
        .unwrap();
    let expected = PullRequest {
        number: 1,
        html_url: format!("{}/octo/web/pull/1", fake.url()),
        title: "Harden manifests".to_owned(),
        body: Some("Two fixes.".to_owned()),
        base: BaseBranch {
            name: "main".to_owned(),
        },
    };
    assert_eq!(created, expected);
    assert_eq!(
        github.find_open_pull_request("kubeharden/fixes").unwrap(),
        Some(expected)
    );
    assert_eq!(github.find_open_pull_request("other").unwrap(), None);

    let updated = github
        .update_pull_request(1, "main", "Harden manifests (3)", "Three fixes.")
        .unwrap();
    assert_eq!(updated.number, 1);
    assert_eq!(updated.title, "Harden manifests (3)");
    assert_eq!(updated.body.as_deref(), Some("Three fixes."));
    let open = fake.open_pull_requests();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0].head.as_str(),
            open[0].base.as_str(),
            open[0].title.as_str()
        ),
        ("kubeharden/fixes", "main", "Harden manifests (3)")
    );
}

#[test]
fn requests_carry_method_path_headers_and_json() {
    let fake = FakeGitHub::start(REPO);
    let github = client(&fake);
    github.find_open_pull_request("kubeharden/fixes").unwrap();
    github
        .create_pull_request("kubeharden/fixes", "main", "T", "B\nline 2")
        .unwrap();
    github.update_pull_request(1, "main", "T2", "B2").unwrap();

    let requests = fake.requests();
    let sent: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            (
                "GET",
                "/repos/octo/web/pulls?state=open&head=octo%3Akubeharden%2Ffixes"
            ),
            ("POST", "/repos/octo/web/pulls"),
            ("PATCH", "/repos/octo/web/pulls/1"),
        ]
    );
    let user_agent = format!("kubeharden/{}", env!("CARGO_PKG_VERSION"));
    for request in &requests {
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(request.header("authorization"), Some(bearer.as_str()));
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json")
        );
        assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(request.header("user-agent"), Some(user_agent.as_str()));
    }
    assert_eq!(requests[0].body, "");
    for request in &requests[1..] {
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        requests[1].json(),
        json!({ "title": "T", "head": "kubeharden/fixes", "base": "main", "body": "B\nline 2" })
    );
    assert_eq!(
        requests[2].json(),
        json!({ "title": "T2", "body": "B2", "base": "main" })
    );
}

#[test]
fn query_parameters_are_percent_encoded() {
    let fake = FakeGitHub::start(REPO);
    let github = client(&fake);
    let branch = "fix/a b&c=d+e#f?g";
    github
        .create_pull_request(branch, "main", "T", "B")
        .unwrap();
    let found = github.find_open_pull_request(branch).unwrap();
    assert_eq!(found.map(|pr| pr.number), Some(1));
    let path = fake.requests()[1].path.clone();
    assert_eq!(
        path,
        "/repos/octo/web/pulls?state=open&head=octo%3Afix%2Fa%20b%26c%3Dd%2Be%23f%3Fg"
    );
}

#[test]
fn api_url_may_end_with_a_slash() {
    let fake = FakeGitHub::start(REPO);
    let github = GitHub::new(&format!("{}/", fake.url()), REPO, token()).unwrap();
    assert_eq!(github.find_open_pull_request("x").unwrap(), None);
    assert!(
        fake.requests()[0]
            .path
            .starts_with("/repos/octo/web/pulls?")
    );
}

#[test]
fn api_url_may_have_a_path_prefix() {
    let fake = FakeGitHub::start_at(REPO, "/api/v3");
    for api_url in [fake.api_url(), format!("{}/", fake.api_url())] {
        let github = GitHub::new(&api_url, REPO, token()).unwrap();
        assert_eq!(github.find_open_pull_request("x").unwrap(), None);
    }
    let github = GitHub::new(&fake.api_url(), REPO, token()).unwrap();
    let created = github.create_pull_request("x", "main", "T", "B").unwrap();
    github
        .update_pull_request(created.number, "main", "T2", "B2")
        .unwrap();
    for request in fake.requests() {
        assert!(
            request.path.starts_with("/api/v3/repos/octo/web/pulls"),
            "{}",
            request.path
        );
    }
    // Without the prefix the fake, like GitHub Enterprise, knows nothing.
    let without = GitHub::new(&fake.url(), REPO, token()).unwrap();
    let error = without.find_open_pull_request("x").unwrap_err();
    assert_has(&check_error(&error, "looking for"), &["404", "--api-url"]);
}

#[test]
fn unauthorized_says_to_check_the_token() {
    let message = failure(401, &[], r#"{"message":"Bad credentials"}"#);
    assert_has(
        &message,
        &[
            "401",
            "token was rejected",
            "--token-file",
            "GITHUB_TOKEN",
            "unexpired",
        ],
    );
}

#[test]
fn forbidden_says_which_permissions_are_needed() {
    let message = failure(
        403,
        &[("x-ratelimit-remaining", "4999")],
        r#"{"message":"Resource not accessible by integration"}"#,
    );
    assert_has(
        &message,
        &[
            "403",
            "lacks permission on octo/web",
            "contents: write",
            "pull-requests: write",
            "Resource not accessible by integration",
        ],
    );
    assert!(!message.contains("rate limit"), "{message}");
}

#[test]
fn primary_rate_limit_says_when_it_resets() {
    let message = failure(
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1709164800"),
        ],
        r#"{"message":"API rate limit exceeded"}"#,
    );
    assert_has(
        &message,
        &["rate limit", "2024-02-29 00:00:00 UTC", "retry"],
    );
    assert!(!message.contains("permission"), "{message}");
}

#[test]
fn too_many_requests_says_when_to_retry() {
    let message = failure(429, &[("retry-after", "60")], "{}");
    assert_has(&message, &["429", "rate limit", "retry after 60 s"]);
    let message = failure(429, &[], "");
    assert_has(&message, &["rate limit", "retry later"]);
}

#[test]
fn not_found_says_to_check_repo_access_and_api_url() {
    let message = failure(404, &[], r#"{"message":"Not Found"}"#);
    assert_has(
        &message,
        &[
            "404",
            "octo/web",
            "not found or is not visible",
            "--github-repo",
            "--api-url",
        ],
    );
}

#[test]
fn unprocessable_lists_githubs_reasons() {
    let body = r#"{"message":"Validation Failed","errors":[
        {"resource":"PullRequest","field":"base","code":"invalid"},
        {"resource":"PullRequest","code":"custom","message":"No commits between main and fixes"}]}"#;
    let message = failure(422, &[], body);
    assert_has(
        &message,
        &[
            "422",
            "GitHub refused the request",
            "Validation Failed",
            "PullRequest.base invalid",
            "No commits between main and fixes",
        ],
    );
}

#[test]
fn a_second_pull_request_for_a_head_is_refused_by_the_fake_as_by_github() {
    let fake = FakeGitHub::start(REPO);
    let github = client(&fake);
    github
        .create_pull_request("fixes", "main", "T", "B")
        .unwrap();
    let error = github
        .create_pull_request("fixes", "main", "T", "B")
        .unwrap_err();
    let message = check_error(&error, "creating the pull request");
    assert_has(
        &message,
        &["422", "A pull request already exists for octo:fixes"],
    );
    assert_eq!(fake.open_pull_requests().len(), 1);
}

#[test]
fn other_statuses_give_the_status_and_githubs_message_on_one_line() {
    let message = failure(500, &[], r#"{"message":"Server\nError"}"#);
    assert_has(&message, &["500 Internal Server Error", "Server Error"]);
    let html = format!("<html>\n{}</html>", "<p>bad gateway</p>\n".repeat(500));
    let message = failure(502, &[], &html);
    assert_has(&message, &["502 Bad Gateway", "bad gateway"]);
    assert!(message.chars().count() < 1000, "{}", message.len());
}

#[test]
fn the_token_is_scrubbed_even_when_the_server_echoes_it() {
    let body = format!(r#"{{"message":"token {TOKEN} is odd"}}"#);
    let message = failure(418, &[], &body);
    assert_has(&message, &["418", "token *** is odd"]);
}

#[test]
fn a_success_without_the_expected_json_is_an_error() {
    let message = failure(200, &[], "<html>login</html>");
    assert_has(&message, &["not the JSON expected", "--api-url"]);
}

#[test]
fn redirects_are_reported_not_followed() {
    let message = failure(
        301,
        &[("location", "http://127.0.0.1:1/repositories/1")],
        "{}",
    );
    assert_has(
        &message,
        &["301", "renamed or transferred", "--github-repo"],
    );
}

#[test]
fn connection_refused_says_cannot_reach() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let api_url = format!("http://127.0.0.1:{port}");
    let github = GitHub::new(&api_url, REPO, token()).unwrap();
    let error = github
        .create_pull_request("fixes", "main", "T", "B")
        .unwrap_err();
    let message = check_error(&error, "creating the pull request");
    assert_has(&message, &["cannot reach", &api_url]);
}

#[test]
fn new_checks_repo_and_api_url() {
    for repo in [
        "octo",
        "octo/",
        "/web",
        "octo/web/x",
        "octo /web",
        "octo/we b",
        "",
    ] {
        let error = GitHub::new("https://api.github.com", repo, token()).unwrap_err();
        let message = format!("{error:#}");
        assert_has(&message, &["--github-repo", "OWNER/NAME"]);
        assert!(
            !message.contains('\n') && !message.contains(TOKEN),
            "{message}"
        );
    }
    for api_url in ["api.github.com", "ftp://x", "https://", "https:///x", ""] {
        let error = GitHub::new(api_url, REPO, token()).unwrap_err();
        assert_has(&format!("{error:#}"), &["--api-url"]);
    }
    for api_url in [
        "http://ghe.example.com/api/v3",
        "http://localhost.example.com",
    ] {
        let error = GitHub::new(api_url, REPO, token()).unwrap_err();
        assert_has(
            &format!("{error:#}"),
            &["--api-url", "unencrypted", "https://"],
        );
    }
    for api_url in [
        "http://localhost:8080",
        "http://127.0.0.1/api/v3",
        "http://[::1]:9",
    ] {
        GitHub::new(api_url, REPO, token()).unwrap();
    }
    GitHub::new(
        "https://ghe.example.com/api/v3/",
        "my-org/repo.name_2",
        token(),
    )
    .unwrap();
}

#[test]
fn token_from_a_file_is_trimmed_and_preferred() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("token");
    fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let token = Token::load(Some(&file), Some("from-env".to_owned())).unwrap();
    assert_sent_as_the_bearer(token);
}

/// Sends one request with `token` and checks it went as `TOKEN`.
fn assert_sent_as_the_bearer(token: Token) {
    let fake = FakeGitHub::start(REPO);
    GitHub::new(&fake.url(), REPO, token)
        .unwrap()
        .find_open_pull_request("x")
        .unwrap();
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        fake.requests()[0].header("authorization"),
        Some(bearer.as_str())
    );
}

#[test]
fn token_from_the_environment() {
    let token = Token::load(None, Some(format!(" {TOKEN}\n"))).unwrap();
    assert_sent_as_the_bearer(token);
}

#[test]
fn no_token_says_how_to_give_one() {
    for env in [None, Some(String::new()), Some(" \n".to_owned())] {
        let message = format!("{:#}", Token::load(None, env).unwrap_err());
        assert_has(&message, &["--token-file", "GITHUB_TOKEN"]);
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn bad_token_files_are_named_without_their_content() {
    let dir = TempDir::new().unwrap();
    let empty = dir.path().join("empty");
    fs::write(&empty, " \n\n").unwrap();
    let missing = dir.path().join("missing");
    let two_words = dir.path().join("two-words");
    fs::write(&two_words, format!("{TOKEN}\nsecond-line-secret\n")).unwrap();
    for (file, words) in [
        (&empty, &["is empty"][..]),
        (&missing, &["cannot read"][..]),
        (&two_words, &["more than one word"][..]),
    ] {
        let error = Token::load(Some(file), Some(TOKEN.to_owned())).unwrap_err();
        for shown in [format!("{error:#}"), format!("{error:?}")] {
            assert_has(&shown, &[&file.display().to_string()]);
            assert_has(&shown, words);
            assert!(
                !shown.contains(TOKEN) && !shown.contains("second-line-secret"),
                "{shown}"
            );
        }
        assert!(!format!("{error:#}").contains('\n'));
    }
}

#[test]
fn debug_hides_the_token() {
    let token = token();
    assert_eq!(format!("{token:?}"), "Token(***)");
    let github = GitHub::new("https://api.github.com", REPO, token).unwrap();
    let shown = format!("{github:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert_has(&shown, &["octo/web", "https://api.github.com"]);
}

#[test]
fn api_urls_with_user_info_are_refused_and_shown_without_it() {
    // The text starts like localhost; the host is what follows the `@`.
    for api_url in [
        "http://localhost:1@127.0.0.2:18501",
        "http://localhost@ghe.example.com/api/v3",
        "http://[::1]:1@ghe.example.com",
        "https://user:hunter2@api.github.com",
    ] {
        let error = GitHub::new(api_url, REPO, token()).unwrap_err();
        let message = format!("{error:#}");
        assert_has(&message, &["--api-url", "user info"]);
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[test]
fn the_token_is_redacted_before_long_server_text_is_cut() {
    // The cut at 300 characters falls on the token's last character.
    let padding = "x".repeat(300 - TOKEN.len() + 1);
    let cut = format!(r#"{{"message":"{padding}{TOKEN} trailing text"}}"#);
    // A server (or proxy) that echoes only the start of it.
    let start = format!(r#"{{"message":"token {} is odd"}}"#, &TOKEN[..12]);
    for body in [cut, start] {
        let message = failure(418, &[], &body);
        assert!(!message.contains(&TOKEN[..8]), "{message}");
        assert!(message.contains("***"), "{message}");
    }
}

#[test]
fn a_byte_order_mark_and_crlf_around_the_token_are_dropped() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("token");
    fs::write(&file, format!("\u{feff}{TOKEN}\r\n")).unwrap();
    assert_sent_as_the_bearer(Token::load(Some(&file), None).unwrap());
}
