#!/usr/bin/env bash
# Resident memory with many connections open: tether's bench_server beside raw hyper and
# axum, same machine, same run. Rounds interleave the servers (A B C A B C ...) so that
# drift (the page cache, the allocator) hits all of them alike. Each server starts with
# WORKERS=2, answers one request, then bench/conns.py opens N keep-alive connections, sends
# one GET on each, holds them, and reads /proc/PID/status. Prints every run (total,
# anonymous, file-backed, in KiB; anonymous bytes per connection, from the anonymous
# memory before and after) and each run's ratio to raw hyper's run of that round.
#
#   bench/rss.sh [ROUNDS] [CONNECTIONS]       defaults: 2 rounds of 1,000 connections
# Needs python3 and curl; raises `ulimit -n` itself.
set -euo pipefail
rounds=${1:-2}
n=${2:-1000}
cd "$(dirname "$0")/.."
cargo build --release -q -p peers --bins
cargo build --release -q -p bench-server
ulimit -n $((n * 2 + 256))
printf "%-6s %-10s %10s %10s %10s %9s %9s %9s\n" round server total_KiB anon_KiB file_KiB anon/conn total/raw anon/raw
for round in $(seq 1 "$rounds"); do
  raw_total="" raw_anon=""
  for pair in raw_hyper:target/release/raw_hyper tether:target/release/bench_server axum:target/release/axum_peer; do
    name=${pair%%:*} bin=${pair#*:}
    # Below the ephemeral range (32768-60999), where a client socket of an earlier run
    # could hold the port.
    port=$((20000 + RANDOM % 10000))
    PORT=$port WORKERS=2 "$bin" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/plaintext" && break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null || { echo "$name did not start on port $port"; exit 1; }
    line=$(python3 bench/conns.py "$pid" "$port" "$n" /plaintext)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    # "before rss=.. KiB (anon A0, ..); with N connections rss=T KiB (anon A, file F) hwm=.."
    read -r before total anon file < <(echo "$line" |
      sed -E 's/.*before rss=[0-9]+ KiB \(anon ([0-9]+),.*connections rss=([0-9]+) KiB \(anon ([0-9]+), file ([0-9]+)\).*/\1 \2 \3 \4/')
    [ -z "$raw_total" ] && raw_total=$total raw_anon=$anon
    printf "%-6s %-10s %10s %10s %10s %9d %9.3f %9.3f\n" "$round" "$name" "$total" "$anon" "$file" \
      $(((anon - before) * 1024 / n)) "$(echo "$total / $raw_total" | bc -l)" "$(echo "$anon / $raw_anon" | bc -l)"
    sleep 1
  done
done
