//! A fake GitHub REST API for one repository, so that the client and `kubeharden pr` can be
//! tested without a network: std only, one thread, HTTP/1.1 with `Content-Length` bodies and
//! `Connection: close`. It serves until it is dropped.
//!
//! - `GET    {prefix}/repos/O/N/pulls?state=open&head=O:BRANCH` lists the open pull requests
//!   with that head (all of them without `head`);
//! - `POST   {prefix}/repos/O/N/pulls` creates pull request 1, 2, … (201), or answers 422 like
//!   GitHub when a field is missing or an open pull request already has that head;
//! - `PATCH  {prefix}/repos/O/N/pulls/{n}` updates its title, body and base (200);
//! - anything else is 404 `{"message":"Not Found"}`.
//!
//! [`FakeGitHub::fail_with`] makes every following request get one fixed response. Every
//! request is recorded, failed ones too.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as sent: path and query, still percent-encoded.
    pub path: String,
    /// In the order sent, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, empty when there is none.
    pub body: String,
}

impl Request {
    /// The value of the first header with this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body read as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "body of {} {} is not JSON ({e}): {}",
                self.method, self.path, self.body
            )
        })
    }
}

/// A pull request the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePullRequest {
    pub number: u64,
    /// The branch name, without `OWNER:`.
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: Option<String>,
    pub html_url: String,
    /// False once [`FakeGitHub::close`] closed it.
    pub open: bool,
}

impl FakePullRequest {
    /// The fields GitHub returns that the client may read, plus a few for realism.
    fn to_json(&self, owner: &str) -> Value {
        json!({
            "number": self.number,
            "state": if self.open { "open" } else { "closed" },
            "html_url": self.html_url,
            "title": self.title,
            "body": self.body,
            "head": { "ref": self.head, "label": format!("{owner}:{}", self.head) },
            "base": { "ref": self.base },
        })
    }
}

/// A response fixed by [`FakeGitHub::fail_with`].
struct Failure {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    pulls: Vec<FakePullRequest>,
    failure: Option<Failure>,
}

/// What the serving thread needs to answer.
struct Repo {
    base_url: String,
    prefix: String,
    owner: String,
    name: String,
}

