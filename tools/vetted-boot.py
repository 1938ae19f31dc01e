#!/usr/bin/env python3
"""Boots a seL4 image in QEMU and checks its serial console (used by ci/sel4.sh).

    vetted-boot.py --timeout S --expect TEXT... [--count TEXT N...] [--fail TEXT...]
                   [--first TEXT] [--send-after MARKER TEXT] [--log FILE] -- QEMU COMMAND...

Passes (exit 0) when every --expect text has appeared on the console (and
every --count text at least N times: e.g. a line several PDs print), fails
(exit 1) on any --fail text, on a timeout, or when QEMU exits first. QEMU is
killed at the end in every case (it never exits on its own). Prints the wall
time from QEMU's start to the first --first text (the first application
output) and to the last expected text.
"""
import argparse, os, selectors, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--expect", action="append", default=[])
ap.add_argument("--count", nargs=2, action="append", default=[], metavar=("TEXT", "N"),
                help="TEXT must appear at least N times")
ap.add_argument("--fail", action="append", default=[])
ap.add_argument("--first")
ap.add_argument("--log")
ap.add_argument("--quiet", action="store_true")
ap.add_argument("--send-after", nargs=2, action="append", default=[], metavar=("MARKER", "TEXT"),
                help="type TEXT on the console once MARKER has appeared")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
if not cmd:
    sys.exit("vetted-boot: no QEMU command given")

t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.PIPE if a.send_after else subprocess.DEVNULL,
                     stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, start_new_session=True)
sel = selectors.DefaultSelector()
sel.register(p.stdout, selectors.EVENT_READ)
buf = b""
seen = {}
first = None
verdict = None
try:
    while verdict is None:
        left = a.timeout - (time.monotonic() - t0)
        if left <= 0:
            verdict = f"timeout after {a.timeout:.0f} s"
            break
        if not sel.select(min(left, 0.5)):
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            verdict = "QEMU exited before the expected output"
            break
        buf += chunk
        now = time.monotonic() - t0
        text = buf.decode("utf-8", "replace")
        if a.first and first is None and a.first in text:
            first = now
        for e in a.expect:
            if e not in seen and e in text:
                seen[e] = now
        for e, n in a.count:
            key = f"{e} (x{n})"
            if key not in seen and text.count(e) >= int(n):
                seen[key] = now
        for pair in list(a.send_after):
            if pair[0] in text:
                a.send_after.remove(pair)
                p.stdin.write(pair[1].encode())
                p.stdin.flush()
        for f in a.fail:
            if f in text:
                verdict = f"failure text on the console: {f!r}"
        if verdict is None and len(seen) == len(a.expect) + len(a.count):
            verdict = "ok"
finally:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()

text = buf.decode("utf-8", "replace")
if a.log:
    with open(a.log, "w") as f:
        f.write(text)
if not a.quiet or verdict != "ok":
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
if first is not None:
    print(f"BOOT-TIME first-output {first:.3f} s")
if seen:
    print(f"BOOT-TIME all-expected {max(seen.values()):.3f} s")
missing = [e for e in a.expect if e not in seen] + [
    f"{e} (x{n})" for e, n in a.count if f"{e} (x{n})" not in seen]
if verdict != "ok":
    print(f"FAIL: {verdict}; missing: {missing}")
    sys.exit(1)
print("PASS: every expected line appeared")
