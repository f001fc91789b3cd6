#!/usr/bin/env bash
# Validates `kubeharden fix` (default profile) on a copy of ../shared/corpus (or
# $KUBEHARDEN_CORPUS) with two independent tools; run by .ci/run after the tests.
#
#   a. kubernetes-validate --strict, Kubernetes $K8S_VERSION: every input file that passes
#      before the fix must pass after it, and so must every resource that validated before.
#      Counts before/after; fails listing each regression.
#   b. checkov --framework kubernetes, checks CKV_K8S_16, 17, 18, 19, 20, 22, 28, 31, 35, 37
#      and 38:
#      after the fix no workload may fail one of them unless kubeharden reported why on stderr
#      (`skipped:`/`warning:`/`suppressed:` lines of the transform that owns the check, an
#      `error:` for the file, a suppression marker, a Helm template). Explicit host access
#      kept with evidence of need (the `kept …` warnings of kubeharden's JSON report) excuses
#      exactly those workloads, counted and listed. Every such exclusion is listed with its
#      reason. Also fails when a workload checkov evaluated before the fix is
#      no longer evaluated after it (a fix must not hide a resource from the scanner).
#      Counts per check before/after, and the containers reading a Secret through env
#      (CKV_K8S_35 per container: checkov stops at a workload's first); fails listing each
#      violation. Every container still reading a Secret through env after the fix must be one
#      kubeharden's JSON report names in a secrets-as-files warning or skip (a secret whose
#      reader from a file is unknown stays, with a warning); KUBEHARDEN_CONVERT_ALL=1 runs the
#      fix with the option convert-all, which leaves only the skipped ones. The pod-level
#      defaults CKV_K8S_31 (seccomp) and CKV_K8S_38 (service account token) are counted
#      before/after with the reasons of the workloads still failing: kubeharden's findings, or,
#      confirmed on the fixed file, an object without a pod spec (a patch) and a
#      ReplicationController, whose seccomp checkov reads only from the deprecated annotation.
#   c. Volumes, on every pod spec of a workload (Pod, PodTemplate, Deployment, StatefulSet,
#      DaemonSet, ReplicaSet, ReplicationController, Job, CronJob's jobTemplate; items of a
#      List): every volumeMount of every container, initContainer and ephemeralContainer names
#      a volume of the pod spec, and no two volumes share a name (a StatefulSet's
#      volumeClaimTemplates count as volumes). The same check on the corpus as it was tells a
#      pre-existing violation (listed, not a failure) from one the fix made. Counts
#      before/after; fails listing each violation the fix made.
#
# Both Python tools are installed by this script into a virtualenv, target/pyenv, reused when
# it already holds the pinned versions. On 2 cores: the install takes 1.5 to 2 minutes (about
# 400 MB), the checks about 3 minutes (checkov twice in the background, ~50 s each alone, while
# kubernetes-validate reads 2 x 1,446 files). Without the corpus it says so and exits 0.
#
# Environment: KUBEHARDEN_CORPUS (the corpus), KUBEHARDEN_PYENV (a virtualenv holding the
# pinned tools, used as it is, instead of target/pyenv), K8S_VERSION (default 1.33.0),
# KEEP_WORK=1 (keep the temporary folder and print its path), KUBEHARDEN_FIX_ARGS (more
# arguments for `kubeharden fix`; `--skip drop-capabilities` shows what a failure looks like),
# KUBEHARDEN_CONVERT_ALL=1 (secrets-as-files converts every secret, whatever its reader),
# CARGO_TARGET_DIR (where `cargo build` puts kubeharden).
set -euo pipefail
cd "$(dirname "$0")/.."

corpus="${KUBEHARDEN_CORPUS:-../shared/corpus}"
if [ ! -d "$corpus" ]; then
  echo "validate-corpus: corpus $corpus absent; skipped"
  exit 0
fi
corpus="$(cd "$corpus" && pwd)"

# Pinned so that a new release of either tool cannot change the verdict under CI's feet.
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
CHECKOV="checkov==3.3.30"
K8S_VERSION="${K8S_VERSION:-1.33.0}"
CHECKS="CKV_K8S_16,CKV_K8S_17,CKV_K8S_18,CKV_K8S_19,CKV_K8S_20,CKV_K8S_22,CKV_K8S_28,CKV_K8S_31,CKV_K8S_35,CKV_K8S_37,CKV_K8S_38"

started=$(date +%s)
declare -a timings=()
since() { echo $(($(date +%s) - $1)); }

