#!/usr/bin/env bash
# Install the Debian 12 packages drover needs, only those missing.
# Idempotent: a second run installs nothing and takes a second.
set -euo pipefail

packages=(
    gcc gcc-multilib pkg-config meson ninja-build
    libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libsqlite3-dev
    qemu-system-x86 qemu-utils
    python3 python3-pytest
    clang-format iproute2 procps curl
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
