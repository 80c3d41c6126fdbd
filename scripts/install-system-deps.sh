#!/usr/bin/env bash
# System packages the project needs (Debian). Idempotent; skips what is already installed.
# R (with epiR and survival) produces reference fixtures; the tests read the committed CSVs,
# so R is only needed to regenerate them (scripts/regenerate-r-fixtures.sh).
set -euo pipefail
need=()
for pkg in ${MYOTRIAL_SYSTEM_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
