//! Throughput of the whole `kubeharden fix --dry-run` pipeline against parsing alone, over every
//! manifest in `../shared/corpus` (or `$KUBEHARDEN_CORPUS`).
//!
//! `cargo bench --bench throughput` prints, single-threaded and on a rayon pool of the machine's
//! size, the median MB/s (1 MB = 10^6 bytes of input) over `$KUBEHARDEN_BENCH_REPS` repetitions
//! (15 by default) of:
//!
//! - parse-only: `granit_parser::Parser::new_from_str_with_options` with default options
//!   (comments on), every event iterated — the baseline;
//! - pipeline: `kubeharden::fix::fix_text` with every transform, plus the unified diff of each
//!   changed file, as `kubeharden fix --dry-run` builds it;
//!
//! and the ratio pipeline / parse-only; the target is a ratio of at least 0.5 on one core. A
//! single-threaded breakdown of the pipeline's stages follows. Files either measurement cannot
//! process (parse errors, Helm templates, non-UTF-8) are left out of both. Without the corpus
//! the bench says so and exits 0. Run without `--bench` (as `cargo test --benches` does), it
//! makes one quick pass as a smoke test.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use granit_parser::{Options, Parser};
use kubeharden::cli::{is_manifest_path, written_diff};
use kubeharden::fix::{ChangeDetail, FixError, fix_text};
use kubeharden::transform::{self, Settings, StreamReading};
use kubeharden::yaml::{self, Text};
use rayon::prelude::*;

/// One manifest, loaded before any timing.
struct Manifest {
    /// The file's path, for the diff headers.
    name: String,
    source: String,
}

/// The same stack size the command gives its worker threads.
const STACK_SIZE: usize = 16 << 20;

/// The target: the pipeline at no less than half the parse-only throughput on one core.
const TARGET_RATIO: f64 = 0.5;

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let reps: usize = if bench_mode {
        std::env::var("KUBEHARDEN_BENCH_REPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(15)
    } else {
        1
    };
    let corpus = std::env::var_os("KUBEHARDEN_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !corpus.is_dir() {
        println!(
            "throughput: corpus {} absent; nothing to measure",
            corpus.display()
        );
        return;
    }

    let settings = Settings::default();
    let (manifests, skipped) = load(&corpus, &settings);
    let bytes: usize = manifests.iter().map(|m| m.source.len()).sum();
    let changed: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| matches!(fix_text(&m.source, &settings, ChangeDetail::Listed), Ok(f) if f.output.is_some()))
        .collect();
    let changed_bytes: usize = changed.iter().map(|m| m.source.len()).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("corpus: {}", corpus.display());
    println!(
        "files: {} measured ({:.2} MB; {} changed by the fix, {:.2} MB, whose edited \
         documents verification parses again), {} skipped in both{}",
        manifests.len(),
        bytes as f64 / 1e6,
        changed.len(),
        changed_bytes as f64 / 1e6,
        skipped.iter().map(|(_, n)| n).sum::<usize>(),
        if skipped.is_empty() {
            String::new()
        } else {
            let reasons: Vec<String> = skipped
                .iter()
                .map(|(why, n)| format!("{n} {why}"))
                .collect();
            format!(" ({})", reasons.join(", "))
        }
    );
    // Wall-clock figures suffer from whatever else runs; the load average tells.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            l.split_whitespace()
                .next()
                .map(|l| format!(", load average {l}"))
        })
        .unwrap_or_default();
    println!(
        "machine: {cores} core{}{load}; {reps} repetition{}{}",
        if cores == 1 { "" } else { "s" },
        if reps == 1 { "" } else { "s" },
        if bench_mode {
            ""
        } else {
            " (smoke run; pass --bench for the real figures)"
        }
    );
    if manifests.is_empty() {
        println!("throughput: no manifest to measure");
        return;
    }

    let single = pool(1);
    let all = pool(cores);
    // Warm up caches, the allocator and the transforms' declarations (not for a smoke run).
    for pool in [&single, &all].into_iter().filter(|_| bench_mode) {
        pool.install(|| {
            parse_only(&manifests, true);
            pipeline(&manifests, &settings, true);
        });
    }

    let mut times = [(); 4].map(|_| Vec::with_capacity(reps));
    for _ in 0..reps {
        // Interleaved so that drift in the machine's speed hits every figure alike.
        times[0].push(single.install(|| timed(|| parse_only(&manifests, false))));
        times[1].push(single.install(|| timed(|| pipeline(&manifests, &settings, false))));
        times[2].push(all.install(|| timed(|| parse_only(&manifests, true))));
        times[3].push(all.install(|| timed(|| pipeline(&manifests, &settings, true))));
    }
    let mbps = |t: &mut Vec<Duration>| bytes as f64 / 1e6 / median(t).as_secs_f64();
    let [p1, f1, pn, fnn] = &mut times;
    let (p1, f1, pn, fnn) = (mbps(p1), mbps(f1), mbps(pn), mbps(fnn));
    println!();
    println!(
        "{:<22} {:>14} {:>14} {:>18}",
        "median MB/s", "parse-only", "pipeline", "pipeline/parse"
    );
    println!("{:<22} {p1:>14.1} {f1:>14.1} {:>18.2}", "1 thread", f1 / p1);
    println!(
        "{:<22} {pn:>14.1} {fnn:>14.1} {:>18.2}",
        format!("{cores} threads (rayon)"),
        fnn / pn
    );
    println!(
        "target: pipeline >= {TARGET_RATIO} x parse-only on one core: {} ({:.2})",
        if f1 / p1 >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        },
        f1 / p1
    );

    println!();
    stages(&manifests, &settings, &single, reps, bytes);
}

