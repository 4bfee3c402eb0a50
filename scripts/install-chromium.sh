#!/usr/bin/env bash
# Install Debian's Chromium (for the HTML report's rendering test), idempotently.
#   Already on PATH (chromium or chromium-browser): prints its path, does nothing.
#   Root with apt-get: apt-get update, then apt-get install -y chromium.
#   Otherwise: says how to install it and exits 3 (the rendering test then skips).
# Exit codes: 0 installed or already there, 2 the install failed, 3 cannot install (not root).
set -euo pipefail
say() { printf '[install-chromium] %s\n' "$*"; }

for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then
    say "$name: $(command -v "$name")"
    exit 0
  fi
done

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "chromium is missing and this is not root with apt-get:"
  say "  install it with: sudo apt-get update && sudo apt-get install -y chromium"
  exit 3
fi

say "installing Debian's chromium with apt-get (once)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null; then
  say "apt-get update failed"
  exit 2
fi
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
  say "apt-get install chromium failed"
  exit 2
fi
command -v chromium >/dev/null 2>&1 || { say "chromium is still not on PATH"; exit 2; }
say "chromium: $(command -v chromium)"
