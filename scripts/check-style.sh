#!/usr/bin/env bash
# House style for C: clang-format clean, and braces around every body.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mapfile -t files < <(git ls-files -co --exclude-standard \
    'src/*.c' 'src/*.h' 'tests/unit/*.c' 'tests/unit/*.h' \
    'guest/*.c' 'guest/*.h' 'bench/*.c')
status=0
if ! clang-format --dry-run --Werror "${files[@]}"; then
    echo "style: run clang-format -i on the files above"
    status=1
fi
if ! /usr/bin/python3 "$top/scripts/check-braces.py" "${files[@]}"; then
    status=1
fi
exit $status