# ---------------------------------------------------------------------------------------------
# 1. The virtualenv.
venv="$PWD/target/pyenv"
stamp="$venv/.kubeharden-requirements"
wanted="$KUBERNETES_VALIDATE $CHECKOV"
ready() { # venv
  [ -x "$1/bin/python" ] && [ "$(cat "$1/.kubeharden-requirements" 2>/dev/null)" = "$wanted" ] &&
    "$1/bin/python" -c 'import checkov, kubernetes_validate' 2>/dev/null
}
t=$(date +%s)
if [ -n "${KUBEHARDEN_PYENV:-}" ]; then
  # A virtualenv the caller names (another checkout's) is used, never rebuilt or removed.
  venv="$(cd "$KUBEHARDEN_PYENV" && pwd)"
  if ! ready "$venv"; then
    echo "validate-corpus: KUBEHARDEN_PYENV=$KUBEHARDEN_PYENV does not hold $wanted" >&2
    exit 1
  fi
  echo "validate-corpus: using $venv ($wanted)"
elif ready "$venv"; then
  echo "validate-corpus: reusing $venv ($wanted)"
else
  python=""
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate" && break; fi
  done
  if [ -z "$python" ]; then
    echo "validate-corpus: no python3 found; install Python 3.11 with pip" >&2
    exit 1
  fi
  echo "validate-corpus: installing $wanted into $venv with $($python --version)"
  rm -rf "$venv"
  mkdir -p target
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    # A Python without ensurepip (Debian's python3 without python3-venv): use virtualenv.
    rm -rf "$venv"
    "$python" -m pip install -q --user virtualenv
    "$python" -m virtualenv -q "$venv"
  fi
  # shellcheck disable=SC2086 # two requirements
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $wanted
  echo "$wanted" >"$stamp"
fi
timings+=("python tools: $(since "$t") s")
py="$venv/bin/python"

# ---------------------------------------------------------------------------------------------
# 2. kubeharden, and the fix on a copy of the corpus.
t=$(date +%s)
# With --tests the features of the dev-dependencies are unified as under `cargo test`, so after
# the tests (as in CI) the binary is already built; a plain `cargo build` would rebuild it.
cargo build --locked --quiet --bins --tests
# CARGO_TARGET_DIR may name a target folder shared with other checkouts, which may rebuild the
# binary while this runs: the fix and the questions below use a copy, in the temporary folder.
built="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/kubeharden"
timings+=("cargo build: $(since "$t") s")

work="$(mktemp -d)"
if [ "${KEEP_WORK:-}" = 1 ]; then
  echo "validate-corpus: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
cp "$built" "$work/kubeharden"
bin="$work/kubeharden"
cp -R "$corpus" "$work/before"
cp -R "$corpus" "$work/after"
chmod -R u+w "$work/before" "$work/after"

t=$(date +%s)
fix_rc=0
convert_all=()
if [ "${KUBEHARDEN_CONVERT_ALL:-}" = 1 ]; then
  printf 'transforms:\n  secrets-as-files:\n    convert-all: true\n' >"$work/convert-all.yaml"
  convert_all=(--config convert-all.yaml)
fi
# shellcheck disable=SC2086 # KUBEHARDEN_FIX_ARGS is split into arguments on purpose
(cd "$work" && "$bin" fix --color never --report kubeharden.json "${convert_all[@]}" \
  ${KUBEHARDEN_FIX_ARGS:-} after) 2>"$work/kubeharden.stderr" ||
  fix_rc=$?
timings+=("kubeharden fix: $(since "$t") s")
echo "validate-corpus: $(tail -n 1 "$work/kubeharden.stderr") (exit code $fix_rc)"
if [ "$fix_rc" -ne 0 ] && [ "$fix_rc" -ne 2 ]; then
  echo "validate-corpus: kubeharden fix failed with exit code $fix_rc" >&2
  cat "$work/kubeharden.stderr" >&2
  exit 1
fi
# The inputs: the files kubeharden walks.
(cd "$work/before" && find . -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) |
  sed 's|^\./||' | LC_ALL=C sort) >"$work/files"
changed=0
while IFS= read -r f; do
  cmp -s "$work/before/$f" "$work/after/$f" || changed=$((changed + 1))
done <"$work/files"
echo "validate-corpus: $(wc -l <"$work/files") input files, $changed changed by the fix"

# ---------------------------------------------------------------------------------------------
# 3. checkov on both trees, in the background, while kubernetes-validate runs.
# What checkov 3.3.30 looks at, read from its sources (checkov/kubernetes/checks/resource/k8s):
# one result per workload, FAILED at the first failing container; containers and
# initContainers only (not ephemeralContainers); CKV_K8S_28 passes a drop list with an item
# containing ALL, all or NET_RAW, CKV_K8S_37 one containing ALL or all; 17/18/19 read the pod
# spec of Pod, CronJob and spec.template.spec kinds. None of this needed an exclusion: on the
# corpus no workload fails one of these checks after the fix. CKV_K8S_35 fails a container with
# an env entry whose valueFrom holds secretKeyRef or an envFrom entry holding secretRef; after
# the fix it fails the workloads whose secrets have no known reader from a file (kept, with a
# warning: 91 workloads, 97 containers on the corpus), and the three copies of argo-cd's
# argocd-redis, whose REDIS_PASSWORD is expanded as $(REDIS_PASSWORD) and skipped by kubeharden
# with that reason; with KUBEHARDEN_CONVERT_ALL=1, only those three.
# Custom resources embedding pod specs (RayService, LeaderWorkerSet...) are read by neither.
t_checkov=$(date +%s)
checkov_tree() { # tree
  # --skip-download and the two variables keep checkov off the network (it would otherwise
  # fetch guidelines from its platform and look for updates).
  (cd "$work" && BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
    "$venv/bin/checkov" --framework kubernetes -d "$1" -c "$CHECKS" -o json \
    --skip-download >"$1.checkov.json" 2>"$1.checkov.stderr") && return 0
  local rc=$?
  [ "$rc" -eq 1 ] # exit code 1: some check failed, which is expected
}
checkov_tree before &
checkov_before=$!
checkov_tree after &
checkov_after=$!

