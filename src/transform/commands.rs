//! Reading a container's `command` and `args` before changing what they use: the commands they
//! run (`chown` inside `sh -c "…"`), the variables a shell there reads (`$NAME`, `${NAME}`).

use crate::k8s::Container;
use crate::yaml::Node;

use super::knowledge::CommandNeeds;
use super::planner::Planner;

/// The strings of the container's `command` and `args`, in order.
pub(super) fn command_strings(p: &Planner<'_, '_>, container: &Container) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|field| {
            p.read_at(&container.path, field)
                .and_then(Node::items)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The simple commands of `strings` as words: each string is split where a shell starts a new
/// command (`;`, `&&`, `|`, newlines, `$(`, backquotes, parentheses, braces) and then into
/// words, without quotes. Each item of a list is a word of one command line, so a word with no
/// shell around it (`command: [chown, -R, …]`) is read the same way.
pub(super) fn simple_commands(strings: &[String]) -> Vec<Vec<String>> {
    let line = strings.join(" ");
    line.split([';', '&', '|', '\n', '(', ')', '`', '{', '}'])
        .map(|command| {
            command
                .split_whitespace()
                .map(|w| {
                    w.trim_matches(|c| matches!(c, '"' | '\'' | '\\'))
                        .to_owned()
                })
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

/// The entries of `needs` that `commands` meet, each with the command that needs it.
pub(super) fn needs_met<'n>(
    commands: &[Vec<String>],
    needs: &'n [CommandNeeds],
) -> Vec<(&'n CommandNeeds, String)> {
    let mut met = Vec::new();
    for need in needs {
        let found = commands.iter().find_map(|words| {
            let at = words.iter().position(|w| {
                let name = w.rsplit('/').next().unwrap_or(w);
                need.commands.iter().any(|c| c == name)
            })?;
            let with_option = need.with_options.is_empty()
                || words[at + 1..]
                    .iter()
                    .any(|w| need.with_options.iter().any(|o| w.starts_with(o.as_str())));
            with_option.then(|| words[at..].join(" "))
        });
        if let Some(command) = found {
            met.push((need, command));
        }
    }
    met
}

/// The variables a shell reads in `text` (`$NAME`, `${NAME}`, `${NAME:-default}`, `${#NAME}`…),
/// each with the form it was written in. `$(NAME)` is Kubernetes' own expansion, not one of
/// them; `$$NAME` is, since Kubernetes turns `$$` into the `$` the shell reads.
pub(super) fn shell_variables(text: &str) -> Vec<(&str, &str)> {
    let bytes = text.as_bytes();
    let name_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let name_end = |from: usize| {
        (from..bytes.len())
            .find(|&i| !(bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_'))
            .unwrap_or(bytes.len())
    };
    let mut found = Vec::new();
    for (at, _) in text.match_indices('$') {
        match bytes.get(at + 1) {
            Some(b'{') => {
                let mut start = at + 2;
                if matches!(bytes.get(start), Some(b'#' | b'!')) {
                    start += 1;
                }
                if bytes.get(start).is_some_and(|&b| name_start(b)) {
                    let end = name_end(start);
                    let close = text[end..].find('}').map_or(end, |i| end + i + 1);
                    found.push((&text[start..end], &text[at..close]));
                }
            }
            Some(&b) if name_start(b) => {
                let end = name_end(at + 1);
                found.push((&text[at + 1..end], &text[at..end]));
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{shell_variables, simple_commands};

    #[test]
    fn shell_variables_are_found_in_every_form_but_kubernetes_expansions() {
        let found = shell_variables(
            "psql -p \"$DB_PASSWORD\" ${USER} ${HOST:-db} ${#LEN} $(KUBE) $$ESCAPED $1 $? ${9}",
        );
        assert_eq!(
            found,
            [
                ("DB_PASSWORD", "$DB_PASSWORD"),
                ("USER", "${USER}"),
                ("HOST", "${HOST:-db}"),
                ("LEN", "${#LEN}"),
                ("ESCAPED", "$ESCAPED"),
            ]
        );
    }

    #[test]
    fn simple_commands_split_where_a_shell_starts_a_command() {
        let strings = [
            "sh".to_owned(),
            "-c".to_owned(),
            "mkdir -p /data && chown -R 999:999 '/data'; echo $(id -u)".to_owned(),
        ];
        let commands = simple_commands(&strings);
        assert_eq!(
            commands,
            [
                vec!["sh", "-c", "mkdir", "-p", "/data"],
                vec!["chown", "-R", "999:999", "/data"],
                vec!["echo", "$"],
                vec!["id", "-u"],
            ]
        );
    }
}
