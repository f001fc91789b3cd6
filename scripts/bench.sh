#!/usr/bin/env bash
# Where kubeharden stands against its floor, whole processes (issue 16): `kubeharden fix
# --dry-run` against `parse_floor` (examples/parse_floor.rs: the same files found, read and only
# parsed with granit-parser, events and comments on), both built with the release profile (LTO,
# as issue 16 measured its floor), page cache warm. Prints one table: median wall time of $RUNS
# rounds (default 5; each round runs the floor and fix in turn) on one core (`taskset -c 0`) and
# on all cores, the ratio fix / floor, the two-core speed-up, and peak memory (max RSS). Wall
# time is read to the microsecond (`/usr/bin/time` gives 10 ms: 7 % of the corpus's floor). The
# ratios and the speed-up are the median of each round's own, floor and fix of the same round:
# a shared machine's speed drifts by 10-20 % from round to round, alike for the two.
#
# Inputs, generated into $BENCH_DIR (default $TMPDIR/kubeharden-bench, outside the repository), from
# ../shared/corpus (or $KUBEHARDEN_CORPUS):
#   corpus       the corpus as it is;
#   stream       one multi-document stream of ~$STREAM_MB MB (default 50): the corpus files that
#                parse alone and carry no directive, `{{` or byte order mark, concatenated as
#                documents, repeated;
#   tree         $TREE_FILES (default 14000) files: copies of the corpus;
#   args-pod     one Pod whose container has $ARGS_ITEMS (default 1000000) `args` items, against
#   args-docs    the same items as Pods of 100 args each, one document each;
#   list         a `kind: List` of $LIST_ITEMS (default 32000) Deployments, against
#   list-docs    the same Deployments as documents.
# KUBEHARDEN_BIN=PATH measures another build of kubeharden (an older one, for a before/after
# table over the same inputs); BENCH_CLOCK=cpu reports user + system CPU seconds instead of
# wall time, steadier on a machine others are using; BENCH_INPUTS names the inputs to measure.
# BENCH_INSTRUCTIONS=1 adds a second table when valgrind is installed: the instructions the floor
# and fix execute on one core (cachegrind, whole process) and their ratio. It moves by under
# 0.1 % from run to run where wall time moves by 10-20 %, so it shows a change of a few percent
# that the timings cannot; the targets stay in wall time. It takes about 50 times as long.
# `cargo bench --bench throughput` measures the corpus in process, stage by stage.
# Nothing here runs in the tests or in .ci/run: it only times. Without the corpus it says so.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus="${KUBEHARDEN_CORPUS:-../shared/corpus}"
runs="${RUNS:-5}"
stream_mb="${STREAM_MB:-50}"
tree_files="${TREE_FILES:-14000}"
args_items="${ARGS_ITEMS:-1000000}"
list_items="${LIST_ITEMS:-32000}"
target="${CARGO_TARGET_DIR:-target}"
inputs="${BENCH_INPUTS:-corpus stream.yaml tree args-pod.yaml args-docs.yaml list.yaml list-docs.yaml}"
# Outside the repository: a walk inside git skips what git ignores, `target/` among it.
dir="${BENCH_DIR:-${TMPDIR:-/tmp}/kubeharden-bench}"
if [ ! -d "$corpus" ]; then
  echo "bench: corpus $corpus absent; nothing to measure"
  exit 0
fi
corpus="$(cd "$corpus" && pwd)"

cargo build --release --quiet --bin kubeharden --example parse_floor
bin="${KUBEHARDEN_BIN:-$(cd "$target/release" && pwd)/kubeharden}"
floor="$(cd "$target/release/examples" && pwd)/parse_floor"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# --- inputs (made once; delete $BENCH_DIR to make them again) --------------------------------
if [ ! -d "$dir/corpus" ]; then
  cp -R "$corpus" "$dir/corpus.tmp" && mv "$dir/corpus.tmp" "$dir/corpus"