# ---------------------------------------------------------------------------------------------
# 4. kubernetes-validate --strict on both trees.
# The CLI (`kubernetes-validate --strict -k VERSION FILE...`) stops at the first file PyYAML
# cannot read (SystemExit) and starts a new Python per call, which would take ~25 minutes for
# 2 x 1,446 files. This runs the same library calls the CLI makes per resource
# (kubernetes_validate.utils.resources_from_file, then validate(resource, version, strict=True))
# in one process, with the CLI's verdict per file: it fails on a schema violation or any other
# error, and passes when every resource validates or has no schema (a CRD: the CLI only warns).
# The schema files and the list of versions are cached in memory; they are read-only data.
# The same pass runs the volume check (c) on the documents it reads, into TREE.volumes.json.
t=$(date +%s)
"$py" - "$K8S_VERSION" "$work" <<'PY'
import collections, functools, json, sys
import kubernetes_validate.utils as kv

# Where the pod spec sits, per workload kind (matched on the kind alone, as checkov does).
POD_SPEC = {"Pod": ("spec",), "PodTemplate": ("template", "spec")}
POD_SPEC.update((k, ("spec", "template", "spec")) for k in (
    "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"))
POD_SPEC["CronJob"] = ("spec", "jobTemplate", "spec", "template", "spec")

def pod_specs(doc, where="", implied=None):
    """(label, path, pod spec, claims) of each workload in a document, items of a List
    included; claims: the names of a StatefulSet's volumeClaimTemplates, which its pods get as
    volumes (a template volume of the same name is replaced by the claim)."""
    if not isinstance(doc, dict):
        return
    kind = doc.get("kind") or implied
    if not isinstance(kind, str):
        return
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):  # a typed list's items may leave out their kind
            yield from pod_specs(item, f"{where}items[{i}].", kind[:-4] or None)
        return
    if kind not in POD_SPEC:
        return
    spec = doc
    for step in POD_SPEC[kind]:
        spec = spec.get(step) if isinstance(spec, dict) else None
    if isinstance(spec, dict):
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        claims = [c["metadata"].get("name") for c in items(doc["spec"], "volumeClaimTemplates")
                  if kind == "StatefulSet" and isinstance(c.get("metadata"), dict)]
        yield f"{kind}/{name}", where + ".".join(POD_SPEC[kind]), spec, claims

def items(node, key):
    """The mappings of the list node[key]; none when it is no list."""
    value = node.get(key)
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []

def volume_problems(rel, index, doc, figures, secret_env):
    """Each mount naming no volume and each volume name held twice, as keys that stay the same
    from one tree to the other (document, workload, pod spec path, container, name). On the
    way, the containers that read a Secret through env (CKV_K8S_35 per container) go to
    secret_env."""
    problems = []
    for label, path, spec, claims in pod_specs(doc):
        figures["pod specs"] += 1
        volumes = items(spec, "volumes")
        names = [v.get("name") for v in volumes] + claims
        figures["volumes"] += len(volumes)
        figures["volumeClaimTemplates"] += len(claims)
        at = f"document {index + 1}, {label}, {path}"  # counting non-empty documents
        for name, count in collections.Counter(names).items():
            if count > 1:
                held = "volumes and volumeClaimTemplates" if name in claims else "volumes"
                problems.append(f"{at}: volume name {name!r} held by {count} {held}")
        for group in ("containers", "initContainers", "ephemeralContainers"):
            for i, c in enumerate(items(spec, group)):
                mounts = items(c, "volumeMounts")
                figures["containers"] += 1
                figures["volumeMounts"] += len(mounts)
                who = f"{group}[{c.get('name') or i}]"
                for m in mounts:
                    if m.get("name") not in names:
                        problems.append(f"{at}: {who} mounts {m.get('name')!r}, which is no volume")
                keys = [e for e in items(c, "env") if isinstance(e.get("valueFrom"), dict)
                        and "secretKeyRef" in e["valueFrom"]]
                wholes = [e for e in items(c, "envFrom") if "secretRef" in e]
                if keys or wholes:
                    figures["secretKeyRef entries"] += len(keys)
                    figures["envFrom secretRefs"] += len(wholes)
                    secret_env.append({"file": rel, "workload": label, "container": c.get("name"),
                                       "where": f"{rel}: {label} {who}"})
    return problems

