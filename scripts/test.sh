#!/usr/bin/env bash
# The README's second command: install what is missing, build, and run every
# test (style, unit, system).  The last line is "N passed, N failed".
#
#   scripts/test.sh                 everything
#   scripts/test.sh unit            one suite: style, unit or system
#   scripts/test.sh system -k idle  extra arguments go to pytest
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DROVER_BUILD_DIR:-$top/build}
export DROVER_BUILD_DIR=$build
suite=${1:-all}
[ $# -gt 0 ] && shift

"$top/scripts/install-deps.sh" || exit 1
"$top/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }

results=$build/test-results
rm -rf "$results"
mkdir -p "$results"

if [ "$suite" = all ] || [ "$suite" = style ]; then
    echo "== style"
    if "$top/scripts/check-style.sh" >"$results/style.log" 2>&1; then
        echo "pass" >"$results/style.result"
    else
        cat "$results/style.log"
        echo "fail" >"$results/style.result"
    fi
fi
if [ "$suite" = all ] || [ "$suite" = unit ]; then
    echo "== unit"
    touch "$results/unit.expected"
    meson test -C "$build" --suite unit --print-errorlogs \
        >"$results/unit.log" 2>&1 || cat "$results/unit.log"
    cp "$build/meson-logs/testlog.json" "$results/unit.json" 2>/dev/null
fi
if [ "$suite" = all ] || [ "$suite" = system ]; then
    echo "== system"
    touch "$results/system.expected"
    (cd "$top/tests/system" &&
        /usr/bin/python3 -m pytest -q -p no:cacheprovider \
            --junitxml="$results/system.xml" "$@")
fi
/usr/bin/python3 "$top/scripts/test-summary.py" "$results"
