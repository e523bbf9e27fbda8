#!/usr/bin/env python3
"""Two bare QEMUs on this host, one migration between them: no agents.

A probe for QEMU's own behaviour, used to separate what QEMU does from what
drover does (docs/agent.md quotes its figures).  It starts a source QEMU
with the test guest, lets it run, optionally samples its dirty rate with
calc-dirty-rate, starts a paused destination with -incoming defer, and
migrates over loopback TCP with the given capabilities, printing QEMU's
progress whenever it changes and, at the end, total time, downtime and
setup time as QEMU reports them.

    bench/migration/qemu_pair.py [--caps events,xbzrle,postcopy-ram]
        [--sample-pages 4096] [--gap-s 1.5] [--append "wss=8 rate=5 hb=10"]
        [--prealloc source|destination] [--paused]
        [--xbzrle-cache BYTES] [--xbzrle-cache-at SECONDS:BYTES]

Needs a build (DROVER_BUILD_DIR, default ./build) for the test guest.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("DROVER_BUILD_DIR", os.path.join(REPO, "build"))
GUEST = os.path.join(BUILD, "guest", "drover-testguest.elf")
PORT = 4499
# what the agent gives a 256 MiB guest under TCG on QEMU < 9.0: off the
# 256 KiB grid, so the dirty-bitmap sync takes its per-page (correct) path
RAM_KIB = 262272
NS_SRC, NS_DST = "qpair-a", "qpair-b"
ADDR_SRC, ADDR_DST = "10.78.0.1", "10.78.0.2"


def sh(*argv):
    subprocess.run(argv, check=True)


def shaped_link_up(rate, sock_buf=None):
    """Two namespaces joined by a veth, both ends shaped like the bench's."""
    shaped_link_down()
    sh("ip", "netns", "add", NS_SRC)
    sh("ip", "netns", "add", NS_DST)
    sh("ip", "link", "add", "qpair-va", "netns", NS_SRC, "type", "veth",
       "peer", "name", "qpair-vb", "netns", NS_DST)
    for ns, dev, addr in ((NS_SRC, "qpair-va", ADDR_SRC),
                          (NS_DST, "qpair-vb", ADDR_DST)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        burst = max(rate // 8 // 1000, 65536 + 1514)
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
           "handle", "1:", "tbf", "rate", "%dbit" % rate, "burst", str(burst),
           "limit", str(burst + rate // 8 // 100))
        if sock_buf:
            # per namespace: caps what a socket may queue either way
            for key in ("tcp_wmem", "tcp_rmem"):
                sh("ip", "netns", "exec", ns, "sysctl", "-q",
                   "net.ipv4.%s=4096 %d %d" % (key, min(sock_buf, 131072),
                                               sock_buf))
    time.sleep(1)


def shaped_link_down():
    for ns in (NS_SRC, NS_DST):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


class Qmp:
    def __init__(self, path):
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")
        self.f.readline()
        self.events = []
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError("%s: %s" % (name, reply["error"]["desc"]))
            return reply["return"]


def start_qemu(tmp, name, args, extra, netns=None):
    path = os.path.join(tmp, name + ".qmp")
    prefix = ["ip", "netns", "exec", netns] if netns else []
    trace = args.trace
    if trace:
        # QEMU's log trace backend, each line stamped with the wall clock
        extra = extra + ["-msg", "timestamp=on",
                         "-D", os.path.join(tmp, name + ".trace")]
        for pattern in trace.split(","):
            extra += ["-trace", pattern]
    argv = prefix + ["qemu-system-x86_64", "-machine", "pc-i440fx-7.2", "-accel", "tcg",
            "-cpu", "qemu64", "-m", "%dK" % args.ram_kib, "-smp", "1", "-nodefaults",
            "-no-user-config", "-display", "none", "-S",
            "-chardev", "socket,id=qmp,path=%s,server=on,wait=off" % path,
            "-mon", "chardev=qmp,mode=control", "-serial", "null",
            "-kernel", GUEST, "-append", args.append] + extra
    return subprocess.Popen(argv), Qmp(path)


def ram_vma(pid, qmp):
    """The guest RAM's address range in QEMU's process: the anonymous
    read-write mapping exactly as long as pc.ram."""
    text = qmp.cmd("human-monitor-command",
                   {"command-line": "info ramblock"})
    size = None
    for line in text.splitlines():
        cols = line.split()
        if cols and cols[0] == "pc.ram":
            size = int(cols[4], 16)
    found = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            cols = line.split()
            lo, hi = (int(x, 16) for x in cols[0].split("-"))
            if cols[1] == "rw-p" and len(cols) == 5 and hi - lo == size:
                found.append((lo, hi))
    if len(found) != 1:
        raise RuntimeError("pc.ram of %s bytes: %d mappings" % (size, len(found)))
    return found[0]


def touch_ram(pid, qmp, stride=2 << 20):
    """Read one byte per stride of the guest RAM through /proc/PID/mem:
    each read maps the huge zero page over an untouched 2 MiB region."""
    lo, hi = ram_vma(pid, qmp)
    t = time.monotonic()
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for addr in range(lo, hi, stride):
            os.pread(fd, 1, addr)
    finally:
        os.close(fd)
    return (time.monotonic() - t) * 1000


def rss(pid):
    """What the process has resident, as the kernel says (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return "%d MiB" % (int(line.split()[1]) // 1024)
    return "?"


def event_us(qmp, name):
    for ev in qmp.events:
        if ev["event"] == name:
            return (ev["timestamp"]["seconds"] * 1000000 +
                    ev["timestamp"]["microseconds"])
    return None


def print_pause(src, dst):
    for _ in range(100):
        # each reply collects the events sent before it
        src.cmd("query-status")
        dst.cmd("query-status")
        stop, resume = event_us(src, "STOP"), event_us(dst, "RESUME")
        if stop and resume:
            print("post-copy pause (source STOP to destination RESUME) "
                  "%.1f ms" % ((resume - stop) / 1000))
            return
        time.sleep(0.02)
    print("post-copy pause: no STOP/RESUME pair seen (source %s, "
          "destination %s)" % ([e["event"] for e in src.events],
                               [e["event"] for e in dst.events]))


def print_xbzrle(stats):
    """QEMU's XBZRLE counters; cache-size is the parameter, which QEMU 7.2
    updates even when it does not resize the cache."""
    if stats:
        print("XBZRLE: cache-size %s, pages %s, cache-miss %s (rate %.3f), "
              "overflow %s" % (stats["cache-size"], stats["pages"],
                               stats["cache-miss"], stats["cache-miss-rate"],
                               stats["overflow"]))


def print_trace(tmp, stop_us):
    """Both QEMUs' trace lines in time order, in ms from the source's STOP."""
    lines = []
    for name in ("src", "dst"):
        path = os.path.join(tmp, name + ".trace")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                # pid@seconds.micros:event args
                head, _, rest = line.partition(":")
                stamp = head.partition("@")[2]
                try:
                    sec, usec = stamp.split(".")
                    us = int(sec) * 1000000 + int(usec)
                except ValueError:
                    continue
                lines.append((us, name, rest.strip()))
    lines.sort()
    base = stop_us or (lines[0][0] if lines else 0)
    for us, name, rest in lines:
        print("%9.3f  %s  %s" % ((us - base) / 1000, name, rest[:110]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--caps", default="events,xbzrle,auto-converge,postcopy-ram")
    p.add_argument("--sample-pages", type=int, default=0,
                   help="calc-dirty-rate first, with this many pages per GiB")
    p.add_argument("--sample-mode", default="page-sampling",
                   choices=["page-sampling", "dirty-bitmap"],
                   help="calc-dirty-rate's mode: reading sampled pages, or "
                   "counting the dirty log (no guest page is read)")
    p.add_argument("--gap-s", type=float, default=1.5,
                   help="from the sample's start to the migration's")
    p.add_argument("--append", default="wss=8 rate=5 hb=10 check=500")
    p.add_argument("--downtime-ms", type=int, default=35)
    p.add_argument("--bandwidth", type=int, default=125000000,
                   help="max-bandwidth, bytes/s")
    p.add_argument("--prealloc", choices=["source", "destination"])
    p.add_argument("--dest-sample", action="store_true",
                   help="calc-dirty-rate on the incoming QEMU too, before "
                   "the stream: its reads map the huge zero page")
    p.add_argument("--dest-touch", type=int, metavar="STRIDE",
                   help="read one byte per STRIDE bytes of the incoming "
                   "QEMU's RAM through /proc/PID/mem before the stream")
    p.add_argument("--src-touch", type=int, metavar="STRIDE",
                   help="the same on the source, before the stream")
    p.add_argument("--record", metavar="FILE",
                   help="write every query-migrate answer, one JSON object "
                   "per line, as polled every --poll-ms (the agent's 250)")
    p.add_argument("--poll-ms", type=int, default=10)
    p.add_argument("--throttle-threshold", type=int, default=100,
                   help="auto-converge throttles when the guest dirties "
                   "this %% of what is sent (the agent's adaptive: 50)")
    p.add_argument("--max-s", type=float,
                   help="cancel the migration after this long")
    p.add_argument("--paused", action="store_true",
                   help="never run the source guest (RAM untouched)")
    p.add_argument("--shaped", metavar="BITS_PER_S", type=int,
                   help="over a tbf-shaped veth between two namespaces "
                   "(root) instead of loopback")
    p.add_argument("--dest-sample-nowait", action="store_true",
                   help="with --dest-sample: migrate without waiting for "
                   "the destination's sample to end (its reads come first)")
    p.add_argument("--dest-sample-delay-s", type=float, default=0,
                   help="with --dest-sample-nowait: wait this long first")
    p.add_argument("--postcopy-after-s", type=float,
                   help="migrate-start-postcopy this long after the start "
                   "(needs postcopy-ram in --caps); prints the pause from "
                   "the source's STOP to the destination's RESUME")
    p.add_argument("--sock-buf", type=int, metavar="BYTES",
                   help="with --shaped: the most a TCP socket may buffer in "
                   "either namespace (tcp_wmem/tcp_rmem maximum)")
    p.add_argument("--trace", metavar="PATTERNS",
                   help="QEMU trace events on both sides (comma-separated "
                   "patterns, e.g. 'savevm_send_postcopy*,loadvm_postcopy*'); "
                   "printed in time order from the source's STOP")
    p.add_argument("--ram-kib", type=int, default=RAM_KIB,
                   help="guest RAM; a multiple of 256 takes QEMU 7.2's "
                   "word-wise dirty sync, which loses TCG writes")
    p.add_argument("--xbzrle-cache", type=int, default=65536,
                   metavar="BYTES", help="XBZRLE cache at the start "
                   "(default 64 KiB, the agent's standby)")
    p.add_argument("--xbzrle-cache-at", metavar="SECONDS:BYTES",
                   help="resize the XBZRLE cache this long into the "
                   "migration, as adaptive did (a no-op in QEMU 7.2)")
    args = p.parse_args()
    if not os.path.exists(GUEST):
        sys.exit("no test guest at %s (set DROVER_BUILD_DIR)" % GUEST)

    procs = []
    record = None
    src_ns = dst_ns = None
    host = "127.0.0.1"
    if args.shaped:
        shaped_link_up(args.shaped, args.sock_buf)
        src_ns, dst_ns, host = NS_SRC, NS_DST, ADDR_DST
    with tempfile.TemporaryDirectory(prefix="qemu-pair-") as tmp:
        try:
            src_extra = ["-mem-prealloc"] if args.prealloc == "source" else []
            dst_extra = ["-incoming", "defer"] + (
                ["-mem-prealloc"] if args.prealloc == "destination" else [])
            proc, src = start_qemu(tmp, "src", args, src_extra, src_ns)
            procs.append(proc)
            if not args.paused:
                src.cmd("cont")
            time.sleep(6)
            if args.sample_pages:
                sample = {"calc-time": 1, "sample-pages": args.sample_pages}
                if args.sample_mode != "page-sampling":
                    sample = {"calc-time": 1, "mode": args.sample_mode}
                src.cmd("calc-dirty-rate", sample)
                time.sleep(args.gap_s)
                rate = src.cmd("query-dirty-rate")
                print("dirty rate %s MiB/s (%s, %s)"
                      % (rate.get("dirty-rate"), rate.get("status"),
                         rate.get("mode")))
            if args.src_touch:
                print("source touched in %.1f ms"
                      % touch_ram(procs[0].pid, src, args.src_touch))
            proc, dst = start_qemu(tmp, "dst", args, dst_extra, dst_ns)
            procs.append(proc)
            if args.dest_touch:
                print("destination touched in %.1f ms"
                      % touch_ram(proc.pid, dst, args.dest_touch))
            if args.dest_sample:
                t = time.monotonic()
                dst.cmd("calc-dirty-rate", {"calc-time": 1,
                                            "sample-pages": 4096})
                while not args.dest_sample_nowait and \
                        dst.cmd("query-dirty-rate")["status"] != "measured":
                    time.sleep(0.05)
                time.sleep(args.dest_sample_delay_s)
                print("destination sample %.0f ms"
                      % ((time.monotonic() - t) * 1000))
            caps = [{"capability": c, "state": True}
                    for c in args.caps.split(",") if c]
            dst.cmd("migrate-set-capabilities", {"capabilities": caps})
            dst.cmd("migrate-incoming", {"uri": "tcp:%s:%d" % (host, PORT)})
            src.cmd("migrate-set-capabilities", {"capabilities": caps})
            src.cmd("migrate-set-parameters",
                    {"downtime-limit": args.downtime_ms,
                     "max-bandwidth": args.bandwidth,
                     "xbzrle-cache-size": args.xbzrle_cache,
                     "throttle-trigger-threshold": args.throttle_threshold})
            t0 = time.monotonic()
            src.cmd("migrate", {"uri": "tcp:%s:%d" % (host, PORT)})
            print("  ms  status  pass  remaining KiB  transferred KiB  zero  "
                  "normal  mbps")
            last = None
            switched = False
            resize = None
            xbzrle = None
            if args.xbzrle_cache_at:
                at, size = args.xbzrle_cache_at.split(":")
                resize = (float(at), int(size))
            if args.record:
                record = open(args.record, "w")
            while True:
                if args.max_s is not None and \
                        time.monotonic() - t0 >= args.max_s:
                    src.cmd("migrate_cancel")
                    args.max_s = None
                if args.postcopy_after_s is not None and not switched and \
                        time.monotonic() - t0 >= args.postcopy_after_s:
                    src.cmd("migrate-start-postcopy")
                    # as the agent does: the incoming QEMU then runs the
                    # guest as soon as its device state is loaded
                    dst.cmd("cont")
                    switched = True
                if resize is not None and \
                        time.monotonic() - t0 >= resize[0]:
                    src.cmd("migrate-set-parameters",
                            {"xbzrle-cache-size": resize[1]})
                    resize = None
                info = src.cmd("query-migrate")
                if record:
                    record.write(json.dumps(info, sort_keys=True) + "\n")
                ram = info.get("ram", {})
                row = (info["status"], ram.get("dirty-sync-count"),
                       ram.get("remaining", 0) // 1024,
                       ram.get("transferred", 0) // 1024,
                       ram.get("duplicate"), ram.get("normal"),
                       int(ram.get("mbps", 0)))
                if row != last:
                    print("%5.0f  %s" % ((time.monotonic() - t0) * 1000,
                                         "  ".join(str(x) for x in row)))
                    last = row
                if info["status"] == "cancelled":
                    print("cancelled after %.0f ms"
                          % ((time.monotonic() - t0) * 1000))
                    print_xbzrle(xbzrle)
                    return 1
                xbzrle = info.get("xbzrle-cache") or xbzrle
                if info["status"] in ("completed", "failed") and switched:
                    print_pause(src, dst)
                if info["status"] in ("completed", "failed"):
                    # QEMU may say "completed" before it fills the figures
                    for _ in range(20):
                        if info.get("total-time"):
                            break
                        time.sleep(0.05)
                        info = src.cmd("query-migrate")
                    done_at = time.monotonic()
                    # the destination may still be loading what it received
                    while dst.cmd("query-migrate").get("status") not in (
                            "completed", "failed") and \
                            time.monotonic() - done_at < 30:
                        time.sleep(0.005)
                    if args.trace:
                        src.cmd("query-status")
                        print_trace(tmp, event_us(src, "STOP"))
                    print("total-time %s ms, downtime %s ms, setup-time %s ms, "
                          "destination done %.0f ms later"
                          % (info.get("total-time"), info.get("downtime"),
                             info.get("setup-time"),
                             (time.monotonic() - done_at) * 1000))
                    print_xbzrle(info.get("xbzrle-cache") or xbzrle)
                    print("resident RAM: source %s, destination %s"
                          % (rss(procs[0].pid), rss(procs[1].pid)))
                    return 0 if info["status"] == "completed" else 1
                time.sleep(args.poll_ms / 1000)
        finally:
            if record:
                record.close()
            for proc in procs:
                proc.kill()
                proc.wait()
            if args.shaped:
                shaped_link_down()


if __name__ == "__main__":
    sys.exit(main())