version, work = sys.argv[1], sys.argv[2]
kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
kv.all_versions = functools.lru_cache(maxsize=None)(kv.all_versions)  # lists a folder per call
files = open(f"{work}/files").read().splitlines()
for tree in ("before", "after"):
    results = {}
    volumes = {"figures": collections.Counter(), "problems": {}, "unreadable": [], "secret env": []}
    for rel in files:
        path = f"{work}/{tree}/{rel}"
        try:
            resources = kv.resources_from_file(path)
        except SystemExit as e:  # the CLI's exit on unreadable YAML
            results[rel] = {"pass": False, "unreadable": str(e), "resources": []}
            volumes["unreadable"].append(rel)
            continue
        problems = [p for i, r in enumerate(resources)
                    for p in volume_problems(rel, i, r, volumes["figures"], volumes["secret env"])]
        if problems:
            volumes["problems"][rel] = problems
        out = []
        for index, resource in enumerate(resources):
            kind = name = None
            if isinstance(resource, dict):
                kind = resource.get("kind")
                meta = resource.get("metadata")
                name = meta.get("name") if isinstance(meta, dict) else None
            entry = {"index": index, "kind": kind, "name": name}
            try:
                kv.validate(resource, version, strict=True)
                entry["result"] = "valid"
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                entry["result"], entry["message"] = "invalid", f"{where}: {e.message}"
            except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
                entry["result"], entry["message"] = "no-schema", e.message
            except kv.VersionNotSupportedError:
                sys.exit(f"kubernetes-validate does not support Kubernetes {version}")
            except Exception as e:  # the CLI's "could not be validated"
                entry["result"], entry["message"] = "error", f"{type(e).__name__}: {e}"
            out.append(entry)
        ok = all(r["result"] in ("valid", "no-schema") for r in out)
        results[rel] = {"pass": ok, "resources": out}
    json.dump(results, open(f"{work}/{tree}.kv.json", "w"))
    json.dump(volumes, open(f"{work}/{tree}.volumes.json", "w"))
PY
timings+=("kubernetes-validate (both trees): $(since "$t") s")

checkov_ok=0
wait "$checkov_before" || checkov_ok=1
wait "$checkov_after" || checkov_ok=1
timings+=("checkov (both trees, in parallel with the above): $(since "$t_checkov") s")
if [ "$checkov_ok" -ne 0 ]; then
  echo "validate-corpus: checkov crashed; its stderr follows" >&2
  tail -n 30 "$work/before.checkov.stderr" "$work/after.checkov.stderr" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# 5. The verdict.
verdict=0
"$py" - "$work" "$K8S_VERSION" "$bin" <<'PY' || verdict=$?
import collections, json, os, re, subprocess, sys
import yaml

work, version, binary = sys.argv[1], sys.argv[2], sys.argv[3]
failed = False

def section(title):
    print(f"\n== {title}")

# --- a. kubernetes-validate -------------------------------------------------------------------
before = json.load(open(f"{work}/before.kv.json"))
after = json.load(open(f"{work}/after.kv.json"))
section(f"kubernetes-validate --strict, Kubernetes {version}")
def counts(results):
    passing = [f for f, r in results.items() if r["pass"]]
    checked = [f for f in passing if any(x["result"] == "valid" for x in results[f]["resources"])]
    return len(passing), len(checked)
for name, results in (("before", before), ("after", after)):
    passing, checked = counts(results)
    print(f"  {name:6}: {passing} of {len(results)} files pass "
          f"({checked} with at least one resource validated against a schema; the others hold "
          f"only kinds without a schema, CRDs, which the CLI passes with a warning)")
regressions = []
for rel, b in sorted(before.items()):
    a = after[rel]
    if b["pass"] and not a["pass"]:
        problems = [f"{x['kind']}/{x['name']}: {x.get('message', x['result'])}"
                    for x in a["resources"] if x["result"] not in ("valid", "no-schema")]
        regressions.append(f"{rel}: passed before, fails after: " +
                           ("; ".join(problems) or a.get("unreadable", "?")))
        continue
    # Finer: a resource that validated before must validate after, even in a failing file.
    valid_before = {(x["index"], x["kind"], x["name"]) for x in b["resources"] if x["result"] == "valid"}
    for x in a["resources"]:
        if (x["index"], x["kind"], x["name"]) in valid_before and x["result"] != "valid":
            regressions.append(f"{rel}: {x['kind']}/{x['name']} validated before, not after: "
                               f"{x.get('message', x['result'])}")
fixed = [rel for rel, b in before.items() if not b["pass"] and after[rel]["pass"]]
print(f"  files failing before and passing after: {len(fixed)}")
if regressions:
    failed = True
    print(f"  FAIL: {len(regressions)} regression(s):")
    for r in regressions:
        print(f"    {r}")
else:
    print("  no regression: every file and resource that passed before passes after")

