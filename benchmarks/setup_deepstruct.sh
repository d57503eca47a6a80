#!/usr/bin/env bash
# Installs deepstruct 0.10.0, the baseline of benchmarks/bench_deepstruct.py, into its OWN folder
# benchmarks/.deepstruct (git-ignored), never into the project's environment: deepstruct is not a
# dependency of structrob. --no-deps keeps pip from replacing torch / networkx / numpy (deepstruct
# pins torch<2, networkx<3, numpy<2 but runs on the installed ones); the benchmark puts the folder
# on sys.path in its own process only.
#
# What deepstruct.sparse and deepstruct.graph import at run time: torch, numpy, networkx (already
# installed with structrob) and `deprecated` (which imports `wrapt`): those two are installed here,
# --no-deps, at versions within deepstruct's and deprecated's ranges. deepstruct/__version__.py
# needs importlib_metadata but is never imported by the benchmark.
#
# Usage: bash benchmarks/setup_deepstruct.sh [PYTHON]   (default: .venv/bin/python, else python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
python="${1:-}"
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
target="$here/.deepstruct"
if "$python" - "$target" <<'PY' 2>/dev/null; then
import sys
sys.path.insert(0, sys.argv[1])
import deepstruct.sparse  # noqa: F401
PY
  echo "deepstruct already importable from $target"
  exit 0
fi
rm -rf "$target"
"$python" -m pip install -q --no-deps --target "$target" \
  deepstruct==0.10.0 deprecated==1.2.18 wrapt==1.17.3
# git (and so ruff, which respects .gitignore) leaves the folder alone
echo '*' > "$target/.gitignore"
echo "deepstruct installed in $target"
