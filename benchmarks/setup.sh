#!/usr/bin/env bash
# Set-up for the benchmarks: Debian's game soundtracks (reference and hold-out music), Chromaprint
# (libchromaprint for pyacoustid, fpcalc), and the peers from PyPI. Run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    wesnoth-1.16-music nexuiz-music warzone2100-music asc-music libchromaprint-tools
python -m pip install --quiet -e '.[dev,bench]'
