#!/usr/bin/env bash
# Configure (once) and build drover into build/ (or $DROVER_BUILD_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DROVER_BUILD_DIR:-$top/build}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" >/dev/null
