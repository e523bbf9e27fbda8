"""Guest workloads: drover-testguest knobs (docs/testguest.md)."""

MEMORY_MIB = 256
COMMON = "hb=10 check=500"   # heartbeat every 10 ms, integrity check every 500 ms
HB_MS = 10

# name -> (knobs, description)
WORKLOADS = {
    "idle": ("fill=200", "200 MiB of static data, nothing dirtied"),
    "web": ("wss=8 rate=5", "8 MiB hot set dirtied at 5 MiB/s"),
    "db": ("wss=32 rate=40", "32 MiB hot set dirtied at 40 MiB/s"),
    "hot": ("wss=64 rate=150",
            "64 MiB hot set dirtied at 150 MiB/s (>= a 1 Gbit/s link)"),
    "stream": ("wss=128 rate=0",
               "128 MiB hot set rewritten as fast as the vCPU can (GB/s)"),
}

ALL = list(WORKLOADS)


def knobs(name):
    return dict(kv.split("=", 1) for kv in WORKLOADS[name][0].split())


def append(name):
    return "%s %s" % (WORKLOADS[name][0], COMMON)


def nonzero_estimate_bytes(name):
    """Guest RAM that is not zero: fill + hot set + ~2 MiB of kernel/tables."""
    k = knobs(name)
    mib = int(k.get("fill", 0)) + int(k.get("wss", 0)) + 2
    return mib * 2 ** 20
