#!/usr/bin/env bash
# Set up everything imload needs on a fresh machine, idempotently:
#   .venv with the package and its dev dependencies,
#   redis-server, prosody, ejabberd, mosquitto and prometheus (scripts/install-package.sh
#   when root; otherwise says how),
#   toxiproxy-server (built with Go into ./bin when not on PATH).
# A second run skips what is already there. Setup never stops or changes anything it did
# not start: packages are installed without starting their system services.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOXIPROXY_VERSION=v2.12.0
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 2; }

# 1. Python virtualenv and the package (IMLOAD_VENV names another folder: the tests set up a
#    fresh one to check that the install is quiet).
PY=${PYTHON:-python3}
VENV=${IMLOAD_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PY --version 2>&1)"
  "$PY" -m venv "$VENV" || die "could not create $VENV: install python3-venv"
fi
stamp=$VENV/.imload-installed
# (again when the dependencies or the C extension's source changed: setup.py builds it)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
    || [ imload/journal/_colbuf.c -nt "$stamp" ]; then
  say "installing imload and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # setuptools' one informational note on editable installs is not a warning: keep it off screen
  PYTHONWARNINGS="ignore:Editable installation" \
    "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
  touch "$stamp"
else
  say "$VENV is up to date"
fi

# 2. Debian packages: redis-server (the reference cluster's store), prosody, ejabberd and
#    mosquitto (imload cluster up --backend prosody / ejabberd / mosquitto), prometheus (its
#    server and promtool: the tests scrape imload's exporter with it, docs/metrics.md),
#    nftables (packet faults, docs/chaos.md). Their
#    system services are never started (ejabberd's epmd neither: imload runs its own).
need_package() {  # need_package COMMAND PACKAGE
  if command -v "$1" >/dev/null 2>&1; then
    say "$1: $(command -v "$1")"
  elif [ -x "/usr/sbin/$1" ]; then  # ejabberdctl, mosquitto: not on a non-root user's PATH
    say "$1: /usr/sbin/$1"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ -z "${APT_UPDATED:-}" ]; then
      apt-get update -qq >/dev/null || die "apt-get update failed"
      APT_UPDATED=1
    fi
    bash scripts/install-package.sh "$2" || die "could not install $2"
  else
    die "$1 is missing: install it (sudo scripts/install-package.sh $2, or sudo apt-get install $2) and run again"
  fi
}
need_package redis-server redis-server
need_package prosody prosody
need_package ejabberdctl ejabberd
need_package mosquitto mosquitto
need_package prometheus prometheus
need_package nft nftables  # packet faults (kind = "netem") as root: docs/chaos.md
need_package iptables iptables  # netem's userspace emulator (NFQUEUE): docs/chaos.md

# 3. toxiproxy-server.
mkdir -p bin
if command -v toxiproxy-server >/dev/null 2>&1; then
  say "toxiproxy-server: $(command -v toxiproxy-server)"
elif [ -x bin/toxiproxy-server ]; then
  say "toxiproxy-server: $ROOT/bin/toxiproxy-server"
else
  command -v go >/dev/null 2>&1 || die "toxiproxy-server is missing and Go is not installed: install Go >= 1.22 or put toxiproxy-server on PATH"
  say "building toxiproxy-server $TOXIPROXY_VERSION with Go (once)"
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
    || { rm -rf "$tmp"; die "go install of toxiproxy failed"; }
  mv "$tmp/server" bin/toxiproxy-server
  rm -rf "$tmp"
fi
say "ready"
