#!/bin/sh
# The local check before a commit (STYLE.md): format check, build with the `dev` preset, unit
# tests, then clang-tidy on the C++ files changed since HEAD (all of src/ with --all-tidy).
# It takes a minute or two; CI (.ci/run) runs the whole set.
#
# Usage: scripts/check.sh [--all-tidy] [--install-hook]
#   --install-hook  install this script as the git pre-commit hook (.git/hooks/pre-commit)
set -eu
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--install-hook" ]; then
  hook=$(git rev-parse --git-path hooks)/pre-commit
  printf '#!/bin/sh\nexec "$(git rev-parse --show-toplevel)/scripts/check.sh"\n' >"$hook"
  chmod +x "$hook"
  echo "check.sh: installed $hook (skip once with git commit --no-verify)"
  exit 0
fi

step() { printf '\n== check.sh: %s\n' "$*" >&2; }

step "format (scripts/format.sh --check)"
scripts/format.sh --check

step "build (dev preset)"
cmake --preset dev >/dev/null
cmake --build --preset dev

step "unit tests"
ctest --preset dev -L unit --parallel 2

step "clang-tidy"
if [ "${1:-}" = "--all-tidy" ]; then
  scripts/clang-tidy-check
else
  # Changed and new .cpp files of src/; a changed header brings the .cpp files that share its name.
  changed=$( (git diff --name-only HEAD -- 'src/*.cpp' 'src/*.hpp'
              git ls-files --others --exclude-standard -- 'src/*.cpp' 'src/*.hpp') \
            | sed 's/\.hpp$/.cpp/' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
  if [ -n "$changed" ]; then
    # shellcheck disable=SC2086
    scripts/clang-tidy-check $changed
  else
    echo "check.sh: no changed source files" >&2
  fi
fi
echo "check.sh: all good" >&2
