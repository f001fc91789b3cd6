#!/usr/bin/env bash
# Checkov on the rendered output of the fixed shared charts (issue #12); run by .ci/run after
# scripts/validate-corpus.sh, whose virtualenv (target/pyenv) holds the pinned checkov.
#
# Each chart of ../shared/charts (or $KUBEHARDEN_CHARTS) is copied, fixed in place with
# `kubeharden fix --report`, rendered with `helm template`, and checked by checkov
# (CKV_K8S_16, 17, 18, 19, 20, 22, 28 and 37). A workload that fails one of them must have a
# reason in kubeharden's report: a warning (the change could not be mapped into the chart), a
# skip or a suppression of the transform that owns the check. Fails listing every failure
# without one; prints, per chart, the failures before and after the fix and those excused.
#
# Environment: KUBEHARDEN_CHARTS (the charts), KUBEHARDEN_HELM (else helm on PATH),
# CARGO_TARGET_DIR (where `cargo build` puts kubeharden).
set -euo pipefail
cd "$(dirname "$0")/.."

charts="${KUBEHARDEN_CHARTS:-../shared/charts}"
if [ ! -d "$charts" ]; then
  echo "validate-charts: $charts absent; skipped"
  exit 0
fi
checkov="$PWD/target/pyenv/bin/checkov"
if [ ! -x "$checkov" ]; then
  echo "validate-charts: no checkov in target/pyenv; run scripts/validate-corpus.sh first" >&2
  exit 1
fi
helm="${KUBEHARDEN_HELM:-$(command -v helm || true)}"
if [ -z "$helm" ]; then
  echo "validate-charts: helm not found; run scripts/install-tools.sh" >&2
  exit 1
fi
CHECKS="CKV_K8S_16,CKV_K8S_17,CKV_K8S_18,CKV_K8S_19,CKV_K8S_20,CKV_K8S_22,CKV_K8S_28,CKV_K8S_37"

cargo build --locked --quiet --bins --tests
built="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/kubeharden"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$built" "$work/kubeharden"

# checkov_tree FOLDER: checkov's JSON on the rendered manifests in FOLDER, into FOLDER.json.
checkov_tree() {
  # --skip-download and the two variables keep checkov off the network.
  BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
    "$checkov" --framework kubernetes -d "$1" -c "$CHECKS" -o json --skip-download \
    >"$1.json" 2>"$1.stderr" && return 0
  local rc=$?
  [ "$rc" -eq 1 ] # exit code 1: some check failed, which is expected
}

for chart in "$charts"/*/; do
  name="$(basename "$chart")"
  [ -f "$chart/Chart.yaml" ] || continue
  cp -R "$chart" "$work/$name"
  chmod -R u+w "$work/$name"
  mkdir "$work/$name.before" "$work/$name.after"
  # helm's warnings (a deprecated chart) go to a file: the rendering is what counts.
  "$helm" template kubeharden "$work/$name" >"$work/$name.before/rendered.yaml" 2>>"$work/helm.stderr"
  rc=0
  (cd "$work" && ./kubeharden fix --color never --report "$name.report.json" "$name") \
    2>"$work/$name.stderr" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "validate-charts: $name: kubeharden fix exited with $rc: $(tail -n 1 "$work/$name.stderr")" >&2
    exit 1
  fi
  "$helm" template kubeharden "$work/$name" >"$work/$name.after/rendered.yaml" 2>>"$work/helm.stderr"
  checkov_tree "$work/$name.before"
  checkov_tree "$work/$name.after"
done

python3 - "$work" "$charts" <<'PY'
import json, os, re, sys

work, charts = sys.argv[1], sys.argv[2]
CHECK_OF = {  # transform -> the checkov checks it is responsible for
    "no-privileged": ["CKV_K8S_16"],
    "no-host-namespaces": ["CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"],
    "no-privilege-escalation": ["CKV_K8S_20"],
    "read-only-root-filesystem": ["CKV_K8S_22"],
    "drop-capabilities": ["CKV_K8S_28", "CKV_K8S_37"],
}

def failed(folder):
    """(check, Kind, name) of every failed check in checkov's JSON of `folder`."""
    with open(f"{folder}.json") as f:
        data = json.load(f)
    out = set()
    for part in data if isinstance(data, list) else [data]:
        for result in part.get("results", {}).get("failed_checks", []):
            kind, _, rest = result["resource"].partition(".")
            out.add((result["check_id"], kind, rest.partition(".")[2]))
    return out

violations = []
print(f"  {'chart':50} {'failing before':>14} {'after':>6} {'excused':>8}")
for name in sorted(os.listdir(charts)):
    if not os.path.exists(f"{work}/{name}.report.json"):
        continue
    with open(f"{work}/{name}.report.json") as f:
        report = json.load(f)
    reasons = {}  # (check, Kind, name) -> kubeharden's reason
    for file in report["files"]:
        for finding in file["findings"]:
            if finding["kind"] not in ("warning", "skipped", "suppressed"):
                continue
            resource = finding.get("resource") or {}
            # An unmappable change names every transform it carries: `field` (a, b) cannot …
            carried = re.search(r"` \(([a-z, -]+)\) cannot be set", finding["message"])
            transforms = {finding["transform"], *(carried.group(1).split(", ") if carried else [])}
            for check in (c for t in transforms for c in CHECK_OF.get(t, [])):
                key = (check, resource.get("kind"), resource.get("name"))
                reasons.setdefault(key, f"{file['path']}:{finding['line']}: {finding['message']}")
    before, after = failed(f"{work}/{name}.before"), failed(f"{work}/{name}.after")
    excused = [f for f in after if f in reasons]
    print(f"  {name:50} {len(before):>14} {len(after):>6} {len(excused):>8}")
    for check, kind, resource in sorted(after - set(excused)):
        violations.append(f"{name}: {kind}/{resource} fails {check} and kubeharden gave no reason")
if violations:
    print("validate-charts: failures without a reason:", *violations, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("validate-charts: every failure left is one kubeharden reported with its reason")
PY
