"""CPU time other processes take while the benchmark runs.

The machine has few cores and the guest, both QEMUs, both agents and the
driver already share them; anything else running (a test suite, a build)
changes the results.  CpuWatch samples every process's CPU time
(/proc/PID/stat utime+stime) and sums what the processes that are *not* the
benchmark's used between the first and the last sample.  The benchmark's
own processes are recognised by the work directory in their command line
(agents, QEMUs) or by being the driver or its parent.  Kernel threads are
left out (they would count the benchmark's own network processing), and a
process living shorter than the sampling interval is missed, so the figure
is a lower bound.
"""

import os

TICK = os.sysconf("SC_CLK_TCK")


def _uptime_ticks():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) * TICK


class CpuWatch:
    def __init__(self, marker):
        self.marker = marker.encode()
        self.mine = {os.getpid(), os.getppid()}
        self.kind = {}       # (pid, start) -> "ours" | "kernel" | comm
        self.reset()

    def reset(self):
        self.t0 = _uptime_ticks()
        self.first = {}
        self.last = {}

    def _classify(self, pid, comm):
        if pid in self.mine:
            return "ours"
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            return None
        if not cmd:
            return "kernel"
        if self.marker in cmd:
            return "ours"
        return comm

    def sample(self):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    text = f.read()
            except OSError:
                continue
            head, _, rest = text.rpartition(")")
            fields = rest.split()
            try:
                comm = head.split("(", 1)[1]
                cpu = int(fields[11]) + int(fields[12])
                start = int(fields[19])
            except (IndexError, ValueError):
                continue
            key = (pid, start)
            if key not in self.kind:
                kind = self._classify(pid, comm)
                if kind is None:
                    continue
                self.kind[key] = kind
            if self.kind[key] in ("ours", "kernel"):
                continue
            if key not in self.first:
                # a process born since the watch began counts from zero
                self.first[key] = 0 if start >= self.t0 else cpu
            self.last[key] = cpu

    def foreign(self):
        """(CPU seconds of other processes, [(name, seconds)] top three)."""
        per = {}
        for key, cpu in self.last.items():
            d = (cpu - self.first.get(key, cpu)) / TICK
            if d > 0:
                name = self.kind.get(key, "?")
                per[name] = per.get(name, 0) + d
        top = sorted(per.items(), key=lambda kv: -kv[1])[:3]
        return round(sum(per.values()), 1), [(n, round(s, 1)) for n, s in top]
