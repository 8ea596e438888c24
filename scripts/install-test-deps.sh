#!/usr/bin/env bash
# Installs (Debian packages, with apt-get) what tether's tests need and the machine lacks.
# Called by scripts/test.sh and .ci/run; does nothing when all is there.
#
# What the tests need besides Rust, and why:
# - golang-go: `go tool pprof` reads the CPU and heap profiles the pprof tests take;
# - pkg-config, fontconfig + freetype headers and a font: tether-soak draws its charts;
# - chromium: a real browser loads a page and its server-sent events (tests/it/browser.rs);
# - prometheus (for promtool): the shipped alert rules are checked and unit-tested
#   (tests/it/alert_rules.rs); installed without its recommends (no exporters, no service).
# - redis-server: two engines share rate limits and a cache through a real Redis
#   (tests/redis_store.rs starts its own on a free loopback port; the package's service
#   is not used).
# - python3: .ci/run checks the module graph (scripts/module_cycles.py).
set -euo pipefail

packages=()
command -v go >/dev/null 2>&1 || packages+=(golang-go)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
pkg-config --exists fontconfig 2>/dev/null || packages+=(libfontconfig1-dev)
pkg-config --exists freetype2 2>/dev/null || packages+=(libfreetype-dev)
command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q . || packages+=(fontconfig fonts-dejavu-core)
[ -x /usr/bin/chromium ] || packages+=(chromium)
lean=()
command -v promtool >/dev/null 2>&1 || lean+=(prometheus)
command -v redis-server >/dev/null 2>&1 || lean+=(redis-server)
command -v python3 >/dev/null 2>&1 || lean+=(python3)

if ((${#packages[@]} + ${#lean[@]})); then
  echo "== installing ${packages[*]} ${lean[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "The tests need these Debian packages: ${packages[*]} ${lean[*]}." >&2
      echo "Install them as root (apt-get install ${packages[*]} ${lean[*]}), then run this again." >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  if ((${#packages[@]})); then
    "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
  if ((${#lean[@]})); then
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
  fi
fi