/// Every manifest below `corpus`, found as the command finds them, that both measurements can
/// process; and how many were skipped, by reason.
fn load(corpus: &Path, settings: &Settings) -> (Vec<Manifest>, Vec<(String, usize)>) {
    let walker = ignore::WalkBuilder::new(corpus)
        .hidden(false)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    let mut manifests = Vec::new();
    let mut skipped: Vec<(String, usize)> = Vec::new();
    let mut skip = |why: &str| match skipped.iter_mut().find(|(w, _)| w == why) {
        Some((_, n)) => *n += 1,
        None => skipped.push((why.to_owned(), 1)),
    };
    for entry in walker.flatten() {
        let path = entry.path();
        if !(entry.file_type().is_some_and(|t| t.is_file()) && is_manifest_path(path)) {
            continue;
        }
        let Ok(bytes) = std::fs::read(path) else {
            skip("unreadable");
            continue;
        };
        let Ok(source) = String::from_utf8(bytes) else {
            skip("not UTF-8");
            continue;
        };
        let parses = Parser::new_from_str_with_options(&source, Options::default())
            .all(|event| event.is_ok());
        match fix_text(&source, settings, ChangeDetail::Listed) {
            _ if !parses => skip("parse error"),
            Ok(_) => manifests.push(Manifest {
                name: path.to_string_lossy().into_owned(),
                source,
            }),
            Err(FixError::HelmTemplate(_)) => skip("Helm template"),
            Err(FixError::Parse(_)) => skip("refused by kubeharden's parse"),
            Err(e) => skip(&format!("fix error ({e})")),
        }
    }
    (manifests, skipped)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(STACK_SIZE)
        .build()
        .expect("a rayon pool")
}

fn timed(f: impl FnOnce() -> usize) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    }
}

/// Parses every manifest with default options, iterating every event; returns the event count.
fn parse_only(manifests: &[Manifest], parallel: bool) -> usize {
    let one = |m: &Manifest| {
        Parser::new_from_str_with_options(black_box(&m.source), Options::default())
            .map(|event| black_box(event).is_ok() as usize)
            .sum::<usize>()
    };
    if parallel {
        manifests.par_iter().map(one).sum()
    } else {
        manifests.iter().map(one).sum()
    }
}

/// Fixes every manifest and builds the diff of each changed one, as `fix --dry-run` does;
/// returns the bytes of diff.
fn pipeline(manifests: &[Manifest], settings: &Settings, parallel: bool) -> usize {
    let one = |m: &Manifest| match fix_text(black_box(&m.source), settings, ChangeDetail::Listed) {
        Ok(fixed) => match fixed.output {
            Some(new) => written_diff(&m.name, &m.source, &new).len(),
            None => 0,
        },
        Err(_) => 0,
    };
    if parallel {
        manifests.par_iter().map(one).sum()
    } else {
        manifests.iter().map(one).sum()
    }
}

/// Times each stage of the pipeline on one thread, over the whole corpus, and prints the
/// median time of each with its share of the pipeline.
fn stages(
    manifests: &[Manifest],
    settings: &Settings,
    single: &rayon::ThreadPool,
    reps: usize,
    bytes: usize,
) {
    const NAMES: [&str; 7] = [
        "line index (Text::new)",
        "parse + tree, comments",
        "plan transforms",
        "write: render + verify",
        "unified diff",
        "free the trees",
        "total of stages",
    ];
    let mut times = [(); 7].map(|_| Vec::with_capacity(reps));
    for _ in 0..reps {
        let mut t = [Duration::ZERO; 7];
        single.install(|| {
            for m in manifests {
                stage_times(m, settings, &mut t);
            }
        });
        t[6] = t[..6].iter().sum::<Duration>();
        for (all, one) in times.iter_mut().zip(t) {
            all.push(one);
        }
    }
    let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
    let total = medians[6].as_secs_f64();
    println!("stage breakdown, 1 thread, median over {reps} (ms, share, MB/s of the corpus):");
    for (name, t) in NAMES.iter().zip(&medians) {
        let s = t.as_secs_f64();
        println!(
            "  {name:<28} {:>9.2} ms {:>6.1}% {:>9.1} MB/s",
            s * 1e3,
            100.0 * s / total,
            bytes as f64 / 1e6 / s
        );
    }
}

/// Adds the time of each stage of fixing `m` to `t`, following `fix_text` (the Helm check,
/// a scan for `{{` on this corpus, is left out).
fn stage_times(m: &Manifest, settings: &Settings, t: &mut [Duration; 7]) {
    let mut clock = Instant::now();
    let mut lap = |slot: usize, t: &mut [Duration; 7]| {
        let now = Instant::now();
        t[slot] += now - clock;
        clock = now;
    };
    let text = Text::new(black_box(&m.source));
    lap(0, t);
    let Ok(stream) = yaml::parse(&text, true) else {
        return;
    };
    lap(1, t);
    let reading = StreamReading::of(&text, &stream);
    let mut intended = Vec::with_capacity(stream.documents.len());
    let mut changes = 0;
    for (document, root) in stream.documents.iter().enumerate() {
        let plan = transform::plan(
            settings,
            &text,
            root,
            &stream.anchor_names,
            document,
            &reading,
        );
        changes += plan.changes.len();
        intended.push(plan.intended);
    }
    lap(2, t);
    if changes > 0 {
        let output = yaml::write(&text, &stream, &intended).expect("the fix verified");
        lap(3, t);
        black_box(written_diff(&m.name, &m.source, &output));
        lap(4, t);
    }
    drop(intended);
    drop(stream);
    lap(5, t);
}
