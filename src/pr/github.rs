//! The GitHub REST client for `kubeharden pr`: finds, creates and updates one pull request.
//!
//! Every failure is one line that names the operation and says what to check, because the user
//! reads it in a CI log. The token never appears in any of them: it lives in [`Token`], which
//! cannot be printed, and every message is scrubbed of it before it leaves this module in case
//! GitHub (or a proxy in between) echoes it back.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use ureq::http::{HeaderMap, StatusCode, Uri};

use super::git::redact;

/// The REST API version these requests are written against; GitHub keeps its behaviour stable
/// for a pinned version.
const API_VERSION: &str = "2022-11-28";

/// Long enough for a slow GitHub Enterprise, short enough that a stuck CI job fails visibly.
const TIMEOUT: Duration = Duration::from_secs(30);

/// GitHub's answers are small; a bigger one is not GitHub, and reading it all would only waste
/// memory.
const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// How much server text an error quotes: enough for GitHub's messages, not a whole HTML page
/// from a proxy.
const MAX_QUOTED_CHARS: usize = 300;

/// The shortest start of the token that is redacted where it appears: long enough that common
/// words never match, short enough that no cut-off echo gives the token away.
const MIN_REDACTED: usize = 8;

/// A GitHub token. It never appears in output, errors or logs: Debug prints `Token(***)`, there
/// is no Display.
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// From `--token-file` (byte order mark and whitespace dropped; error naming the file, never its content, when unreadable
    /// or empty), else from GITHUB_TOKEN; a one-line error saying to pass --token-file or set
    /// GITHUB_TOKEN when neither.
    ///
    /// The file wins over the environment because passing it is the more deliberate choice.
    /// Whitespace inside the token is refused: it would only come from a file holding something
    /// else, and GitHub's 401 for it would point at the wrong cause.
    pub fn load(file: Option<&Path>, env_value: Option<String>) -> anyhow::Result<Token> {
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            return match Token::parse(&text) {
                Parsed::Token(token) => Ok(token),
                Parsed::Empty => bail!(
                    "the token file {} is empty: it should hold a GitHub token",
                    file.display()
                ),
                Parsed::Spaces => bail!(
                    "the token file {} holds more than one word: it should hold only a GitHub token",
                    file.display()
                ),
            };
        }
        match env_value.as_deref().map(Token::parse) {
            Some(Parsed::Token(token)) => Ok(token),
            Some(Parsed::Empty) => bail!(
                "GITHUB_TOKEN is empty: pass --token-file FILE or set GITHUB_TOKEN to a GitHub token"
            ),
            Some(Parsed::Spaces) => {
                bail!("GITHUB_TOKEN holds more than one word: it should hold only a GitHub token")
            }
            None => bail!("no GitHub token: pass --token-file FILE or set GITHUB_TOKEN"),
        }
    }

    /// Drops a UTF-8 byte order mark (editors on Windows write one), trims the text and checks
    /// that what is left can be a token.
    fn parse(text: &str) -> Parsed {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
        if text.is_empty() {
            Parsed::Empty
        } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Parsed::Spaces
        } else {
            Parsed::Token(Token(text.to_owned()))
        }
    }
}

impl Token {
    /// `text` with the token, and any start of it [`MIN_REDACTED`] characters long or longer,
    /// replaced by `***`: a server that echoes the token may cut it short.
    fn scrub(&self, text: &str) -> String {
        let token = self.0.as_str();
        let head = token
            .char_indices()
            .nth(MIN_REDACTED)
            .map_or(token, |(end, _)| &token[..end]);
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(head) {
            out.push_str(&rest[..at]);
            out.push_str("***");
            let echoed: usize = rest[at..]
                .chars()
                .zip(token.chars())
                .take_while(|(a, b)| a == b)
                .map(|(c, _)| c.len_utf8())
                .sum();
            rest = &rest[at + echoed..];
        }
        out.push_str(rest);
        out
    }
}

/// What a token's source held; the errors differ by source, the checks do not.
enum Parsed {
    Token(Token),
    Empty,
    Spaces,
}

/// A pull request as GitHub returns it (the fields used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    /// The number in the repository, used to update it.
    pub number: u64,
    /// The page a person opens, printed for the user.
    pub html_url: String,
    /// The title, compared to decide whether an update is needed.
    pub title: String,
    /// The description; GitHub sends `null` when there is none.
    pub body: Option<String>,
    /// The branch it merges into.
    pub base: BaseBranch,
}

/// The branch a pull request merges into.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BaseBranch {
    /// Its name, e.g. `main`.
    #[serde(rename = "ref")]
    pub name: String,
}

