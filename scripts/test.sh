#!/usr/bin/env bash
# The project's test command (npm test): type-check, then every test file under Node's built-in runner, one file
# at a time (they share host resources: the registry on 127.0.0.1:5000, dockerd, CNI bridges).
#   scripts/test.sh            all tests
#   scripts/test.sh unit       only test/unit (no root, no host services)
#   scripts/test.sh FILE...    the given files
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = unit ]; then
  mapfile -t files < <(find test/unit -name '*.test.ts' | sort)
elif [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find test -name '*.test.ts' -not -path '*/fixtures/*' | sort)
fi
npx tsc --noEmit -p tsconfig.json
# Quality gates of the whole tree (cheap, so every run pays them): lint, import cycles, formatting.
if [ $# -eq 0 ]; then
  npx eslint .
  npx madge --circular --extensions ts src
  npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
fi
# A file that hangs fails after 20 minutes instead of eating CI's budget.
exec node --import tsx --test --test-concurrency=1 --test-timeout=1200000 "${files[@]}"
