//! What the command prints: unified diffs, coloured on a terminal.

use std::fmt::Write;

use similar::udiff::UnifiedHunkHeader;
use similar::{ChangeTag, DiffOp};

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

/// The hunks turning `old` into `new`, with three lines of context, written as `similar`'s
/// unified diff writes them. Texts up to [`WHOLE_DIFF_LINES`] lines are diffed whole; longer
/// ones a change at a time (see [`windowed_ops`]).
fn hunks(old: &str, new: &str) -> String {
    let (old_lines, new_lines) = (lines(old), lines(new));
    let ops = if old_lines.len() + new_lines.len() <= WHOLE_DIFF_LINES {
        similar::TextDiff::from_slices(&old_lines, &new_lines)
            .ops()
            .to_vec()
    } else {
        windowed_ops(&old_lines, &new_lines)
    };
    unified_hunks(&old_lines, &new_lines, ops)
}

/// The lines of `text`, line breaks kept, cut as `similar` cuts them: after a `\n`, a `\r\n`
/// or a lone `\r`. memchr finds the breaks many bytes at a time.
fn lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut breaks = memchr::memchr2_iter(b'\n', b'\r', bytes);
    while let Some(at) = breaks.next() {
        let end = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
            // The `\n` of this `\r\n` ends no other line.
            breaks.next();
            at + 2
        } else {
            at + 1
        };
        lines.push(&text[start..end]);
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// The hunks of the line operations `ops` turning `old` into `new`, with three lines of
/// context, as `similar`'s unified diff writes them.
fn unified_hunks(old_lines: &[&str], new_lines: &[&str], ops: Vec<DiffOp>) -> String {
    let mut out = String::new();
    for hunk in similar::group_diff_ops(ops, 3) {
        if hunk.is_empty() {
            continue;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{}", UnifiedHunkHeader::new(&hunk));
        for change in hunk
            .iter()
            .flat_map(|op| op.iter_changes(old_lines, new_lines))
        {
            out.push(sign(change.tag()));
            out.push_str(change.value());
            if change.missing_newline() {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// The character starting a line of a diff: `-` removed, `+` added, a blank kept.
pub(super) fn sign(tag: ChangeTag) -> char {
    match tag {
        ChangeTag::Delete => '-',
        ChangeTag::Insert => '+',
        ChangeTag::Equal => ' ',
    }
}

/// How many lines (old and new together) a diff of the whole texts may take: it is exact
/// there, and quick (it costs the lines times the changes), and every ordinary manifest is
/// below it.
const WHOLE_DIFF_LINES: usize = 10_000;

/// How many equal lines must follow a change for its window to end, and how many equal lines
/// before and after it its window takes in, so that the diff inside the window can slide an
/// insertion along repeated lines as a diff of the whole text would.
const WINDOW_MARGIN: usize = 16;

/// How far (lines skipped in both texts together) the end of one change is looked for before
/// the rest of the texts is diffed as one window.
const CHANGE_SEARCH_LIMIT: usize = 2048;

/// The line operations turning `old` into `new`. The texts are equal but for the edits, so
/// rather than one diff of the whole texts (time growing with the file times the number of
/// changes, and on large texts `similar` bounds its search and may return hunks larger than
/// needed), each changed run is diffed alone, in a window reaching [`WINDOW_MARGIN`] equal
/// lines either side of it. Where a change could be shown in two ways of the same size (a
/// line moved across an equal one), the window may choose the other way.
fn windowed_ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    let mut ops = Vec::new();
    // Where the operations so far end; from there the texts run equal until the next change.
    let (mut i, mut j) = (0, 0);
    loop {
        let equal = old[i..]
            .iter()
            .zip(&new[j..])
            .take_while(|(a, b)| a == b)
            .count();
        let before = equal.min(WINDOW_MARGIN);
        push_op(
            &mut ops,
            DiffOp::Equal {
                old_index: i,
                new_index: j,
                len: equal - before,
            },
        );
        let (start_i, start_j) = (i + equal - before, j + equal - before);
        if i + equal == old.len() && j + equal == new.len() {
            push_op(
                &mut ops,
                DiffOp::Equal {
                    old_index: start_i,
                    new_index: start_j,
                    len: before,
                },
            );
            return ops;
        }
        (i, j) = window_end(old, new, i + equal, j + equal);
        let window = similar::TextDiff::from_slices(&old[start_i..i], &new[start_j..j]);
        for op in window.ops() {
            push_op(&mut ops, shifted(*op, start_i, start_j));
        }
    }
}

/// Where the window of the change starting at `old[i]` and `new[j]` ends: after the first
/// [`WINDOW_MARGIN`] equal lines of both texts (or their equal ends) found after it.
fn window_end(old: &[&str], new: &[&str], i: usize, j: usize) -> (usize, usize) {
    for skipped in 1..=CHANGE_SEARCH_LIMIT {
        for in_old in 0..=skipped {
            let (at_old, at_new) = (i + in_old, j + skipped - in_old);
            if at_old > old.len() || at_new > new.len() {
                continue;
            }
            let len = WINDOW_MARGIN
                .min(old.len() - at_old)
                .min(new.len() - at_new);
            let resumes =
                len == WINDOW_MARGIN || (at_old + len == old.len() && at_new + len == new.len());
            if resumes && old[at_old..at_old + len] == new[at_new..at_new + len] {
                return (at_old + len, at_new + len);
            }
        }
    }
    (old.len(), new.len())
}

/// `op` of a window starting at `old[old_start]` and `new[new_start]`, in whole-text lines.
fn shifted(op: DiffOp, old_start: usize, new_start: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + old_start,
            new_index: new_index + new_start,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + old_start,
            old_len,
            new_index: new_index + new_start,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + old_start,
            new_index: new_index + new_start,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + old_start,
            old_len,
            new_index: new_index + new_start,
            new_len,
        },
    }
}

/// Appends `op`, joining it to an equal run before it, as one diff of the whole texts would
/// have it: the hunks are cut in long equal runs. Empty runs are left out.
fn push_op(ops: &mut Vec<DiffOp>, op: DiffOp) {
    match (ops.last_mut(), op) {
        (_, DiffOp::Equal { len: 0, .. }) => {}
        (Some(DiffOp::Equal { len, .. }), DiffOp::Equal { len: more, .. }) => *len += more,
        _ => ops.push(op),
    }
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

#[cfg(test)]
mod tests {
    use similar::DiffableStr;

    use super::*;

    /// The diff of the whole texts, as `similar` writes it: what [`hunks`] must write.
    fn whole_text_hunks(old: &str, new: &str) -> String {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .to_string()
    }

    /// A manifest-like text of `n` lines, many of them repeated, as in real manifests.
    fn manifest_lines(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| match i % 7 {
                0 => "---\n".to_owned(),
                1 | 4 => "  - name: x\n".to_owned(),
                2 => format!("    image: i{}\n", i % 5),
                _ => format!("line {i}\n"),
            })
            .collect()
    }

    #[test]
    fn the_windowed_diff_is_the_whole_text_diff() {
        let mut cases = vec![
            ("".to_owned(), "a\nb\n".to_owned()),
            ("a\nb\n".to_owned(), "".to_owned()),
            ("a\nb".to_owned(), "a\nc".to_owned()),
            ("a\r\nb\r\n".to_owned(), "a\r\nx\r\nb\r\n".to_owned()),
            ("x\ny\n".to_owned(), "x\nx\ny\n".to_owned()),
        ];
        // Insertions, deletions and replacements, near each other and far apart, next to
        // repeated lines where a diff may slide them.
        let base = manifest_lines(400);
        let mut seed = 7u64;
        for _ in 0..60 {
            let mut new = base.clone();
            let edits = 1 + seed as usize % 9;
            for _ in 0..edits {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (seed >> 33) as usize % new.len();
                match (seed >> 20) % 4 {
                    0 => new.insert(at, new[at].clone()),
                    1 => new.insert(at, format!("added {at}\n")),
                    2 => drop(new.remove(at)),
                    _ => new[at] = format!("changed {at}\n"),
                }
            }
            cases.push((base.concat(), new.concat()));
        }
        for (old, new) in cases {
            let (old_lines, new_lines) = (old.tokenize_lines(), new.tokenize_lines());
            let windowed = windowed_ops(&old_lines, &new_lines);
            assert_eq!(
                unified_hunks(&old_lines, &new_lines, windowed),
                whole_text_hunks(&old, &new),
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn lines_are_cut_as_similar_cuts_them() {
        for text in [
            "",
            "a",
            "a\n",
            "a\nb",
            "a\n\nb\n",
            "a\r\nb\rc\n",
            "\r",
            "é\nü",
        ] {
            assert_eq!(lines(text), text.tokenize_lines(), "{text:?}");
        }
    }

    #[test]
    fn a_change_far_from_the_others_is_diffed_in_its_own_window() {
        let old = manifest_lines(100_000).concat();
        let mut new_lines = manifest_lines(100_000);
        new_lines.insert(10, "first\n".to_owned());
        new_lines.insert(90_000, "last\n".to_owned());
        let ops = windowed_ops(&old.tokenize_lines(), &new_lines.concat().tokenize_lines());
        let changes: Vec<_> = ops
            .iter()
            .filter(|op| op.tag() != similar::DiffTag::Equal)
            .map(|op| (op.old_range(), op.new_range()))
            .collect();
        assert_eq!(
            changes,
            [(10..10, 10..11), (89_999..89_999, 90_000..90_001)]
        );
    }
}