fi
if [ ! -f "$dir/stream.yaml" ]; then
  : >"$dir/stream.part"
  find "$dir/corpus" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0 |
    sort -z | while IFS= read -r -d '' f; do
      if ! grep -q -e '{{' -e '^%' "$f" && [ "$(head -c 3 "$f")" != $'\xef\xbb\xbf' ] &&
        "$floor" "$f" >/dev/null 2>&1; then
        # Each file becomes documents of the stream, ending with a line break.
        {
          [ "$(head -c 3 "$f")" = --- ] || echo ---
          cat "$f"
          if [ -n "$(tail -c 1 "$f")" ]; then echo; fi
        } >>"$dir/stream.part"
      fi
    done
  while [ "$(stat -c %s "$dir/stream.part")" -lt $((stream_mb * 1000000)) ]; do
    cat "$dir/stream.part" "$dir/stream.part" >"$dir/stream.twice" && mv "$dir/stream.twice" "$dir/stream.part"
  done
  head -c $((stream_mb * 1000000)) "$dir/stream.part" | sed '$d' >"$dir/stream.cut"
  # Cut at the last document start, so that the stream ends with whole documents.
  last=$(grep -n '^---' "$dir/stream.cut" | tail -n 1 | cut -d: -f1)
  head -n $((last - 1)) "$dir/stream.cut" >"$dir/stream.yaml"
  rm -f "$dir/stream.part" "$dir/stream.cut"
  "$floor" "$dir/stream.yaml" >/dev/null
fi
if [ ! -d "$dir/tree" ]; then
  mkdir -p "$dir/tree.tmp"
  manifests=$(find "$dir/corpus" -type f \( -iname '*.yaml' -o -iname '*.yml' -o -iname '*.json' \) | wc -l)
  copies=$(((tree_files + manifests - 1) / manifests))
  for ((i = 0; i < copies; i++)); do cp -R "$dir/corpus" "$dir/tree.tmp/copy$i"; done
  mv "$dir/tree.tmp" "$dir/tree"
fi
pod_head='apiVersion: v1
kind: Pod
metadata:
  name: many-args-%d
spec:
  containers:
    - name: app
      image: registry.example.com/app:1.0
      args:
'
if [ ! -f "$dir/args-pod.yaml" ]; then
  awk -v n="$args_items" -v head="$pod_head" 'BEGIN {
    printf head, 0; for (i = 0; i < n; i++) printf "        - --flag-%d=value\n", i }' >"$dir/args-pod.yaml"
  awk -v n="$args_items" -v head="$pod_head" 'BEGIN {
    for (i = 0; i < n; i++) {
      if (i % 100 == 0) { if (i) print "---"; printf head, i / 100 }
      printf "        - --flag-%d=value\n", i } }' >"$dir/args-docs.yaml"
fi
deployment() { # indent prefix-of-first-line
  awk -v n="$list_items" -v pad="$1" -v first="$2" -v sep="$3" 'BEGIN {
    for (i = 0; i < n; i++) {
      if (i && sep) print sep
      printf "%sapiVersion: apps/v1\n", first
      printf "%skind: Deployment\n%smetadata:\n%s  name: web-%d\n%sspec:\n", pad, pad, pad, i, pad
      printf "%s  replicas: 2\n%s  selector:\n%s    matchLabels:\n%s      app: web-%d\n", pad, pad, pad, pad, i
      printf "%s  template:\n%s    metadata:\n%s      labels:\n%s        app: web-%d\n", pad, pad, pad, pad, i
      printf "%s    spec:\n%s      containers:\n%s        - name: web\n", pad, pad, pad
      printf "%s          image: nginx:1.27\n%s          ports:\n%s            - containerPort: 80\n", pad, pad, pad
    } }'
}
if [ ! -f "$dir/list.yaml" ]; then
  { printf 'apiVersion: v1\nkind: List\nitems:\n'; deployment '    ' '  - ' ''; } >"$dir/list.yaml"
  deployment '' '' '---' >"$dir/list-docs.yaml"
fi