# --- b. checkov -------------------------------------------------------------------------------
CHECK_OF = {  # transform -> the checkov checks it is responsible for
    "no-privileged": ["CKV_K8S_16"],
    "no-host-namespaces": ["CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"],
    "no-privilege-escalation": ["CKV_K8S_20"],
    "read-only-root-filesystem": ["CKV_K8S_22"],
    "drop-capabilities": ["CKV_K8S_28", "CKV_K8S_37"],
    "secrets-as-files": ["CKV_K8S_35"],
    "seccomp-runtime-default": ["CKV_K8S_31"],
    "no-service-account-token": ["CKV_K8S_38"],
}
CHECKS = sorted({c for cs in CHECK_OF.values() for c in cs}, key=lambda c: int(c.split("_")[-1]))

def load_checkov(tree):
    with open(f"{work}/{tree}.checkov.json") as f:
        data = json.load(f)
    reports = data if isinstance(data, list) else [data]
    results = []  # (status, entry)
    parse_errors = []
    for report in reports:
        if report.get("check_type") != "kubernetes":
            continue
        for status in ("passed_checks", "failed_checks", "skipped_checks"):
            for entry in report.get("results", {}).get(status, []):
                results.append((status.split("_")[0], entry))
        parse_errors += report.get("results", {}).get("parsing_errors", [])
    # Key each result by (file, resource id, ordinal): the ordinal tells apart two objects of
    # the same kind, namespace and name in one file; line numbers move with the fix.
    prefix = f"/{tree}/"
    by_key = {}
    starts = collections.defaultdict(set)
    for _, e in results:
        starts[(e["file_path"], e["resource"])].add(e["file_line_range"][0])
    for status, e in results:
        rel = e["file_path"][len(prefix):] if e["file_path"].startswith(prefix) else e["file_path"]
        ordinal = sorted(starts[(e["file_path"], e["resource"])]).index(e["file_line_range"][0])
        by_key[(rel, e["resource"], ordinal, e["check_id"])] = (status, e)
    return by_key, parse_errors

ck_before, errors_before = load_checkov("before")
ck_after, errors_after = load_checkov("after")
section("checkov --framework kubernetes, " + ", ".join(CHECKS))
if errors_before or errors_after:
    print(f"  parsing errors: {len(errors_before)} before, {len(errors_after)} after")
    for e in sorted(set(errors_after) - set(errors_before)):
        failed = True
        print(f"  FAIL: checkov cannot parse a fixed file it could parse before: {e}")

# kubeharden's report: `LABEL: after/FILE:LINE: TRANSFORM: Kind/name[ container C]: message`.
finding_re = re.compile(r"^(warning|skipped|suppressed): after/(.+?):(\d+): ([a-z-]+): (.*)$")
error_re = re.compile(r"^error: after/(.+?)(?::\d+:\d+)?: (.*)$")
findings, errors = [], {}
summary = ""
# Explicit host access kept with evidence of need: read from the JSON report (the warnings
# starting `kept `), they excuse exactly those workloads, counted and listed below.
kept = []  # (file, line, transform, `Kind/name[ container C]`, message)
for file in json.load(open(f"{work}/kubeharden.json"))["files"]:
    for f in file["findings"]:
        if f["kind"] == "warning" and f["message"].startswith("kept ") and f["transform"] in CHECK_OF:
            who = f"{f['resource']['kind']}/{f['resource']['name']}"
            who += f" container {f['container']}" if f["container"] else ""
            kept.append((file["path"].removeprefix("after/"), f["line"], f["transform"], who, f["message"]))
kept_lines = {(rel, line, transform) for rel, line, transform, _, _ in kept}
for line in open(f"{work}/kubeharden.stderr"):
    line = line.rstrip("\n")
    if m := finding_re.match(line):
        label, rel, number, transform, message = m.groups()
        if label == "warning" and message.split(": ", 1)[-1].startswith("kept ") and \
                (rel, int(number), transform) in kept_lines:
            continue  # counted from the JSON report
        findings.append(m.groups())
    elif m := error_re.match(line):
        errors[m.group(1)] = m.group(2)
    elif line.startswith("kubeharden:"):
        summary = line

# Suppressions are counted in the summary but not named on stderr; the corpus is read for the
# markers (the resource annotation kubeharden.dev/skip[.CONTAINER] and `# kubeharden: ignore`
# comments) so that a suppressed workload is excluded for the transforms it names.
suppressed = int(m.group(1)) if (m := re.search(r"(\d+) suppressed", summary)) else 0
marker_re = re.compile(r"kubeharden\.dev/skip(?:\.[\w.-]+)?\"?\s*:\s*[\"']?([\w,\s-]*)|#\s*kubeharden:\s*ignore(?:\[([^\]]*)\])?")
markers = []  # (file, line, ids)
if suppressed and not any(f[0] == "suppressed" for f in findings):
    for rel in open(f"{work}/files").read().splitlines():
        for n, text in enumerate(open(f"{work}/before/{rel}", errors="replace"), 1):
            if m := marker_re.search(text):
                ids = (m.group(1) or m.group(2) or "all").replace(" ", "")
                markers.append((rel, n, ids or "all"))

