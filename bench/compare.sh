#!/usr/bin/env bash
# Load comparison: tether's bench_server beside raw hyper and axum, same machine, same run.
#
# Each server is pinned to core 0 with WORKERS=1; wrk runs on core 1. Rounds interleave the
# servers (A B C A B C ...) so that drift in the machine hits all of them alike. For each
# round it records requests/s (wrk) and the server's user CPU per request (utime from
# /proc/PID/stat over the run, divided by requests served). It prints the median and the
# spread (min-max) per server and path, and the ratios of the medians to raw hyper.
#
#   bench/compare.sh [ROUNDS] [SECONDS]        defaults: 5 rounds of 5 s per server/path
#   PATHS="/plaintext /json" bench/compare.sh  choose paths
#   EXTRA_BIN=path EXTRA_NAME=name ...          add a fourth server (e.g. tether with metrics)
# Needs wrk (apt-get install wrk) and taskset (util-linux).
set -euo pipefail
rounds=${1:-5}
secs=${2:-5}
paths=${PATHS:-"/plaintext /json /user/42"}
cd "$(dirname "$0")/.."
cargo build --release -q -p peers --bins
cargo build --release -q -p bench-server
declare -A bins=([raw_hyper]=target/release/raw_hyper [tether]=target/release/bench_server [axum]=target/release/axum_peer)
names="raw_hyper tether axum"
if [ -n "${EXTRA_BIN:-}" ]; then bins[${EXTRA_NAME:-extra}]=$EXTRA_BIN; names="$names ${EXTRA_NAME:-extra}"; fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
tick=$(getconf CLK_TCK)
out=$(mktemp)
port=$((20000 + RANDOM % 10000))  # below the ephemeral range
for round in $(seq 1 "$rounds"); do
  for name in $names; do
    PORT=$port WORKERS=1 taskset -c 0 "${bins[$name]}" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/plaintext" && break; sleep 0.05; done
    for path in $paths; do
      taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:$port$path" >/dev/null   # warm-up
      before=$(awk '{print $14}' /proc/$pid/stat)
      res=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$port$path")
      after=$(awk '{print $14}' /proc/$pid/stat)
      reqs=$(echo "$res" | awk '/requests in/ {print $1}')
      rps=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
      us=$(awk -v a="$before" -v b="$after" -v n="$reqs" -v t="$tick" 'BEGIN {printf "%.3f", (b-a)/t*1e6/n}')
      echo "$name $path $rps $us" >>"$out"
    done
    kill $pid; wait $pid 2>/dev/null || true
  done
done
python3 - "$out" "$names" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, path, rps, us = line.split()
    rows[(name, path)].append((float(rps), float(us)))
names = sys.argv[2].split()
paths = sorted({p for _, p in rows}, key=lambda p: ["/plaintext", "/json", "/user/42"].index(p) if p in ["/plaintext", "/json", "/user/42"] else 9)
print(f"{'server':<12}{'path':<12}{'req/s median':>14}{'spread':>22}{'user µs/req':>13}{'spread':>16}{'rps/raw':>9}{'cpu/raw':>9}")
for path in paths:
    base = rows[("raw_hyper", path)]
    brps = statistics.median(r for r, _ in base); bus = statistics.median(u for _, u in base)
    for name in names:
        v = rows[(name, path)]
        rps = [r for r, _ in v]; us = [u for _, u in v]
        mr, mu = statistics.median(rps), statistics.median(us)
        print(f"{name:<12}{path:<12}{mr:>14.0f}{f'{min(rps):.0f}-{max(rps):.0f}':>22}{mu:>13.2f}{f'{min(us):.2f}-{max(us):.2f}':>16}{mr/brps:>9.3f}{mu/bus:>9.3f}")
PY
rm -f "$out"