/// The client for one repository.
pub struct GitHub {
    agent: ureq::Agent,
    /// Without a trailing `/`, so that paths can be appended.
    api_url: String,
    owner: String,
    name: String,
    token: Token,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("repo", &format_args!("{}/{}", self.owner, self.name))
            .finish_non_exhaustive()
    }
}

/// The methods used; a small enum because ureq types requests with and without a body apart.
#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

/// A response as read off the wire: the parts the error messages need.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl GitHub {
    /// `api_url` like <https://api.github.com> or <https://ghe.example.com/api/v3> (a trailing /
    /// is fine); `repo` is OWNER/NAME (validated: one slash, no empty parts, no spaces; clear error
    /// otherwise).
    ///
    /// Owner and name are further limited to the characters GitHub allows (letters, digits, `-`,
    /// `_`, `.`), which also means they never need escaping in a URL path.
    pub fn new(api_url: &str, repo: &str, token: Token) -> anyhow::Result<GitHub> {
        let trimmed = check_api_url(api_url)?;
        let (owner, name) = parse_repo(repo)?;
        // Errors are read from the response, hence no status-as-error; redirects are not
        // followed because ureq would drop the token on them (rightly) and the 404 that
        // follows would hide the real cause, a renamed or moved repository.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .max_redirects(0)
            .build();
        Ok(GitHub {
            agent: config.new_agent(),
            api_url: trimmed.to_owned(),
            owner: owner.to_owned(),
            name: name.to_owned(),
            token,
        })
    }

    /// The open pull request whose head is `branch` of this repository: GET
    /// /repos/OWNER/NAME/pulls?state=open&head=OWNER:BRANCH (query parameters percent-encoded).
    ///
    /// GitHub allows one open pull request per head and base; with several bases the first one
    /// GitHub lists is returned.
    pub fn find_open_pull_request(&self, branch: &str) -> anyhow::Result<Option<PullRequest>> {
        self.find_pull_request(branch, "open")
    }

    /// The most recent closed pull request whose head is `branch`: GET
    /// /repos/OWNER/NAME/pulls?state=closed&head=OWNER:BRANCH (GitHub lists the newest first).
    pub fn find_closed_pull_request(&self, branch: &str) -> anyhow::Result<Option<PullRequest>> {
        self.find_pull_request(branch, "closed")
    }

    fn find_pull_request(&self, branch: &str, state: &str) -> anyhow::Result<Option<PullRequest>> {
        let operation = format!("looking for the {state} pull request from branch {branch}");
        let head = format!("{}:{branch}", self.owner);
        let answer = self.send(
            &operation,
            Method::Get,
            &self.pulls_path(),
            &[("state", state), ("head", &head)],
            None,
        )?;
        let mut found: Vec<PullRequest> = self.parse(&operation, &answer)?;
        Ok(if found.is_empty() {
            None
        } else {
            Some(found.swap_remove(0))
        })
    }

    /// POST /repos/OWNER/NAME/pulls with JSON {title, head, base, body}.
    pub fn create_pull_request(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> anyhow::Result<PullRequest> {
        let operation = format!("creating the pull request from {head} into {base}");
        let request = json!({ "title": title, "head": head, "base": base, "body": body });
        let answer = self.send(
            &operation,
            Method::Post,
            &self.pulls_path(),
            &[],
            Some(&request),
        )?;
        self.parse(&operation, &answer)
    }

    /// PATCH /repos/OWNER/NAME/pulls/NUMBER with JSON {title, body, base}.
    pub fn update_pull_request(
        &self,
        number: u64,
        base: &str,
        title: &str,
        body: &str,
    ) -> anyhow::Result<PullRequest> {
        let operation = format!("updating pull request #{number}");
        let request = json!({ "title": title, "body": body, "base": base });
        let path = format!("{}/{number}", self.pulls_path());
        let answer = self.send(&operation, Method::Patch, &path, &[], Some(&request))?;
        self.parse(&operation, &answer)
    }

    fn pulls_path(&self) -> String {
        format!("/repos/{}/{}/pulls", self.owner, self.name)
    }

    fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Sends one request with the headers GitHub wants and reads the whole answer. Only
    /// transport failures are errors here; the status is judged by [`GitHub::parse`].
    fn send(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.api_url);
        let result = match method {
            Method::Get => {
                let mut request = self.agent.get(&url);
                for (key, value) in query {
                    request = request.query(key, value);
                }
                self.with_headers(request).call()
            }
            Method::Post | Method::Patch => {
                let request = match method {
                    Method::Post => self.agent.post(&url),
                    _ => self.agent.patch(&url),
                };
                let bytes = serde_json::to_vec(body.unwrap_or(&Value::Null))
                    .expect("a JSON value always serializes");
                self.with_headers(request)
                    .content_type("application/json")
                    .send(&bytes[..])
            }
        };
        let mut response = result.map_err(|e| self.unreachable(operation, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| self.unreachable(operation, &e))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn with_headers<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request
            .header("Authorization", format!("Bearer {}", self.token.0))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(
                "User-Agent",
                concat!("kubeharden/", env!("CARGO_PKG_VERSION")),
            )
    }

    /// The JSON of a successful answer, or the one-line error that the status calls for.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        answer: &Answer,
    ) -> anyhow::Result<T> {
        if !answer.status.is_success() {
            return Err(self.error(operation, &self.status_problem(answer)));
        }
        serde_json::from_str(&answer.body).map_err(|e| {
            self.error(
                operation,
                &format!(
                    "GitHub's answer ({}) is not the JSON expected ({e}): check that --api-url points at the GitHub REST API",
                    answer.status.as_u16()
                ),
            )
        })
    }

    /// What went wrong, by status, saying what to check.
    fn status_problem(&self, answer: &Answer) -> String {
        let status = answer.status;
        let code = status_text(status);
        let repo = self.repo();
        let details: Option<Value> = serde_json::from_str(&answer.body).ok();
        let message = details
            .as_ref()
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .map(|m| self.quote(m));
        let said = |prefix: &str| match &message {
            Some(m) => format!("{prefix}GitHub says: {m}"),
            None => String::new(),
        };
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::FORBIDDEN
                && (header("x-ratelimit-remaining") == Some("0")
                    || header("retry-after").is_some()));
        if rate_limited {
            let when = if let Some(seconds) =
                header("retry-after").and_then(|v| v.parse::<u64>().ok())
            {
                format!("retry after {seconds} s")
            } else if let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse().ok()) {
                format!("it resets at {}; retry after that", describe_reset(reset))
            } else {
                "retry later".to_owned()
            };
            return format!("GitHub's rate limit was reached ({code}): {when}");
        }
        match status {
            StatusCode::UNAUTHORIZED => format!(
                "the token was rejected ({code}): check that --token-file or GITHUB_TOKEN holds a valid, unexpired token"
            ),
            StatusCode::FORBIDDEN => format!(
                "the token lacks permission on {repo} ({code}): it needs `contents: write` and `pull-requests: write`{}",
                said("; ")
            ),
            StatusCode::NOT_FOUND => format!(
                "{repo} was not found or is not visible to this token ({code}): check --github-repo and the token's access (and --api-url for GitHub Enterprise)"
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                let mut reasons: Vec<String> = message.into_iter().collect();
                let errors = details
                    .as_ref()
                    .and_then(|d| d.get("errors"))
                    .and_then(Value::as_array);
                reasons.extend(errors.into_iter().flatten().filter_map(describe_error));
                let reasons = if reasons.is_empty() {
                    "no reason given".to_owned()
                } else {
                    reasons.join("; ")
                };
                format!("GitHub refused the request ({code}): {reasons}")
            }
            _ if status.is_redirection() => format!(
                "GitHub answered {code}{}: {repo} may have been renamed or transferred; check --github-repo and --api-url",
                header("location")
                    .map(|l| format!(" to {l}"))
                    .unwrap_or_default()
            ),
            _ => {
                let text = match &message {
                    Some(m) => m.clone(),
                    None if answer.body.trim().is_empty() => "no message".to_owned(),
                    None => self.quote(&answer.body),
                };
                format!("GitHub answered {code}: {text}")
            }
        }
    }

    /// A transport failure: the request may never have reached GitHub.
    fn unreachable(&self, operation: &str, error: &ureq::Error) -> anyhow::Error {
        self.error(
            operation,
            &format!("cannot reach {}: {error}", self.api_url),
        )
    }

    /// The final message: one line, bounded, and without the token even when a server echoed it.
    fn error(&self, operation: &str, problem: &str) -> anyhow::Error {
        let message = one_line(&format!("{operation}: {problem}"));
        anyhow!("{}", self.token.scrub(&message))
    }

    /// Server text for an error: one line, the token redacted, then cut with `…` when long.
    /// Redacting after the cut would miss a token that the cut shortened.
    fn quote(&self, text: &str) -> String {
        let line = self.token.scrub(&one_line(text));
        if line.chars().count() > MAX_QUOTED_CHARS {
            line.chars().take(MAX_QUOTED_CHARS).collect::<String>() + "…"
        } else {
            line
        }
    }
}

