#!/usr/bin/env bash
# Instructions per request (callgrind) for Gin beside tether's bench_server, with and
# without the access log: the anchor for what `logger()` costs. Gin is Debian's package,
# built in GOPATH mode (no module download); the Go runtime runs under callgrind with
# async preemption off and one P, so its own threads stay quiet (repeats agree to ~0.5 %;
# Go's garbage collector runs when it will, so they are not identical as Rust's are).
#   bench/gin_irq.sh [PATH...]     default: /plaintext /user/42
# Needs: apt-get install golang-go golang-github-gin-gonic-gin-dev valgrind
set -euo pipefail
cd "$(dirname "$0")/.."
irq=${IRQ:-../shared/tools/irq.sh}
command -v go >/dev/null || { echo "go is not installed (apt-get install golang-go)"; exit 1; }
[ -d /usr/share/gocode/src/github.com/gin-gonic/gin ] ||
  { echo "Gin is not installed (apt-get install golang-github-gin-gonic-gin-dev)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/ginpeer"
cp bench/gin/main.go "$work/src/ginpeer/"
GOPATH="$work:/usr/share/gocode" GO111MODULE=off GOFLAGS= go build -o "$work/gin_server" ginpeer
cargo build --release -q -p bench-server
paths=${*:-/plaintext /user/42}
count() { bash "$irq" "$1" "$2" 2>/dev/null | awk '/Ir\/request/ {print $NF}'; }
printf "%-8s %-10s %12s %12s %12s %10s\n" server path "Ir/req" "+logger" "+logger+rec" "logger"
for path in $paths; do
  for pair in gin:"$work/gin_server" tether:target/release/bench_server; do
    name=${pair%%:*} bin=${pair#*:}
    export GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1
    base=$(LOGGER=0 RECOVERY=0 count "$bin" "$path")
    logged=$(LOGGER=1 RECOVERY=0 count "$bin" "$path")
    both=$(LOGGER=1 RECOVERY=1 count "$bin" "$path")
    printf "%-8s %-10s %12s %12s %12s %10s\n" "$name" "$path" "$base" "$logged" "$both" "$((logged - base))"
  done
done
