//! What the command prints and writes: unified diffs and atomic in-place rewrites.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// A unified diff of one file with git-style `a/PATH` and `b/PATH` headers.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let body = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    format!("diff --git a/{path} b/{path}\n{body}")
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

/// Replaces the file at `path` with `contents` atomically: a temporary file in the same folder,
/// given the original's permissions, renamed over it. A failure leaves the original untouched.
pub fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path)
        .with_context(|| "cannot read its permissions")?
        .permissions();
    let mut temp = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| "cannot create a temporary file beside it")?;
    temp.write_all(contents.as_bytes())
        .context("cannot write the temporary file")?;
    temp.as_file()
        .sync_all()
        .context("cannot flush the temporary file")?;
    std::fs::set_permissions(temp.path(), permissions)
        .context("cannot copy the file's permissions")?;
    temp.persist(path)
        .map_err(|e| e.error)
        .context("cannot replace the file")?;
    Ok(())
}