/// The running fake; dropping it stops the server.
pub struct FakeGitHub {
    addr: SocketAddr,
    repo: Arc<Repo>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGitHub {
    /// Serves `repo` (OWNER/NAME) at the root, like https://api.github.com.
    pub fn start(repo: &str) -> FakeGitHub {
        FakeGitHub::start_at(repo, "")
    }

    /// Serves `repo` under a path prefix such as `/api/v3`, like GitHub Enterprise; requests
    /// outside the prefix get 404.
    pub fn start_at(repo: &str, prefix: &str) -> FakeGitHub {
        let (owner, name) = repo.split_once('/').expect("repo is OWNER/NAME");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let repo = Arc::new(Repo {
            base_url: format!("http://{addr}"),
            prefix: prefix.trim_end_matches('/').to_owned(),
            owner: owner.to_owned(),
            name: name.to_owned(),
        });
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (repo, state, stop) = (repo.clone(), state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        // A broken connection only concerns the request on it.
                        let _ = serve(stream, &repo, &state);
                    }
                }
            })
        };
        FakeGitHub {
            addr,
            repo,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, also the start of every `html_url`.
    pub fn url(&self) -> String {
        self.repo.base_url.clone()
    }

    /// [`FakeGitHub::url`] with the prefix: what to pass as the API URL.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.repo.base_url, self.repo.prefix)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// The pull requests created so far (all stay open), in number order.
    pub fn open_pull_requests(&self) -> Vec<FakePullRequest> {
        self.lock()
            .pulls
            .iter()
            .filter(|pr| pr.open)
            .cloned()
            .collect()
    }

    /// Closes pull request `number`, as a reviewer who does not want it would.
    pub fn close(&self, number: u64) {
        if let Some(pr) = self.lock().pulls.iter_mut().find(|pr| pr.number == number) {
            pr.open = false;
        }
    }

    /// Every following request gets this response (still recorded).
    pub fn fail_with(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.lock().failure = Some(Failure {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_owned(),
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request, records it and answers it.
fn serve(stream: TcpStream, repo: &Repo, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(()); // The wake-up connection from Drop, or garbage.
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };

    let (status, extra_headers, body) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.requests.push(request.clone());
        match &state.failure {
            Some(f) => (f.status, f.headers.clone(), f.body.clone()),
            None => {
                let (status, json) = route(&request, repo, &mut state);
                (status, Vec::new(), json.to_string())
            }
        }
    };
    let mut response = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    response.push_str("Content-Type: application/json; charset=utf-8\r\n");
    for (name, value) in &extra_headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    (&stream).write_all(response.as_bytes())?;
    (&stream).flush()
}

/// The repository's pull request endpoints; everything else is 404.
fn route(request: &Request, repo: &Repo, state: &mut State) -> (u16, Value) {
    let not_found = (404, json!({ "message": "Not Found" }));
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let Some(path) = path.strip_prefix(&repo.prefix) else {
        return not_found;
    };
    let pulls = format!("/repos/{}/{}/pulls", repo.owner, repo.name);
    let Some(rest) = path.strip_prefix(&pulls) else {
        return not_found;
    };
    match (request.method.as_str(), rest) {
        ("GET", "") => {
            let params = parse_query(query);
            let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            // GitHub's default is `open`.
            let wanted = param("state").map_or("open", String::as_str);
            let found: Vec<Value> = state
                .pulls
                .iter()
                .filter(|pr| match wanted {
                    "all" => true,
                    "closed" => !pr.open,
                    _ => pr.open,
                })
                .filter(|pr| {
                    param("head").is_none_or(|h| *h == format!("{}:{}", repo.owner, pr.head))
                })
                .map(|pr| pr.to_json(&repo.owner))
                .collect();
            (200, Value::Array(found))
        }
        ("POST", "") => {
            let Ok(fields) = serde_json::from_str::<Value>(&request.body) else {
                return (400, json!({ "message": "Problems parsing JSON" }));
            };
            let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
            for field in ["title", "head", "base"] {
                if text(field).is_none() {
                    return validation_failed(json!({
                        "resource": "PullRequest", "field": field, "code": "missing_field"
                    }));
                }
            }
            let head = text("head").unwrap();
            // GitHub accepts OWNER:BRANCH as well as BRANCH for a head in the same repository.
            let head = head
                .strip_prefix(&format!("{}:", repo.owner))
                .map(str::to_owned)
                .unwrap_or(head);
            if state.pulls.iter().any(|pr| pr.open && pr.head == head) {
                return validation_failed(json!({
                    "resource": "PullRequest", "code": "custom",
                    "message": format!("A pull request already exists for {}:{head}.", repo.owner)
                }));
            }
            let number = state.pulls.len() as u64 + 1;
            let pr = FakePullRequest {
                number,
                head,
                base: text("base").unwrap(),
                title: text("title").unwrap(),
                body: text("body"),
                html_url: format!(
                    "{}/{}/{}/pull/{number}",
                    repo.base_url, repo.owner, repo.name
                ),
                open: true,
            };
            let answer = pr.to_json(&repo.owner);
            state.pulls.push(pr);
            (201, answer)
        }
        ("PATCH", rest) => {
            let number: Option<u64> = rest.strip_prefix('/').and_then(|n| n.parse().ok());
            let Some(pr) = state.pulls.iter_mut().find(|pr| Some(pr.number) == number) else {
                return not_found;
            };
            let Ok(fields) = serde_json::from_str::<Value>(&request.body) else {
                return (400, json!({ "message": "Problems parsing JSON" }));
            };
            if let Some(title) = fields.get("title").and_then(Value::as_str) {
                pr.title = title.to_owned();
            }
            if let Some(body) = fields.get("body").and_then(Value::as_str) {
                pr.body = Some(body.to_owned());
            }
            if let Some(base) = fields.get("base").and_then(Value::as_str) {
                pr.base = base.to_owned();
            }
            (200, pr.to_json(&repo.owner))
        }
        _ => not_found,
    }
}

fn validation_failed(error: Value) -> (u16, Value) {
    (
        422,
        json!({ "message": "Validation Failed", "errors": [error] }),
    )
}

/// `a=1&b=x%3Ay` as decoded pairs (`+` is a space, as in forms).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
}
