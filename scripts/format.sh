#!/bin/sh
# Formats the C++ sources (src/, tests/, bench/: *.cpp, *.hpp) with clang-format 14 and the
# repository's .clang-format.
#
# Usage: scripts/format.sh [--check] [FILE...]
#   --check  change nothing: list the files whose formatting differs and exit 1 if there are any
#            (what CI runs)
#   FILE...  only these files (default: every tracked or new, not ignored, source file)
set -eu
cd "$(dirname "$0")/.."

check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi

clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null; then
  echo "format.sh: $clang_format not found; run scripts/setup-deps" >&2
  exit 2
fi
# Another major version formats some constructs differently: the result would not match CI.
case $("$clang_format" --version) in
  *"version 14."*) ;;
  *) echo "format.sh: warning: CI uses clang-format 14, this is: $("$clang_format" --version)" >&2 ;;
esac

list=$(mktemp)
trap 'rm -f "$list"' EXIT
if [ $# -gt 0 ]; then
  printf '%s\n' "$@" >"$list"
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files --cached --others --exclude-standard -- \
    'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 'bench/*.cpp' 'bench/*.hpp' >"$list"
else
  find src tests bench -name '*.cpp' -o -name '*.hpp' | sort >"$list"
fi

if [ "$check" -eq 1 ]; then
  bad=0
  while IFS= read -r file; do
    [ -f "$file" ] || continue
    if ! "$clang_format" --style=file --dry-run --Werror "$file" >/dev/null 2>&1; then
      echo "format.sh: needs formatting: $file" >&2
      bad=1
    fi
  done <"$list"
  if [ "$bad" -ne 0 ]; then
    echo "format.sh: run scripts/format.sh to fix" >&2
    exit 1
  fi
  exit 0
fi

xargs -r "$clang_format" --style=file -i <"$list"
