#!/bin/sh
# Installs what layergeom needs to build and test, on Debian or Ubuntu.
# Safe to run again: it installs only what is missing.
set -eu
PKGS="build-essential cmake pkg-config liblz4-dev libzstd-dev libopenblas-dev libcmocka-dev python3-numpy"
# --python:  what the Python package and its tests need (pip, venv, pytest; torch and
#            pandas for layergeom.torch and Profile.to_pandas)
# --browser: Chromium, which the report test uses to render the HTML page
# --fuzz:    clang, its libFuzzer runtime, and valgrind (scripts/fuzz.sh, CI)
# --mpi:     Open MPI, for the optional distributed build (-DLAYERGEOM_MPI=ON)
for opt in "$@"; do
  case "$opt" in
    --browser) PKGS="$PKGS chromium" ;;
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev valgrind" ;;
    --mpi) PKGS="$PKGS libopenmpi-dev openmpi-bin" ;;
    --python) PKGS="$PKGS python3-pip python3-venv python3-setuptools python3-pytest python3-torch python3-pandas python3-tqdm" ;;
    *) echo "setup: unknown option $opt" >&2; exit 2 ;;
  esac
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