/// `api_url` without its trailing `/`, once a URL parser agrees it is an http(s) URL that
/// sends the token where it says: no user info (in `http://localhost:1@HOST` the host is HOST,
/// which a look at the text would take for localhost), and plain http to this machine only.
///
/// The URL is shown redacted in the errors: user info may hold a password.
fn check_api_url(api_url: &str) -> anyhow::Result<&str> {
    let trimmed = api_url.trim_end_matches('/');
    let shown = redact(api_url);
    let uri: Option<Uri> = trimmed.parse().ok();
    let Some((scheme, authority)) = uri.as_ref().and_then(|uri| {
        let scheme = uri
            .scheme_str()
            .filter(|s| matches!(*s, "http" | "https"))?;
        let authority = uri.authority().filter(|a| !a.host().is_empty())?;
        Some((scheme, authority))
    }) else {
        bail!(
            "--api-url {shown:?} is not an http(s) URL: use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise"
        );
    };
    if authority.as_str().contains('@') {
        bail!(
            "--api-url {shown:?} holds user info (the part before @): give the API's address only; the token goes in a header"
        );
    }
    // The token goes in a header: in clear only to this machine, as for a test server.
    let local = matches!(
        authority.host(),
        "localhost" | "127.0.0.1" | "[::1]" | "::1"
    );
    if scheme == "http" && !local {
        bail!(
            "--api-url {shown:?} would send the token unencrypted: use https:// (plain http is accepted for localhost only)"
        );
    }
    Ok(trimmed)
}

