#!/usr/bin/env bash
# Installs ckptdb's build and test dependencies from Debian 12's archive. Idempotent: it asks apt
# only for packages that are missing, so a second run on a ready machine does nothing. help2man
# writes the man page (ckptdb.1) from the tool's --help-all.
set -euo pipefail
pkgs=(cmake g++ make librocksdb-dev libflatbuffers-dev flatbuffers-compiler libboost-filesystem-dev
      libgtest-dev libbenchmark-dev b3sum python3 python3-venv libdlpack-dev
      nlohmann-json3-dev libcli11-dev help2man)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}"
  sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
