#!/usr/bin/env bash
# Regenerate NAME.expected (and NAME.exit for non-zero exits) by running each
# program under real Ray.
#
# Usage: ./regen_expected.sh /path/to/ray-venv/bin/python [NAME ...]
#
# Each program's first line is `import raylab as ray`; a temporary copy with
# that line replaced by `import ray` is run with cwd = this folder (and this
# folder on PYTHONPATH, so helper modules beside the programs import in the
# driver and in Ray's workers). Only stdout is recorded.
set -euo pipefail
py=${1:?usage: regen_expected.sh RAY_PYTHON [NAME ...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in *.py; do
    [ "$(head -n1 "$f")" = "import raylab as ray" ] && names+=("${f%.py}")
  done
fi

for name in "${names[@]}"; do
  name=${name%.py}
  src="$here/$name.py"
  [ "$(head -n1 "$src")" = "import raylab as ray" ] || { echo "$name: first line is not 'import raylab as ray'" >&2; exit 1; }
  { echo "import ray"; tail -n +2 "$src"; } > "$tmp/$name.py"
  set +e
  PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" "$py" "$tmp/$name.py" > "$tmp/$name.out" 2> "$tmp/$name.err"
  rc=$?
  set -e
  cp "$tmp/$name.out" "$here/$name.expected"
  if [ "$rc" -ne 0 ]; then
    echo "$rc" > "$here/$name.exit"
  else
    rm -f "$here/$name.exit"
  fi
  echo "$name: exit $rc, $(wc -l < "$here/$name.expected") lines"
done