# --- timing ------------------------------------------------------------------------------------
# `fix --dry-run` exits 1 when it finds changes: not a failure here.
run_fix() { "$bin" fix --dry-run --color never "$@" >/dev/null 2>&1 || [ $? -eq 1 ]; }
run_floor() { "$floor" "$@" >/dev/null; }
cores=$(nproc)
if [ "${BENCH_CLOCK:-wall}" = cpu ]; then time_format='%U+%S %M'; else time_format='%e %M'; fi
all_cpus="0-$((cores - 1))"
# The four runs of a row, in this order: the floor and fix on one core, then on all cores.
row_runs=("0 run_floor" "0 run_fix" "$all_cpus run_floor" "$all_cpus run_fix")
# Prints, for each of the row's runs over $1, "median-seconds max-rss-kB" of $runs rounds after
# a warm-up. Each round takes the four runs in turn, so that a machine whose speed drifts during
# the row (a shared one does, by 10-20%) slows the floor and fix alike, and their ratio holds.
measure_row() { # path
  local path=$1 i k cpus command start
  for ((i = 0; i <= runs; i++)); do
    for k in "${!row_runs[@]}"; do
      read -r cpus command <<<"${row_runs[$k]}"
      start=$EPOCHREALTIME
      /usr/bin/time -f "$time_format" -o "$dir/time.out" taskset -c "$cpus" \
        bash -c "$(declare -f run_fix run_floor); bin='$bin' floor='$floor'; $command '$path'"
      # Round 0 is the warm-up.
      if [ "$i" -gt 0 ]; then
        tail -n 1 "$dir/time.out" | awk -v i="$i" -v k="$k" -v start="$start" -v end="$EPOCHREALTIME" \
          '{ n = split($1, t, "+"); print i, k, (n == 1 ? end - start : t[1] + t[2]), $2 }'
      fi
    done
  done | awk '
    # The median of v[1..c], sorted in place (a few dozen rounds at most).
    function median(v, c,   i, j, x) {
      for (i = 2; i <= c; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
      return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2 }
    { t[$1, $2] = $3; if ($4 > m[$2]) m[$2] = $4; rounds = $1 }
    END {
      for (k = 0; k < 4; k++) { for (i = 1; i <= rounds; i++) v[i] = t[i, k]; printf "%.6f %d\n", median(v, rounds), m[k] }
      # Within each round: fix / floor on one core, on all cores, and fix on one core / on all.
      split("1 0 3 2 1 3", pair, " ")
      for (p = 1; p <= 5; p += 2) {
        for (i = 1; i <= rounds; i++) v[i] = t[i, pair[p]] / t[i, pair[p + 1]]
        printf "%.6f ", median(v, rounds) }
      printf "\n" }'
}

manifests_in() { find "$1" -type f \( -iname '*.yaml' -o -iname '*.yml' -o -iname '*.json' \) "${@:2}"; }
echo "${KUBEHARDEN_BIN:-kubeharden $(git rev-parse --short HEAD 2>/dev/null || echo '?')}, $cores cores, load $(cut -d' ' -f1 /proc/loadavg), median ${BENCH_CLOCK:-wall} time of $runs rounds, floor and fix in turn"
printf '%-10s %8s %7s | %10s %10s %6s | %10s %10s %6s | %7s | %9s %9s\n' \
  input MB files floor-1c fix-1c ratio "floor-${cores}c" "fix-${cores}c" ratio speedup "floor-RSS" "fix-RSS"
row() { # name path
  local name=$1 path=$2 files f1 x1 fa xa r1 ra speedup
  files=$(manifests_in "$path" | wc -l)
  { read -r f1 _ && read -r x1 _ && read -r fa frss && read -r xa xrss && read -r r1 ra speedup; } < <(measure_row "$path")
  awk -v n="$name" -v b="$(manifests_in "$path" -printf '%s\n' | awk '{ s += $1 } END { print s }')" -v files="$files" -v f1="$f1" -v x1="$x1" -v fa="$fa" \
    -v xa="$xa" -v fr="$frss" -v xr="$xrss" -v r1="$r1" -v ra="$ra" -v speedup="$speedup" \
    'BEGIN { printf "%-10s %8.1f %7d | %8.3fs %8.3fs %5.2fx | %8.3fs %8.3fs %5.2fx | %6.2fx | %7.0fMB %7.0fMB\n",
      n, b / 1e6, files, f1, x1, r1, fa, xa, ra, speedup, fr / 1024, xr / 1024 }'
}
for input in $inputs; do
  row "${input%.yaml}" "$dir/$input"
done
echo "ratio: fix / floor, the median of the rounds' own (targets: <= 2.0x on one core for corpus and stream);"
echo "speedup: fix on one core / on all cores, likewise (target >= 1.7x on two cores, wall time only);"
echo "RSS: peak resident memory of the process (target for stream: <= 3x its size)"

# --- instructions ------------------------------------------------------------------------------
if [ "${BENCH_INSTRUCTIONS:-0}" = 1 ]; then
  if ! command -v valgrind >/dev/null; then
    echo "instructions: valgrind is not installed; no instruction counts"
    exit 0
  fi
  # The instructions the command executes on one core, whatever it prints or exits with.
  instructions() { # command...
    taskset -c 0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" \
      2>&1 >/dev/null | awk '/^==[0-9]+== I +refs:/ { gsub(",", "", $NF); print $NF }'
  }
  echo
  printf '%-10s | %15s %15s %6s\n' input floor-instr fix-instr ratio
  for input in $inputs; do
    awk -v n="${input%.yaml}" -v f="$(instructions "$floor" "$dir/$input")" \
      -v x="$(instructions "$bin" fix --dry-run --color never "$dir/$input")" \
      'BEGIN { printf "%-10s | %15.0f %15.0f %5.2fx\n", n, f, x, x / f }'
  done
  echo "instructions: executed by the whole process on one core (valgrind's cachegrind), deterministic"
fi
