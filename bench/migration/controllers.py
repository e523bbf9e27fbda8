"""The migration controllers the benchmark compares.

Each is what goes into the migrate request's "policy" member
(docs/policies.md): either the name of one of drover's built-in policies, or
a schedule object -- data, not code -- that emulates what users of another
product get by default.  The emulations below follow the cited sources; where
drover's schedule language cannot say exactly the same thing, the comment
says what differs.
"""

# Upper end of the agent's bandwidth range (docs/policies.md): "unlimited".
UNLIMITED = "unlimited"

# --- virsh migrate --live (libvirt's defaults) -------------------------------
# `virsh migrate --live DOMAIN URI` with no tuning options:
# - bandwidth: libvirt starts every domain with migMaxBandwidth =
#   QEMU_DOMAIN_MIG_BANDWIDTH_MAX (src/qemu/qemu_domain.h), i.e. it lifts QEMU's
#   own 128 MiB/s cap unless --bandwidth is given: unlimited.
# - downtime: libvirt leaves QEMU's downtime-limit alone unless
#   `virsh migrate-setmaxdowntime` is used: QEMU's 300 ms.
# - no --auto-converge, no --compressed, no --postcopy-after-precopy.
# - no --timeout, so it never gives up: it runs until it converges or someone
#   cancels it (here: the benchmark's per-run timeout).
VIRSH = {
    "name": "virsh",
    "initial": {"downtime_ms": 300, "bandwidth_mbps": UNLIMITED,
                "auto_converge": False, "compression": False},
    "rules": [],
}


# --- OpenStack Nova, libvirt driver defaults -----------------------------------
# nova/conf/libvirt.py defaults: live_migration_downtime = 500 ms,
# live_migration_downtime_steps = 10, live_migration_downtime_delay = 75 s,
# live_migration_bandwidth = 0 (= libvirt's default: unlimited),
# live_migration_permit_auto_converge = False,
# live_migration_permit_post_copy = False,
# live_migration_completion_timeout = 800 s, live_migration_timeout_action =
# abort.
# nova/virt/libvirt/driver.py _live_migration_data_gb(): RAM GiB (at least 2)
# + local disk GiB; our 256 MiB guests on shared storage -> data_gb = 2.
# nova/virt/libvirt/migration.py downtime_steps(data_gb):
#     delay = int(75 * data_gb) = 150 s; base = 500 / 10 = 50;
#     offset = (500 - base) / 10 = 45; step i at delay * i -> int(base + offset*i)
# i.e. 50 ms at 0 s, 95 ms at 150 s, ..., 500 ms at 1500 s; the monitor loop
# (every 0.5 s) applies them by elapsed time.  Completion timeout
# 800 * data_gb = 1600 s, then abort.  (The benchmark's per-run timeout, 90 s
# by default, cuts it long before.)
NOVA_DATA_GB = 2
NOVA_DELAY_S = int(75 * NOVA_DATA_GB)


def _nova_steps():
    downtime, steps = 500, 10
    base = downtime / steps
    offset = (downtime - base) / steps
    return [(int(NOVA_DELAY_S * i), int(base + offset * i))
            for i in range(steps + 1)]


NOVA = {
    "name": "nova",
    "initial": {"downtime_ms": _nova_steps()[0][1],
                "bandwidth_mbps": UNLIMITED,
                "auto_converge": False, "compression": False},
    "rules": [{"when": {"elapsed_s": t}, "then": {"downtime_ms": d}}
              for t, d in _nova_steps()[1:]]
    + [{"when": {"elapsed_s": 800 * NOVA_DATA_GB},
        "then": {"action": "abort"}}],
}


# --- Proxmox VE (qemu-server, PVE/QemuMigrate.pm phase2) -----------------------
# - set_migration_caps(): "auto-converge" => 1, "xbzrle" => 1.
# - max-bandwidth: no bwlimit configured -> 16 GiB/s ("always set migrate
#   speed as QEMU default to 128 MiBps == 1 Gbps, use 16 GiBps"): unlimited.
# - downtime-limit: migrate_downtime, default 0.1 s -> 100 ms.
# - XBZRLE cache: 10% of guest RAM rounded to a power of two (drover sizes
#   its cache at half the RAM, at most 256 MiB -- a difference we cannot
#   express in a schedule).
# - its monitor loop polls query-migrate every 1 s (0.1 s near the end);
#   whenever the remaining RAM grew since the previous poll it bumps
#   $downtimecounter, and when the counter exceeds 5 (the 6th growth) it
#   resets it and doubles the downtime-limit.  drover's "remaining_grew"
#   counts growth between its own 250 ms progress samples -- the same rule,
#   sampled four times as often.
# - no timeout: it never gives up.
PROXMOX = {
    "name": "proxmox",
    "initial": {"downtime_ms": 100, "bandwidth_mbps": UNLIMITED,
                "auto_converge": True, "compression": True},
    "rules": [{"when": {"remaining_grew": 6, "repeat": True},
               "then": {"downtime_factor": 2}}],
}


# Built-in policies of drover (docs/policies.md), sent by name.
BUILTIN = ["legacy", "minimal_downtime", "post_copy", "suspend_workload",
           "adaptive"]

EMULATED = {"virsh": VIRSH, "nova": NOVA, "proxmox": PROXMOX}

# Default order in tables and plots: what users run elsewhere, then drover's.
ALL = ["virsh", "nova", "proxmox"] + BUILTIN


def policy_for(name):
    """The "policy" member of the migrate request for a controller."""
    if name in EMULATED:
        return EMULATED[name]
    if name in BUILTIN:
        return name
    raise KeyError(name)


def stream_tuning(name):
    """Whether drover prepares the migration stream (docs/agent.md, "The
    migration stream"): its tuned socket, a dirty-rate sample first, a
    preallocated destination.  Neither libvirt (hence virsh and Nova) nor
    Proxmox VE does any of that, so their emulations get QEMU's own "tcp:"
    socket and none of the rest; drover's policies get drover's stream."""
    return name not in EMULATED


def describe(name):
    p = policy_for(name)
    return p if isinstance(p, str) else p["name"] + " (schedule)"
