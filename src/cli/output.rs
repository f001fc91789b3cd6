//! What the command prints: unified diffs, coloured on a terminal.

use crate::source::Lifecycle;

/// A unified diff of one file with the headers `git diff` writes for `path` (relative to the
/// repository's top level): `a/PATH` and `b/PATH`, quoted as git quotes them, and a TAB after
/// a name holding a space on the `---` and `+++` lines, where `patch` expects the name to end.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    file_diff(path, old, new, Lifecycle::Changed)
}

/// A unified diff of one file that may be created or deleted, as `git diff` writes it
/// (`new file mode 100644` and `--- /dev/null`, or `deleted file mode 100644` and
/// `+++ /dev/null`), which `git apply` and `patch -p1` accept.
pub fn file_diff(path: &str, old: &str, new: &str, lifecycle: Lifecycle) -> String {
    let (a, b) = (
        git_quoted(&format!("a/{path}")),
        git_quoted(&format!("b/{path}")),
    );
    let (mode, old_name, new_name) = match lifecycle {
        Lifecycle::Created => ("new file mode 100644\n", "/dev/null".to_owned(), b.clone()),
        Lifecycle::Deleted => (
            "deleted file mode 100644\n",
            a.clone(),
            "/dev/null".to_owned(),
        ),
        Lifecycle::Changed => ("", a.clone(), b.clone()),
    };
    format!(
        "diff --git {a} {b}\n{mode}--- {old_name}{}\n+++ {new_name}{}\n{}",
        name_end(&old_name),
        name_end(&new_name),
        hunks(old, new)
    )
}

/// The hunks turning `old` into `new`, with three lines of context.
fn hunks(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .to_string()
}

/// What follows a name on the `---` and `+++` lines: a TAB when it holds a space, where
/// `patch` expects the name to end.
fn name_end(name: &str) -> &'static str {
    if name.contains(' ') { "\t" } else { "" }
}

/// `name` as git writes a path (`core.quotePath`, its default): as it is, or in double quotes
/// with C escapes when it holds a double quote, a backslash, a control character or a
/// non-ASCII byte.
fn git_quoted(name: &str) -> String {
    let needs_quotes = |b: u8| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b);
    if !name.bytes().any(needs_quotes) {
        return name.to_owned();
    }
    let mut quoted = String::from("\"");
    for byte in name.bytes() {
        match byte {
            b'\x07' => quoted.push_str("\\a"),
            b'\x08' => quoted.push_str("\\b"),
            b'\t' => quoted.push_str("\\t"),
            b'\n' => quoted.push_str("\\n"),
            b'\x0b' => quoted.push_str("\\v"),
            b'\x0c' => quoted.push_str("\\f"),
            b'\r' => quoted.push_str("\\r"),
            b'"' => quoted.push_str("\\\""),
            b'\\' => quoted.push_str("\\\\"),
            b if needs_quotes(b) => quoted.push_str(&format!("\\{b:03o}")),
            b => quoted.push(char::from(b)),
        }
    }
    quoted.push('"');
    quoted
}

/// Colours a unified diff for a terminal: removals red, additions green, hunk headers cyan.
pub fn colorize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let colour =
            if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
                "\x1b[1m"
            } else if line.starts_with('+') {
                "\x1b[32m"
            } else if line.starts_with('-') {
                "\x1b[31m"
            } else if line.starts_with("@@") {
                "\x1b[36m"
            } else {
                ""
            };
        if colour.is_empty() {
            out.push_str(line);
        } else {
            let body = line.trim_end_matches('\n');
            out.push_str(&format!("{colour}{body}\x1b[0m{}", &line[body.len()..]));
        }
    }
    out
}
