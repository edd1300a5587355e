#!/usr/bin/env bash
# Pin the whole dependency tree of article-qa[test,ray] into constraints.txt (run by `make lock`).
#
# Resolves pyproject.toml's dependencies into a fresh venv, so nothing installed by hand leaks in,
# then freezes it without the project itself. Local version labels are dropped: torch 2.13.0+cpu
# is written torch==2.13.0, which the CPU wheel satisfies wherever an index serves it. An NVIDIA
# package in the result means a CUDA torch was resolved: the lock is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=$(mktemp -d /tmp/article-qa-lock.XXXXXX)
trap 'rm -rf "$venv" constraints.txt.new' EXIT

"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[test,ray]'
{
    echo "# Every package article-qa[test,ray] installs, pinned; made by \`make lock\` (tools/lock.sh), not by hand."
    "$venv/bin/pip" freeze --exclude-editable | sed -E 's/\+[A-Za-z0-9.]+$//'
} > constraints.txt.new
if grep -i '^nvidia' constraints.txt.new >&2; then
    echo "lock refused: a CUDA build of torch was resolved (the packages above)" >&2
    exit 1
fi
mv constraints.txt.new constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages pinned"
