//! The parse-only floor that `scripts/bench.sh` measures `kubeharden fix --dry-run` against: a
//! whole process that finds and reads the same files and only parses them with granit-parser
//! (every event, comments on), built with the same profile (release, with LTO, as issue 16
//! measured its floor).
//!
//! `cargo run --release --example parse_floor -- PATH...`: a PATH is a file, `-` (standard
//! input) or a folder, walked for `.yaml`, `.yml` and `.json` files (any case) like `fix`
//! walks one outside git. Prints the number of files, bytes and events; exits 1 when a file
//! does not read or parse (the bench uses that to keep such files out of the inputs it makes).

use std::io::Read;
use std::process::ExitCode;

use granit_parser::{Options, Parser};
use kubeharden::cli::is_manifest_path;

fn main() -> ExitCode {
    let (mut files, mut bytes, mut events, mut failures) = (0usize, 0usize, 0usize, 0usize);
    let mut parse = |name: &str, source: std::io::Result<Vec<u8>>| {
        files += 1;
        let parsed = source.ok().and_then(|source| {
            bytes += source.len();
            let source = String::from_utf8(source).ok()?;
            let mut options = Options::default();
            options.set_emit_comments(true);
            Parser::new_from_str_with_options(&source, options)
                .try_fold(0usize, |n, event| event.map(|_| n + 1))
                .ok()
        });
        match parsed {
            Some(n) => events += n,
            None => {
                failures += 1;
                eprintln!("parse_floor: {name} does not read or parse");
            }
        }
    };
    for arg in std::env::args().skip(1) {
        if arg == "-" {
            let mut source = Vec::new();
            let read = std::io::stdin().read_to_end(&mut source).map(|_| source);
            parse("-", read);
            continue;
        }
        let walker = ignore::WalkBuilder::new(&arg)
            .hidden(false)
            .require_git(false)
            // As `fix` walks: the entries of a folder compared by their paths' bytes.
            .sort_by_file_path(|a, b| a.as_os_str().cmp(b.as_os_str()))
            .build();
        for entry in walker.flatten() {
            let path = entry.path();
            if entry.file_type().is_some_and(|t| t.is_file()) && is_manifest_path(path) {
                parse(&path.to_string_lossy(), std::fs::read(path));
            }
        }
    }
    println!("{files} files, {bytes} bytes, {events} events");
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
