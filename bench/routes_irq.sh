#!/usr/bin/env bash
# Instructions per request (callgrind, deterministic) for tether's in-process dispatch on
# the 203-route GitHub API set that Gin's router benchmarks use, beside Gin's own figure.
# Runs `benches/github_routes.rs --measure-only` under callgrind, collecting only inside
# its measured loop (ROUNDS rounds of the 203 requests, after a warm-up).
#   bench/routes_irq.sh [ROUNDS]      default 50 (10,150 requests)
# Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
bin=$(cargo bench -q -p tether --bench github_routes --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "github_routes" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp)
ROUNDS=$rounds valgrind --tool=callgrind --toggle-collect='*measured_rounds*' --callgrind-out-file="$out" \
  "$bin" --measure-only >/dev/null 2>&1
ir=$(awk '/^summary:/ {print $2}' "$out")
rm -f "$out"
requests=$((rounds * 203))
printf "GitHub API routes, in-process dispatch: %d instructions per request (%d requests)\n" \
  $((ir / requests)) "$requests"
echo "Gin's ServeHTTP on the same routes: 1,122 (pool, lookup, handler call); matchit's lookup alone: 601; tether's segment tree: about 420; tether's whole dispatch before this round: 1,759"
