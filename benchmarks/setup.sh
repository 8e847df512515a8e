#!/usr/bin/env bash
# Set-up for the benchmarks: Debian's game soundtracks (reference and hold-out music), Chromaprint
# (libchromaprint for pyacoustid, fpcalc), and the peers from PyPI: the video peers vpdq and tmkpy
# build from their sdists against FFmpeg's headers (tmkpy also needs swig and runs the ffmpeg program).
# Run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    wesnoth-1.16-music nexuiz-music warzone2100-music asc-music libchromaprint-tools \
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev \
    libswresample-dev pkg-config swig ffmpeg
python -m pip install --quiet -e '.[dev,bench]'
python -m pip install --quiet vpdq tmkpy
