#!/usr/bin/env bash
# Install Debian packages with apt-get WITHOUT starting or changing any system service.
#
#   scripts/install-package.sh PKG...
#
# Debian packages such as redis-server and prosody start (and enable) a system service
# when installed. imload starts its own private copies, so while apt-get runs a
# /usr/sbin/policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d from
# starting anything. The file is created only when it is not there already, and removed
# afterwards (on failure too) only when this script created it.
#
# Exit codes: 0 installed; 1 apt-get failed; 2 cannot install here (not root, no apt-get)
# or no package named.
set -euo pipefail
say() { printf '[install-package] %s\n' "$*"; }
die() { printf '[install-package] error: %s\n' "$1" >&2; exit "${2:-2}"; }  # die MESSAGE [CODE]

[ "$#" -ge 1 ] || die "usage: $0 PKG..."
if [ "$(id -u)" != 0 ]; then
  die "installing $* needs root: run  sudo $0 $*  (or: sudo apt-get install $*)"
fi
command -v apt-get >/dev/null 2>&1 \
  || die "apt-get not found: install $* with this system's package manager"

POLICY=${POLICY_RC_D:-/usr/sbin/policy-rc.d}  # the variable is for tests only
created_policy=0
cleanup() {
  if [ "$created_policy" = 1 ]; then rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$POLICY"
  chmod +x "$POLICY"
  created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
say "installing $* with apt-get (no service is started)"
if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
  # the package lists may be missing or stale (a fresh container): update once, retry
  say "apt-get install failed; running apt-get update and trying again"
  apt-get update -qq >/dev/null || die "apt-get update failed" 1
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed" 1
fi
say "installed $*"