# Helm templates met in a walk are skipped and only counted: name them by asking kubeharden
# about each unchanged file that still fails a check (a named template is an error).
helm = int(m.group(1)) if (m := re.search(r"(\d+) Helm templates? skipped", summary)) else 0

def resource_at(ck, rel, line, label):
    """The checkov resource (id, ordinal) of `rel` whose lines hold `line`, preferring the
    one whose kind and name match kubeharden's `Kind/name` label."""
    kind, _, name = label.partition("/")
    spans = {}
    for (f, rid, ordinal, _), (_, e) in ck.items():
        if f == rel:
            spans[(rid, ordinal)] = e["file_line_range"]
    matches = [k for k, (lo, hi) in spans.items() if lo <= line <= hi]
    named = [k for k in matches if k[0].split(".")[0] == kind and k[0].split(".", 2)[-1] == name]
    if named or matches:
        return (named or matches)[0]
    named = [k for k in spans if k[0].split(".")[0] == kind and k[0].split(".", 2)[-1] == name]
    return named[0] if len(named) == 1 else None

# Exclusions: (file, resource id, ordinal, check) -> reasons. checkov judges a workload as a
# whole (it stops at the first failing container), so a finding about one container excludes
# the workload for the checks of that transform.
exclusions = collections.defaultdict(list)
file_exclusions = {}  # file -> reason, for every check
windows_re = re.compile(r": a Windows (?:pod|HostProcess pod)\b")
unplaced = []
for label, rel, line, transform, message in findings:
    # `kubeharden` is the whole workload left unchanged (duplicate keys): every check is excused.
    checks = sorted({c for cs in CHECK_OF.values() for c in cs}) if transform == "kubeharden" \
        else CHECK_OF.get(transform, [])
    if windows_re.search(message):
        # One finding per Windows pod names every transform that left it alone.
        checks = sorted({c for t in re.findall(r"[a-z]+(?:-[a-z]+)+", message)
                         for c in CHECK_OF.get(t, [])})
    if not checks:
        continue  # a transform that owns none of these checks (rolling-update, no-host-path...)
    where = resource_at(ck_before, rel, int(line), message.split(":")[0].split(" ")[0])
    reason = f"kubeharden {label}: {rel}:{line}: {transform}: {message}"
    if where is None:
        unplaced.append(reason)
        continue
    for check in checks:
        exclusions[(rel, *where, check)].append(reason)
kept_workloads = set()
for rel, line, transform, who, message in kept:
    where = resource_at(ck_before, rel, line, who.split(" ")[0])
    if where is None:
        unplaced.append(f"kubeharden kept with evidence: {rel}:{line}: {transform}: {who}: {message}")
        continue
    kept_workloads.add((rel, *where))
    for check in CHECK_OF[transform]:
        exclusions[(rel, *where, check)].append(f"kubeharden kept with evidence: {rel}:{line}: {transform}: {who}")
for rel, line, ids in markers:
    where = resource_at(ck_before, rel, line, "/")
    wanted = [c for t, cs in CHECK_OF.items() if ids == "all" or t in ids.split(",") for c in cs]
    for check in wanted:
        if where:
            exclusions[(rel, *where, check)].append(f"suppression marker on {rel}:{line} ({ids})")
for rel, message in errors.items():
    file_exclusions[rel] = f"kubeharden error: {message}"

# The checks, before and after.
def failing(ck):
    return {k: e for k, (status, e) in ck.items() if status == "failed"}
fail_before, fail_after = failing(ck_before), failing(ck_after)

if helm:
    for rel in sorted({k[0] for k in fail_after}):
        if rel in file_exclusions or open(f"{work}/before/{rel}", "rb").read() != open(f"{work}/after/{rel}", "rb").read():
            continue
        run = subprocess.run([binary, "fix", "--dry-run", f"{work}/before/{rel}"], capture_output=True, text=True)
        if "Helm template" in run.stderr:
            file_exclusions[rel] = "a Helm template, which kubeharden skips in a folder walk"

