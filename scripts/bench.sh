#!/usr/bin/env bash
# Throughput benchmarks over ../shared/corpus (or $KUBEHARDEN_CORPUS):
#   1. `cargo bench --bench throughput`: in-process, parse-only vs the whole fix pipeline,
#      one thread and all cores (see benches/throughput.rs);
#   2. the real binary end to end: `kubeharden fix --dry-run` on a copy of the corpus against a
#      baseline of `cat`ing the same files, median wall time of $RUNS runs (default 15), with
#      hyperfine when installed, else a loop timed with `date +%s.%N`.
# Without the corpus it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus="${KUBEHARDEN_CORPUS:-../shared/corpus}"
runs="${RUNS:-15}"
if [ ! -d "$corpus" ]; then
  echo "bench: corpus $corpus absent; nothing to measure"
  exit 0
fi

echo "== cargo bench --bench throughput"
KUBEHARDEN_CORPUS="$(cd "$corpus" && pwd)" cargo bench --bench throughput

echo
echo "== end to end: kubeharden fix --dry-run vs cat, median of $runs runs"
cargo build --release --quiet
bin="$PWD/target/release/kubeharden"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$corpus" "$work/corpus"
# The files the command reads: every .yaml, .yml and .json below the copy.
find "$work/corpus" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0 |
  sort -z >"$work/files"
files=$(tr -cd '\0' <"$work/files" | wc -c)
bytes=$(xargs -0 cat <"$work/files" | wc -c)
echo "files: $files ($(awk -v b="$bytes" 'BEGIN { printf "%.2f MB", b / 1e6 }')), cores: $(nproc)"

# Exit code 1 (changes found) is what a dry run of this corpus returns; it is not a failure.
cat_cmd="xargs -0 cat <'$work/files' >/dev/null"
fix_cmd="cd '$work' && '$bin' fix --dry-run --color never corpus >/dev/null 2>&1 || [ \$? -eq 1 ]"

report() { # name seconds
  awk -v n="$1" -v s="$2" -v b="$bytes" \
    'BEGIN { printf "  %-26s median %8.1f ms %9.1f MB/s\n", n, s * 1e3, b / 1e6 / s }'
}

if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --style basic --warmup 2 --runs "$runs" --export-csv "$work/times.csv" \
    -n "cat (baseline)" "$cat_cmd" -n "kubeharden fix --dry-run" "$fix_cmd" >/dev/null
  # Columns: command,mean,stddev,median,user,system,min,max.
  tail -n +2 "$work/times.csv" | while IFS=, read -r name _ _ median _; do
    report "$name" "$median"
  done
  cat_s=$(awk -F, 'NR == 2 { print $4 }' "$work/times.csv")
  fix_s=$(awk -F, 'NR == 3 { print $4 }' "$work/times.csv")
else
  echo "  (hyperfine not installed: timing a loop with date +%s.%N)"
  median_of() { # command -> median seconds over $runs runs, after 2 warm-up runs
    local i start end
    for i in 1 2; do bash -c "$1"; done
    for ((i = 0; i < runs; i++)); do
      start=$(date +%s.%N)
      bash -c "$1"
      end=$(date +%s.%N)
      awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }'
    done | sort -g | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'
  }
  cat_s=$(median_of "$cat_cmd")
  fix_s=$(median_of "$fix_cmd")
  report "cat (baseline)" "$cat_s"
  report "kubeharden fix --dry-run" "$fix_s"
fi
awk -v c="$cat_s" -v f="$fix_s" 'BEGIN { printf "  fix --dry-run takes %.1fx the time of cat\n", f / c }'
