#!/usr/bin/env bash
# Instructions per request (callgrind, deterministic) for tether's bench_server beside raw
# hyper and axum, on each path, with the ratio to raw hyper. Wraps ../shared/tools/irq.sh.
#   bench/irq.sh [PATH...]        default: /plaintext /json /user/42
set -euo pipefail
cd "$(dirname "$0")/.."
irq=${IRQ:-../shared/tools/irq.sh}
[ -x "$irq" ] || [ -f "$irq" ] || { echo "no irq.sh at $irq (set IRQ=)"; exit 1; }
cargo build --release -q -p peers --bins
cargo build --release -q -p bench-server
paths=${*:-/plaintext /json /user/42}
printf "%-12s %-12s %10s %8s\n" server path Ir/req ratio
for path in $paths; do
  base=""
  for pair in raw_hyper:target/release/raw_hyper tether:target/release/bench_server axum:target/release/axum_peer; do
    name=${pair%%:*} bin=${pair#*:}
    ir=$(bash "$irq" "$bin" "$path" 2>/dev/null | awk '/Ir\/request/ {print $NF}')
    [ -z "$base" ] && base=$ir
    printf "%-12s %-12s %10s %8.3f\n" "$name" "$path" "$ir" "$(echo "$ir / $base" | bc -l)"
  done
done
