//! A mutation fuzzer that runs on stable Rust (cargo-fuzz and libFuzzer need nightly):
//! `cargo run --example fuzz -- TARGET SECONDS SEEDS OUT [SEED]` (see `scripts/fuzz.sh`), or
//! `-- replay TARGET FILE SEED` to run one saved input again (the seed its failure printed).
//!
//! It feeds the target (`parse`, `edit`, `verify` or `fix`, see `targets.rs`) the manifests
//! below SEEDS (files up to 64 KiB), mutated: bytes flipped, inserted, deleted; YAML tokens
//! (`: `, `- `, `{`, `&a`, `*a`, `!!str`, quotes, tabs, CRLF, `---`, `...`, `|`) inserted;
//! lines doubled, moved, re-indented; pieces of other seeds spliced in; and inputs made of
//! random tokens alone. There is no coverage feedback: the seeds carry the structure. Each input is written
//! to OUT/current before it runs, so that whatever kills the process (a hang the watchdog
//! ends after 10 s, memory beyond `ulimit -v`) leaves it behind; an input that fails an
//! invariant or panics is saved as OUT/TARGET-N.yaml and the run goes on. Exits 1 when
//! anything failed, 3 on a hang.

mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kubeharden::cli::is_manifest_path;
use targets::{Random, TARGETS};

/// Seeds larger than this are left out: they make slow inputs without new shapes.
const MAX_SEED: usize = 64 << 10;
/// How long one input may run before it counts as a hang.
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Pieces of YAML syntax that mutations insert.
const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "-",
    ":",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!t ",
    "'",
    "\"",
    "#",
    " # c",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "---\n",
    "...\n",
    "|\n",
    ">-\n",
    "|2\n",
    "%YAML 1.2\n",
    "\u{feff}",
    "\\",
    "null",
    "~",
    "\"\\u00e9\"",
    "  ",
    "{{ .Values.x }}",
    "securityContext:",
    "containers:",
    "privileged: true",
    "hostNetwork: true",
    "kind: Pod\n",
    "apiVersion: v1\n",
    "spec:\n",
    "  - name: a\n    image: nginx\n",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [replay, target, input, seed] = args.as_slice()
        && replay == "replay"
    {
        // `fuzz replay TARGET FILE SEED`: one saved input again, with the seed printed.
        let target = TARGETS.iter().find(|t| t.name == target).expect("a target");
        let input = std::fs::read(input).expect("a readable input");
        let result = (target.run)(&input, seed.parse().expect("SEED is a number"));
        println!("{result:?}");
        std::process::exit(i32::from(result.is_err()));
    }
    let [target, seconds, seeds, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: fuzz TARGET SECONDS SEEDS OUT [SEED] | fuzz replay TARGET FILE SEED");
        std::process::exit(2);
    };
    let Some(target) = TARGETS.iter().find(|t| t.name == target) else {
        eprintln!("fuzz: unknown target {target}");
        std::process::exit(2);
    };
    let seconds: u64 = seconds.parse().expect("SECONDS is a number");
    let mut random = Random(rest.first().map_or(0x9E37_79B9_7F4A_7C15, |s| {
        s.parse::<u64>().expect("SEED is a number") | 1
    }));
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).expect("OUT can be created");
    let mut seeds_found = Vec::new();
    collect_seeds(Path::new(seeds), &mut seeds_found);
    if seeds_found.is_empty() {
        seeds_found
            .push(b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n".to_vec());
    }

    // The watchdog: the time the current input started, in ms since `epoch` (0: none running).
    let epoch = Instant::now();
    let started = Arc::new(AtomicU64::new(0));
    let watched = Arc::clone(&started);
    let current = out.join("current");
    let current_shown = current.display().to_string();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let since = watched.load(Ordering::Relaxed);
            let now = epoch.elapsed().as_millis() as u64;
            if since != 0 && now - since > TIME_LIMIT.as_millis() as u64 {
                eprintln!("fuzz: an input ran over {TIME_LIMIT:?}: {current_shown}");
                std::process::exit(3);
            }
        }
    });
    // Panics are failures the loop reports; the default hook's message would repeat it.
    std::panic::set_hook(Box::new(|_| {}));

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut failures) = (0u64, 0usize);
    while Instant::now() < deadline {
        let input = mutate(&seeds_found, &mut random);
        std::fs::write(&current, &input).expect("OUT/current can be written");
        let seed = random.next();
        started.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        let result = catch_unwind(AssertUnwindSafe(|| (target.run)(&input, seed)));
        started.store(0, Ordering::Relaxed);
        runs += 1;
        let failure = match result {
            Ok(Ok(())) => continue,
            Ok(Err(reason)) => reason,
            Err(panic) => format!(
                "panic: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("?")
            ),
        };
        failures += 1;
        let saved = out.join(format!("{}-{failures}.yaml", target.name));
        std::fs::write(&saved, &input).expect("OUT can be written");
        eprintln!(
            "fuzz {}: {} (seed {seed}): {failure}",
            target.name,
            saved.display()
        );
    }
    let _ = std::fs::remove_file(&current);
    println!(
        "fuzz {}: {runs} inputs in {seconds} s from {} seeds, {failures} failed",
        target.name,
        seeds_found.len()
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

/// The manifests below `path` up to [`MAX_SEED`] bytes, in path order.
fn collect_seeds(path: &Path, seeds: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(path) else {
        if let Ok(bytes) = std::fs::read(path) {
            seeds.extend((bytes.len() <= MAX_SEED).then_some(bytes));
        }
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() || is_manifest_path(&path) {
            collect_seeds(&path, seeds);
        }
    }
}

/// A seed with one to eight mutations, or (one time in sixteen) random tokens alone.
fn mutate(seeds: &[Vec<u8>], random: &mut Random) -> Vec<u8> {
    if random.below(16) == 0 {
        return (0..random.below(64))
            .flat_map(|_| TOKENS[random.below(TOKENS.len())].bytes())
            .collect();
    }
    let mut input = seeds[random.below(seeds.len())].clone();
    for _ in 0..=random.below(8) {
        let at = random.below(input.len() + 1);
        match random.below(8) {
            0 if at < input.len() => input[at] ^= 1 << random.below(8),
            1 => input.insert(at, random.next() as u8),
            2 if at < input.len() => {
                let end = (at + random.below(16) + 1).min(input.len());
                input.drain(at..end);
            }
            3 | 4 => {
                let token = TOKENS[random.below(TOKENS.len())].bytes();
                input.splice(at..at, token);
            }
            5 => {
                // A line doubled, or moved to another place.
                let (start, end) = line_around(&input, at);
                let line = input[start..end].to_vec();
                if random.below(2) == 0 {
                    input.drain(start..end);
                }
                let to = line_around(&input, random.below(input.len() + 1)).0;
                input.splice(to..to, line);
            }
            6 => {
                // A line re-indented by one or two columns either way.
                let start = line_around(&input, at).0;
                if random.below(2) == 0 {
                    input.splice(start..start, b"  "[..1 + random.below(2)].iter().copied());
                } else if input.get(start) == Some(&b' ') {
                    input.remove(start);
                }
            }
            _ => {
                // A piece of another seed.
                let other = &seeds[random.below(seeds.len())];
                let from = random.below(other.len() + 1);
                let to = (from + random.below(256)).min(other.len());
                input.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    input
}

/// The line (its break included) holding byte `at`.
fn line_around(input: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(input.len());
    let start = input[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = input[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(input.len(), |i| at + i + 1);
    (start, end)
}