/// Splits and checks OWNER/NAME.
fn parse_repo(repo: &str) -> anyhow::Result<(&str, &str)> {
    let allowed = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if allowed(owner) && allowed(name) => Ok((owner, name)),
        _ => bail!(
            "--github-repo {repo:?} is not OWNER/NAME: give one owner and one repository name separated by a single /, using letters, digits, '-', '_' and '.'"
        ),
    }
}

/// One entry of a 422's `errors`: GitHub gives either a message or the field and a code.
fn describe_error(error: &Value) -> Option<String> {
    if let Some(text) = error.as_str() {
        return Some(text.to_owned());
    }
    if let Some(message) = error.get("message").and_then(Value::as_str) {
        return Some(message.to_owned());
    }
    let part = |key: &str| error.get(key).and_then(Value::as_str);
    let code = part("code")?;
    Some(match (part("resource"), part("field")) {
        (Some(resource), Some(field)) => format!("{resource}.{field} {code}"),
        (None, Some(field)) => format!("{field} {code}"),
        _ => code.to_owned(),
    })
}

/// `404 Not Found`, or just the number for a status without a standard reason.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Whitespace, line breaks included, collapsed to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `x-ratelimit-reset` (seconds since the epoch) as a UTC time and how far away it is.
fn describe_reset(reset: u64) -> String {
    let (days, seconds) = (reset / 86_400, reset % 86_400);
    let (year, month, day) = civil_from_days(days);
    let at = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match reset.checked_sub(now) {
        Some(wait) if wait > 0 => format!("{at} (in {} min)", wait.div_ceil(60)),
        _ => at,
    }
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm), to avoid
/// a date dependency for one message.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2000-03-01 (after a leap day) and 2024-02-29 (a leap day).
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn reset_time_is_utc() {
        assert!(describe_reset(1_709_164_800 + 3661).starts_with("2024-02-29 01:01:01 UTC"));
    }

    #[test]
    fn quotes_are_one_short_line() {
        let github = GitHub::new(
            "https://api.github.com",
            "o/n",
            Token("ghp_0123456789".to_owned()),
        )
        .unwrap();
        assert_eq!(github.quote("a\n b\r\n\tc"), "a b c");
        assert!(github.quote(&"x ".repeat(1000)).ends_with('…'));
    }

    #[test]
    fn scrub_hides_the_token_and_its_long_starts() {
        let token = Token("ghp_0123456789".to_owned());
        assert_eq!(
            token.scrub("a ghp_0123456789 b ghp_01234 c ghp_0123 d ghp_012 e"),
            "a *** b *** c *** d ghp_012 e"
        );
        assert_eq!(Token("abc".to_owned()).scrub("xabcx ab"), "x***x ab");
    }

    #[test]
    fn repo_names() {
        assert_eq!(parse_repo("o/n.x").unwrap(), ("o", "n.x"));
        for bad in ["o", "o/", "/n", "o/n/x", "o /n", "o/n?x", ""] {
            assert!(parse_repo(bad).is_err(), "{bad}");
        }
    }
}
