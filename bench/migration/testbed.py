"""The benchmark's network: two namespaces joined by one shaped veth pair.

    drvbench-a (10.77.0.1/24, drvbench-va) <==veth==> drvbench-b (10.77.0.2/24, drvbench-vb)

Each veth end gets the same egress shaping, so both directions are limited:

    tc qdisc add dev DEV root handle 1: netem delay LAT limit 10000     (when LAT > 0)
    tc qdisc add dev DEV parent 1:1 handle 10: tbf rate R burst B limit L

or, with no delay (or a kernel without sch_netem), tbf alone as the root qdisc.
B is 1 ms worth of bytes at R (at least 64 KiB, so a GSO super-packet fits in
one bucket) and L is B plus 10 ms of queue at R.

Only namespace-internal addresses are used.  Setup is idempotent: namespaces
with our prefix left behind by an earlier, killed run are emptied (their
processes killed by PID) and deleted first.
"""

import os
import re
import signal
import subprocess
import time

PREFIX = "drvbench-"
NS_A = PREFIX + "a"
NS_B = PREFIX + "b"
DEV_A = PREFIX + "va"
DEV_B = PREFIX + "vb"
ADDR_A = "10.77.0.1"
ADDR_B = "10.77.0.2"
NETMASK = 24


class TestbedError(Exception):
    pass


def parse_rate(text):
    """'1gbit', '500mbit', '10Gbit', '100000kbit' -> bits per second."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(bit|bps)?\s*",
                     text.lower())
    if not m:
        raise ValueError("link rate %r: expected e.g. 1gbit, 500mbit" % text)
    value = float(m.group(1))
    value *= {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2)]
    if m.group(3) == "bps":   # tc's "bps" means bytes per second
        value *= 8
    if value < 1e6:
        raise ValueError("link rate %r is below 1 Mbit/s" % text)
    return int(value)


def _run(argv, check=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise TestbedError("%s: %s" % (" ".join(argv),
                                       (p.stderr or p.stdout).strip()
                                       .splitlines()[-1:] or "failed"))
    return p


def our_namespaces():
    p = _run(["ip", "netns", "list"], check=False)
    names = []
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            names.append(name)
    return names


def namespace_pids(ns):
    p = _run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def kill_pids(pids, grace=3.0):
    """SIGTERM, then SIGKILL what is left after grace seconds (by PID)."""
    pids = [p for p in pids if p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def teardown(log=None):
    """Kill whatever runs in our namespaces, then delete them (idempotent)."""
    for ns in our_namespaces():
        pids = namespace_pids(ns)
        if pids:
            if log:
                log("testbed: killing %d leftover process(es) in %s"
                    % (len(pids), ns))
            kill_pids(pids)
        _run(["ip", "netns", "del", ns], check=False)
    # a veth end left in the root namespace by a setup killed half-way
    for dev in (DEV_A, DEV_B):
        if os.path.exists("/sys/class/net/" + dev):
            _run(["ip", "link", "del", dev], check=False)


def netem_available():
    try:
        with open("/proc/config.gz", "rb") as f:
            import gzip
            text = gzip.decompress(f.read()).decode(errors="replace")
        if "CONFIG_NET_SCH_NETEM=y" in text or "CONFIG_NET_SCH_NETEM=m" in text:
            return True
        if "# CONFIG_NET_SCH_NETEM is not set" in text:
            return False
    except OSError:
        pass
    return None   # unknown: try it


def qdisc_commands(dev, rate_bps, latency_ms):
    """The exact tc commands shaping one veth end (egress)."""
    rate_bytes = rate_bps / 8
    burst = max(int(rate_bytes * 0.001), 65536 + 1514)
    limit = burst + int(rate_bytes * 0.010)
    rate = "%dbit" % rate_bps
    tbf = ["tbf", "rate", rate, "burst", str(burst), "limit", str(limit)]
    if latency_ms > 0:
        return [["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:",
                 "netem", "delay", "%gms" % latency_ms, "limit", "10000"],
                ["tc", "qdisc", "add", "dev", dev, "parent", "1:1",
                 "handle", "10:"] + tbf]
    return [["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:"] + tbf]


class Testbed:
    def __init__(self, rate_bps, latency_ms, log=print):
        self.rate_bps = rate_bps
        self.latency_ms = latency_ms
        self.log = log
        self.commands = []     # every command run, for env.md
        self.qdiscs = {}       # dev -> `tc qdisc show` after setup

    def _ip(self, argv):
        self.commands.append(" ".join(argv))
        return _run(argv)

    def setup(self):
        if os.geteuid() != 0:
            raise TestbedError("must run as root (network namespaces, tc)")
        for tool in ("ip", "tc"):
            if _run(["which", tool], check=False).returncode != 0:
                raise TestbedError("%s (iproute2) not found" % tool)
        teardown(self.log)
        self._ip(["ip", "netns", "add", NS_A])
        self._ip(["ip", "netns", "add", NS_B])
        self._ip(["ip", "link", "add", DEV_A, "netns", NS_A, "type", "veth",
                  "peer", "name", DEV_B, "netns", NS_B])
        for ns, dev, addr in ((NS_A, DEV_A, ADDR_A), (NS_B, DEV_B, ADDR_B)):
            self._ip(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._ip(["ip", "-n", ns, "addr", "add",
                      "%s/%d" % (addr, NETMASK), "dev", dev])
            self._ip(["ip", "-n", ns, "link", "set", dev, "up"])
            for cmd in qdisc_commands(dev, self.rate_bps, self.latency_ms):
                self._ip(["ip", "netns", "exec", ns] + cmd)
        for ns, dev in ((NS_A, DEV_A), (NS_B, DEV_B)):
            p = _run(["ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev",
                      dev])
            self.qdiscs[dev] = p.stdout.strip()
        # the veth comes up asynchronously
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            p = _run(["ip", "-n", NS_A, "-o", "link", "show", DEV_A],
                     check=False)
            if "LOWER_UP" in p.stdout:
                break
            time.sleep(0.05)
        else:
            raise TestbedError("veth %s did not come up" % DEV_A)

    def teardown(self):
        teardown(self.log)
