//! Documentation generated from the transform declarations: the table that `kubeharden
//! transforms` prints and the README carries, the text of `kubeharden explain`, and the
//! reference in `docs/transforms.md` that links (SARIF rules' help, the README) point at.

use crate::transform::{self, Literal, Transform};

/// A Markdown table of every transform: id, profile, safety, title.
pub fn transform_table() -> String {
    let mut out =
        String::from("| id | profile | safety | what it guarantees |\n|---|---|---|---|\n");
    for t in transform::all() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            t.id, t.profile, t.safety, t.title
        ));
    }
    out
}

/// Where the reference of `id` is published: its heading in `docs/transforms.md`.
pub fn reference_url(id: &str) -> String {
    format!("https://github.com/kubeharden/kubeharden/blob/main/docs/transforms.md#{id}")
}

/// `docs/transforms.md`: the table, then one section per transform (its heading is its id, so
/// that [`reference_url`] finds it) holding what `kubeharden explain` prints.
pub fn reference() -> String {
    let mut out = String::from(
        "# Transforms\n\nGenerated from the declarations in `transforms/` (what `kubeharden transforms` and\n`kubeharden explain ID` print); `KUBEHARDEN_BLESS=1 cargo test --test transform_examples`\nrewrites it.\n\n",
    );
    out.push_str(&transform_table());
    for t in transform::all() {
        out.push_str(&format!(
            "\n## {}\n\n**{}** (profile `{}`, {})\n\n```text\n{}```\n",
            t.id,
            t.title,
            t.profile,
            t.safety,
            explain(t)
        ));
    }
    out
}

/// Everything about one transform: title, why, what changes at run time, references, options
/// and its example as a diff.
pub fn explain(t: &Transform) -> String {
    let mut out = format!(
        "{}: {}\n\nprofile: {}\nsafety: {}\n\n",
        t.id, t.title, t.profile, t.safety
    );
    out.push_str(&wrap(&t.why, 96));
    out.push_str("\n\nat run time:\n");
    out.push_str(&wrap(&t.at_run_time, 96));
    out.push_str("\n\nreferences:\n");
    out.push_str(&format!(
        "  Pod Security Standards: {}\n",
        t.references.pod_security_standards
    ));
    if !t.references.checkov.is_empty() {
        out.push_str(&format!("  Checkov: {}\n", t.references.checkov.join(", ")));
    }
    if !t.options.is_empty() {
        out.push_str("\noptions (in .kubeharden.yaml under transforms.");
        out.push_str(&format!("{}):\n", t.id));
        for option in &t.options {
            let default = option
                .default
                .as_ref()
                .map_or("none".to_owned(), Literal::display);
            out.push_str(&format!(
                "  {} (default {default}): {}\n",
                option.name, option.doc
            ));
        }
    }
    if !t.image_writes.is_empty() {
        out.push_str("\nfolders images write (each gets an emptyDir unless a volume covers it):\n");
        for entry in &t.image_writes {
            let writes = match entry.writes.is_empty() {
                true => "nothing".to_owned(),
                false => entry.writes.join(", "),
            };
            let images = crate::k8s::image::listed(&entry.images);
            out.push_str(&format!("  {images}: {writes}\n"));
            out.push_str(&format!("    source: {}\n", entry.source));
        }
    }
    if !t.command_needs.is_empty() {
        out.push_str("\ncommands that keep capabilities:\n");
        for need in &t.command_needs {
            let options = match need.with_options.is_empty() {
                true => String::new(),
                false => format!(" (with {})", need.with_options.join(", ")),
            };
            out.push_str(&format!(
                "  {}{options}: {}\n",
                need.commands.join(", "),
                need.capabilities.join(", ")
            ));
        }
    }
    if !t.host_path_writes.is_empty() {
        out.push_str("\nhost paths node agents write (mounts of them, or of folders holding them, stay writable):\n");
        for entry in &t.host_path_writes {
            out.push_str(&format!("  {}: {}\n", entry.paths.join(", "), entry.why));
        }
    }
    // A new file is no edit of the input: the input, then the file, all of it added.
    let before = match t.new_file {
        true => {
            out.push_str("\nexample, for the input:\n");
            for line in t.example.before.lines() {
                out.push_str(&format!("  {line}\n"));
            }
            out.push_str("a new file beside it:\n");
            ""
        }
        false => {
            out.push_str("\nexample:\n");
            t.example.before.as_str()
        }
    };
    let diff = similar::TextDiff::from_lines(before, &t.example.after);
    for change in diff.iter_all_changes() {
        let sign = super::output::sign(change.tag());
        out.push_str(&format!("{sign} {}", change.value()));
    }
    if t.new_file {
        out.push_str(&format!(
            "\nleave it out: it writes a new file, which no annotation or comment suppresses; `skip: [{}]` in .kubeharden.yaml leaves it out (an opt-in transform runs only when named).\n",
            t.id
        ));
        return out;
    }
    out.push_str(&format!(
        "\nsuppress it: annotate the resource `{}: \"{}\"`, or comment `# kubeharden: ignore[{}]` on the field, the container's first line or the `kind:` line.\n",
        transform::SUPPRESSION_ANNOTATION,
        t.id,
        t.id
    ));
    out
}

fn wrap(text: &str, width: usize) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}