# Two failures of the pod-level checks that no fix can remove, each confirmed on the fixed
# manifest: an object of a workload kind without a pod spec (a kustomize patch setting
# `replicas`), which kubeharden has nothing to fix in; and CKV_K8S_31 on a
# ReplicationController, whose seccomp checkov 3.3.30 reads only from the deprecated
# annotation `seccomp.security.alpha.kubernetes.io/pod` (Seccomp.py's kind list leaves it
# out), while the fixed pod spec holds RuntimeDefault.
POD_SPEC_PATH = {"Pod": ("spec",), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
def fixed_pod_specs(rel, rid):
    """The pod spec (or None) of each object of the fixed `rel` that checkov names `rid`."""
    kind, _, name = rid.split(".", 2)
    try:
        documents = list(yaml.safe_load_all(open(f"{work}/after/{rel}")))
    except (yaml.YAMLError, UnicodeDecodeError):
        return []
    specs = []
    for d in documents:
        if isinstance(d, dict) and d.get("kind") == kind and \
                isinstance(d.get("metadata"), dict) and d["metadata"].get("name") == name:
            spec = d
            for step in POD_SPEC_PATH.get(kind, ("spec", "template", "spec")):
                spec = spec.get(step) if isinstance(spec, dict) else None
            specs.append(spec if isinstance(spec, dict) else None)
    return specs
for key in fail_after:
    rel, rid, ordinal, check = key
    if check not in ("CKV_K8S_31", "CKV_K8S_38") or exclusions.get(key) or rel in file_exclusions:
        continue
    specs = fixed_pod_specs(rel, rid)
    if specs and all(spec is None for spec in specs):
        exclusions[key].append("no pod spec (a patch or partial object): nothing to fix")
    elif check == "CKV_K8S_31" and rid.startswith("ReplicationController.") and specs and all(
            isinstance(spec, dict) and ((spec.get("securityContext") or {}).get("seccompProfile") or {})
            .get("type") == "RuntimeDefault" for spec in specs):
        exclusions[key].append("checkov reads a ReplicationController's seccomp only from the "
                               "deprecated annotation; the fixed pod spec holds RuntimeDefault")

violations, excluded = [], []
for key, e in sorted(fail_after.items()):
    rel, rid, ordinal, check = key
    reasons = exclusions.get(key, []) + ([file_exclusions[rel]] if rel in file_exclusions else [])
    text = f"{check} {rel} {rid}" + (f" (#{ordinal + 1})" if ordinal else "") + \
        f": {', '.join(e['check_result'].get('evaluated_keys') or []) or e['check_name']}"
    (excluded if reasons else violations).append((text, reasons))

print(f"  {'check':11} {'transform':26} {'failing before':>14} {'after':>6} {'excluded':>9} {'violations':>11}")
for check in CHECKS:
    transform = next(t for t, cs in CHECK_OF.items() if check in cs)
    b = sum(1 for k in fail_before if k[3] == check)
    a = [k for k in fail_after if k[3] == check]
    x = sum(1 for k in a if exclusions.get(k) or k[0] in file_exclusions)
    print(f"  {check:11} {transform:26} {b:>14} {len(a):>6} {x:>9} {len(a) - x:>11}")
# The checks of the pod-level defaults (CKV_K8S_31 seccomp, CKV_K8S_38 service account token):
# each workload still failing one after the fix must be one kubeharden kept with a stated
# reason, counted here by that reason (its first words, without the workload's name).
for check in ("CKV_K8S_31", "CKV_K8S_38"):
    a = [k for k in fail_after if k[3] == check]
    why = collections.Counter()
    for k in a:
        reasons = exclusions.get(k) or ([file_exclusions[k[0]]] if k[0] in file_exclusions else [])
        if not reasons:
            why["no reason given (a violation)"] += 1
            continue
        reason = reasons[0]
        if not reason.startswith("kubeharden ") or reason.startswith("kubeharden error"):
            # Not a finding: a file not processed, a marker, what no fix can remove.
            why[reason.split(":")[0]] += 1
            continue
        # `kubeharden LABEL: FILE:LINE: TRANSFORM: Kind/name: message`
        label = reason.split(":")[0].removeprefix("kubeharden ")
        message = reason.split(": ", 4)[-1] if reason.count(": ") >= 4 else reason
        head = re.sub(r" \(lines? [^)]*\)?;?$", "", " ".join(message.split()[:10]))
        why[f"{label}: {head}"] += 1
    before = sum(1 for k in fail_before if k[3] == check)
    print(f"  {check}: {before} workloads failing before the fix, {len(a)} after; kept with a reason:")
    for reason, n in why.most_common():
        print(f"    {n:5}  {reason}")
evaluated_before = {k for k, (s, _) in ck_before.items() if s in ("passed", "failed")}
evaluated_after = {k for k, (s, _) in ck_after.items() if s in ("passed", "failed")}
print(f"  workload checks evaluated: {len(evaluated_before)} before, {len(evaluated_after)} after "
      f"(checkov's own skips: {sum(1 for s, _ in ck_before.values() if s == 'skipped')} before)")
# checkov reports a workload once, at its first failing container: CKV_K8S_35 per container, from
# the pod specs read for the volume check (c), ephemeralContainers included.
vol_before = json.load(open(f"{work}/before.volumes.json"))
vol_after = json.load(open(f"{work}/after.volumes.json"))
for name, volumes in (("before", vol_before), ("after", vol_after)):
    f = volumes["figures"]
    print(f"  CKV_K8S_35 per container, {name:6}: {len(volumes['secret env'])} containers read a "
          f"Secret through env ({f['secretKeyRef entries']} env secretKeyRef entries, "
          f"{f['envFrom secretRefs']} envFrom secretRefs)")
# Each container still reading a Secret through env must be one kubeharden left alone and said
# so in its JSON report: a secrets-as-files warning (no reader of the file known) or skip.
said = collections.defaultdict(set)  # (file, Kind/name, container) -> finding kinds
for entry in json.load(open(f"{work}/kubeharden.json"))["files"]:
    rel = entry["path"][len("after/"):]
    for x in entry["findings"]:
        if x["transform"] == "secrets-as-files" and x["kind"] != "note":
            workload = f"{x['resource']['kind']}/{x['resource']['name']}"
            said[(rel, workload, x["container"])].add(x["kind"])
secret_env_kept = collections.Counter()  # why each container still reads a Secret through env
unexplained = []
for c in vol_after["secret env"]:
    kinds = said.get((c["file"], c["workload"], c["container"]))
    if kinds:
        secret_env_kept["warning" if "warning" in kinds else sorted(kinds)[0]] += 1
    elif c["file"] in file_exclusions:
        secret_env_kept["file not processed"] += 1
    else:
        unexplained.append(c["where"])
    print(f"    still: {c['where']}" + (f" ({', '.join(sorted(kinds))})" if kinds else ""))
print(f"  CKV_K8S_35 per container, kept by kubeharden with a reason: " +
      (", ".join(f"{n} {k}" for k, n in sorted(secret_env_kept.items())) or "none"))
if unexplained:
    failed = True
    print(f"  FAIL: {len(unexplained)} container(s) still read a Secret through env, and "
          "kubeharden's report says nothing of them:")
    for where in unexplained:
        print(f"    {where}")

section(f"kept with evidence of need (kubeharden's JSON report): {len(kept_workloads)} workloads, {len(kept)} values")
for rel, rid, ordinal in sorted(kept_workloads):
    checks = sorted({k[3] for k in fail_after if k[:3] == (rel, rid, ordinal)})
    print(f"  {rel} {rid}" + (f" (#{ordinal + 1})" if ordinal else "") +
          (f": fails {', '.join(checks)}, allowed" if checks else ": fails none of the checks"))

section("exclusions (kubeharden said why it left these alone)")
reasons = sorted({r for rs in exclusions.values() for r in rs} | set(file_exclusions.values()))
if not reasons:
    print("  none")
for reason in reasons:
    hits = [t for t, rs in excluded if reason in rs]
    print(f"  {reason}")
    if hits:
        for t in hits:
            print(f"      excludes: {t}")
    else:
        print("      (excludes nothing: checkov passes the fixed workload anyway)")
for reason in unplaced:
    print(f"  (not matched to a checkov resource) {reason}")

gone = sorted(evaluated_before - evaluated_after)
if gone:
    failed = True
    section(f"FAIL: {len(gone)} workload check(s) evaluated before the fix but not after")
    for rel, rid, ordinal, check in gone:
        print(f"  {check} {rel} {rid}")
if violations:
    failed = True
    section(f"FAIL: {len(violations)} checkov violation(s) after the fix, not explained by kubeharden")
    for text, _ in violations:
        print(f"  {text}")
else:
    print("\n  checkov: no unexplained failure of " + ", ".join(CHECKS) + " after the fix")

# --- c. volumes -------------------------------------------------------------------------------
section("volumes: every volumeMount names a volume of its pod spec; volume names are unique")
def problems(volumes):
    return collections.Counter((rel, p) for rel, ps in volumes["problems"].items() for p in ps)
problems_before, problems_after = problems(vol_before), problems(vol_after)
introduced, existing = problems_after - problems_before, problems_after & problems_before
for name, volumes, found in (("before", vol_before, problems_before), ("after", vol_after, problems_after)):
    f = volumes["figures"]
    print(f"  {name:6}: {f['pod specs']} pod specs, {f['containers']} containers, "
          f"{f['volumes']} volumes, {f['volumeClaimTemplates']} volumeClaimTemplates, "
          f"{f['volumeMounts']} volumeMounts; "
          f"{sum(found.values())} violation(s) in {len({rel for rel, _ in found})} file(s)"
          f" ({len(volumes['unreadable'])} unreadable files not checked)")
print(f"  pre-existing (the same before the fix, not a failure): {sum(existing.values())}")
for (rel, p), n in sorted(existing.items()):
    print(f"    {rel}: {p}" + (f" (x{n})" if n > 1 else ""))
print(f"  made by the fix: {sum(introduced.values())}; fixed by it: "
      f"{sum((problems_before - problems_after).values())}")
if introduced:
    failed = True
    section(f"FAIL: {sum(introduced.values())} volume violation(s) made by the fix")
    for (rel, p), n in sorted(introduced.items()):
        print(f"  {rel}: {p}" + (f" (x{n})" if n > 1 else ""))
else:
    print("\n  volumes: the fix left no mount without its volume and no duplicate volume name")
sys.exit(1 if failed else 0)
PY

echo
echo "== timings"
for line in "${timings[@]}"; do echo "  $line"; done
echo "  total: $(since "$started") s"
if [ "$verdict" -ne 0 ]; then
  echo "validate-corpus: FAILED"
  exit 1
fi
echo "validate-corpus: passed"
