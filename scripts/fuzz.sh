#!/usr/bin/env bash
# Fuzzes kubeharden for SECONDS in all (default 90), split evenly over the targets of
# examples/fuzz/targets.rs: `parse` (parser and line index on any bytes; a stream read in
# pieces reads as it does whole), `edit` (random edits rendered and verified by yaml::write,
# read back), `verify` (rendered edits, or the intended document, mangled at random, then
# checked: what the check accepts reads back as intended) and `fix` (a whole input in two
# profiles: output parses, the diff made a document at a time is the output's, a second run
# changes nothing). The fuzzer (examples/fuzz/main.rs) runs on stable Rust, mutating the
# manifests of ../shared/corpus (or $KUBEHARDEN_CORPUS; the golden cases when it is absent).
# An input over 10 s is a hang; `ulimit -v` caps memory at $FUZZ_MEMORY_KB (default 4 GiB). Failing inputs are saved under $FUZZ_OUT (default
# target/fuzz); each belongs in tests/fuzz-regressions/ with its fix. $FUZZ_SEED (default 1,
# so that CI replays the same inputs) picks the run; set it to explore others
# (`FUZZ_SEED=$RANDOM`). Exits 1 when any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-90}"
seeds="${KUBEHARDEN_CORPUS:-../shared/corpus}"
[ -d "$seeds" ] || seeds=golden
target="${CARGO_TARGET_DIR:-target}"
out="${FUZZ_OUT:-$target/fuzz}"
seed="${FUZZ_SEED:-1}"
cargo build --quiet --locked --example fuzz
targets=(parse edit verify fix)
each=$((seconds / ${#targets[@]}))
echo "fuzz: ${#targets[@]} targets, $each s each, seeds from $seeds, FUZZ_SEED=$seed"
ulimit -v "${FUZZ_MEMORY_KB:-4194304}"
failed=0
for name in "${targets[@]}"; do
  "$target/debug/examples/fuzz" "$name" "$each" "$seeds" "$out/$name" "$seed" || failed=1
done
if [ "$failed" = 1 ]; then
  echo "fuzz: failures; the inputs are under $out (replay: FUZZ_SEED=$seed bash scripts/fuzz.sh $seconds)"
fi
exit "$failed"
