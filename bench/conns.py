#!/usr/bin/env python3
# Memory per connection: opens N keep-alive connections to PORT, sends one GET each, reads the answer, holds them
# open, then prints the server's resident memory (KiB): all of it, the anonymous part (heap,
# stacks) and the file-backed part (the binary's and libraries' pages), and the peak. Usage: conns.py PID PORT N PATH
# (raise `ulimit -n` first). The README's figures: N=1000, /plaintext, WORKERS=2.
import socket, sys, time
pid, port, n, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def status():
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0])
    return out
before = status()
socks = []
req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
time.sleep(0.5)
after = status()
print(f"before rss={before['VmRSS']} KiB (anon {before['RssAnon']}, file {before['RssFile']}); "
      f"with {n} connections rss={after['VmRSS']} KiB (anon {after['RssAnon']}, file {after['RssFile']}) hwm={after['VmHWM']} KiB")
for s in socks: s.close()
