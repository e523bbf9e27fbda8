#!/usr/bin/python3
"""drover's migration benchmark: workloads x controllers over a shaped link.

Builds two network namespaces joined by a tc-shaped veth pair, runs one
drover-agent in each, and live-migrates drover-testguest VMs from host A to
host B under each controller (migration policy), measuring total time,
guest-observed downtime, bytes, guest slowdown and integrity.  See
docs/benchmark.md.

usage: bench/migration/run.py [--workloads idle,web,...] [--controllers ...]
           [--runs N] [--link 1gbit] [--latency-ms 0.5] [--timeout-s 90]
           [--out DIR] [--keep] [--quick]
       bench/migration/run.py --report RESULTS_DIR   (re-render from raw.json)

Needs root (namespaces, tc) and a build (scripts/build.sh).  Standard library
only.
"""

import argparse
import datetime
import fcntl
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import agents as ag          # noqa: E402
import cpuwatch              # noqa: E402
import controllers as ctl    # noqa: E402
import measure               # noqa: E402
import report                # noqa: E402
import testbed as tb         # noqa: E402
import workloads as wl       # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("DROVER_BUILD_DIR", os.path.join(REPO, "build"))
AGENT_BIN = os.path.join(BUILD, "src", "agent", "drover-agent")
GUEST_ELF = os.path.join(BUILD, "guest", "drover-testguest.elf")
LOCK = "/run/lock/drvbench.lock"
DEFAULT_LATENCY_MS = 0.5
PROBE_PORT = 7999

QUICK_WORKLOADS = ["idle", "db"]
QUICK_CONTROLLERS = ["virsh", "adaptive"]


def log(msg):
    print(msg, flush=True)


def die(msg, code=2):
    print("drvbench: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/migration/run.py",
        description="drover live-migration benchmark (docs/benchmark.md)")
    p.add_argument("--workloads", help="comma-separated, of: %s (default all)"
                   % ",".join(wl.ALL))
    p.add_argument("--controllers", help="comma-separated, of: %s (default all)"
                   % ",".join(ctl.ALL))
    p.add_argument("--runs", type=int, help="runs per cell (default 3)")
    p.add_argument("--link", default="1gbit",
                   help="link rate, tc syntax (default 1gbit)")
    p.add_argument("--latency-ms", type=float, default=None,
                   help="one-way delay added by netem on each end (default "
                   "%g; dropped with a warning when the kernel has no "
                   "sch_netem)" % DEFAULT_LATENCY_MS)
    p.add_argument("--timeout-s", type=int, default=90,
                   help="per-migration timeout sent to the agent (default 90)")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "results"),
                   help="results base directory (default bench/results)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory (agent logs, console logs)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 run of %s x %s"
                   % ("+".join(QUICK_WORKLOADS), "+".join(QUICK_CONTROLLERS)))
    p.add_argument("--report", metavar="RESULTS_DIR",
                   help="only re-render results.md and plot.svg from "
                   "RESULTS_DIR/raw.json")
    p.add_argument("--inner", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inner or args.report:
        return args

    def names(text, allowed, what):
        out = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in out if n not in allowed]
        if bad or not out:
            die("unknown %s %s (known: %s)" % (what, ",".join(bad) or "''",
                                              ",".join(allowed)), 1)
        return out
    args.workloads = names(args.workloads, wl.ALL, "workload") \
        if args.workloads else (QUICK_WORKLOADS if args.quick else wl.ALL)
    args.controllers = names(args.controllers, ctl.ALL, "controller") \
        if args.controllers else (QUICK_CONTROLLERS if args.quick else ctl.ALL)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        die("--runs must be at least 1", 1)
    if not 10 <= args.timeout_s <= 86400:
        die("--timeout-s must be 10..86400 (the agent's bounds)", 1)
    try:
        args.rate_bps = tb.parse_rate(args.link)
    except ValueError as e:
        die(str(e), 1)
    if args.latency_ms is not None and args.latency_ms < 0:
        die("--latency-ms must be >= 0", 1)
    return args


def build_info():
    """What is being measured: the checkout and the agent binary, at start."""
    import hashlib

    def git(*a):
        try:
            return subprocess.run(["git"] + list(a), cwd=REPO, text=True,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL).stdout.strip()
        except OSError:
            return ""
    info = {"commit": git("rev-parse", "--short", "HEAD"),
            "changed": git("status", "--porcelain", "--untracked-files=no",
                           "--", "src", "guest").splitlines()}
    for key, path in (("agent", AGENT_BIN), ("guest", GUEST_ELF)):
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:12]
            info[key] = {"path": path, "sha256": digest,
                         "built": datetime.datetime.fromtimestamp(
                             st.st_mtime, datetime.timezone.utc)
                         .isoformat(timespec="seconds")}
        except OSError:
            pass
    return info


# ============================================================== outer ======
# Runs in the root namespace: owns the testbed (namespaces, veth, tc) and
# re-executes this script inside namespace A, where the agents' APIs on both
# sides of the link are reachable.

def outer(args, argv):
    if os.geteuid() != 0:
        die("must run as root (network namespaces and tc)")
    for path, what in ((AGENT_BIN, "agent"), (GUEST_ELF, "test guest")):
        if not os.access(path, os.R_OK):
            die("no %s at %s: run scripts/build.sh first" % (what, path))
    if shutil.which("qemu-system-x86_64") is None:
        die("qemu-system-x86_64 not found")
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = open(LOCK, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        die("another benchmark holds %s (namespaces %s*)" % (LOCK, tb.PREFIX))

    latency = args.latency_ms if args.latency_ms is not None else DEFAULT_LATENCY_MS
    latency_note = None
    if latency > 0 and tb.netem_available() is False:
        if args.latency_ms is not None:
            die("cannot emulate --latency-ms %g: this kernel has no sch_netem "
                "(CONFIG_NET_SCH_NETEM); use --latency-ms 0" % latency)
        latency_note = ("the default %g ms delay is NOT emulated: this kernel "
                        "has no sch_netem; the link is tbf only" % latency)
        log("drvbench: warning: " + latency_note)
        latency = 0.0

    build = build_info()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_base = os.path.abspath(args.out)
    out_dir = os.path.join(out_base, stamp)
    workdir = tempfile.mkdtemp(prefix="drvbench-", dir="/tmp")
    bed = tb.Testbed(args.rate_bps, latency, log=log)
    child = None
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signal.SIGTERM)
            except OSError:
                pass
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rc = 1
    t0 = time.time()
    try:
        try:
            bed.setup()
        except tb.TestbedError as e:
            die("cannot set up the testbed: %s" % e)
        if stopping:
            return 130
        label = "%s%s" % (args.link, ", %g ms delay" % latency if latency
                          else ", no added delay")
        ctx = {
            "argv": [os.path.relpath(os.path.abspath(__file__), REPO)] + argv,
            "cwd": os.getcwd(),
            "workloads": args.workloads, "controllers": args.controllers,
            "runs": args.runs, "timeout_s": args.timeout_s,
            "link": {"label": label, "rate": args.link,
                     "rate_bps": args.rate_bps, "latency_ms": latency,
                     "latency_note": latency_note},
            "testbed": {"commands": bed.commands, "qdiscs": bed.qdiscs,
                        "namespaces": [tb.NS_A, tb.NS_B],
                        "addresses": [tb.ADDR_A, tb.ADDR_B]},
            "workdir": workdir, "out_base": out_base, "out_dir": out_dir,
            "keep": args.keep, "started": t0, "build": build,
        }
        ctx_path = os.path.join(workdir, "ctx.json")
        with open(ctx_path, "w") as f:
            json.dump(ctx, f)
        log("drvbench: testbed up (%s <-> %s, %s); results in %s"
            % (tb.NS_A, tb.NS_B, label, out_dir))
        child = subprocess.Popen(
            ["ip", "netns", "exec", tb.NS_A, sys.executable,
             os.path.abspath(__file__), "--inner", ctx_path])
        first_signal = None
        while True:
            try:
                rc = child.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if stopping and first_signal is None:
                    first_signal = time.monotonic()
                # the child cleans up (destroys its VM, stops the agents);
                # give it 90 s, or kill it at a third signal
                if first_signal is not None and (
                        time.monotonic() - first_signal > 90 or
                        len(stopping) >= 3):
                    child.kill()
        if stopping and rc == 0:
            rc = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        # anything still running from our work directory (agents, QEMUs) is
        # ours: kill it by PID, then everything left in our namespaces
        ag.kill_under(workdir)
        bed.teardown()
        if args.keep:
            log("drvbench: work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        try:
            os.rmdir(out_dir)     # only if nothing was written
        except OSError:
            pass
        log("drvbench: testbed removed; %.0f s in all" % (time.time() - t0))
    return rc


# ============================================================== inner ======

class Interrupted(Exception):
    pass


class Bench:
    def __init__(self, ctx):
        self.ctx = ctx
        self.workdir = ctx["workdir"]
        self.runs = []
        self.meta = {}
        self.a = self.b = None
        self.out_dir = ctx["out_dir"]
        self.interrupted = False
        self.watch = cpuwatch.CpuWatch(self.workdir)

    # -- setup --
    def start_agents(self):
        shared = os.path.join(self.workdir, "shared")
        os.makedirs(shared, exist_ok=True)
        self.a = ag.Agent("drvbench-a", tb.NS_A, tb.ADDR_A, self.workdir,
                          shared, BUILD, AGENT_BIN)
        self.b = ag.Agent("drvbench-b", tb.NS_B, tb.ADDR_B, self.workdir,
                          shared, BUILD, AGENT_BIN)
        self.a.start()
        self.b.start()
        facts = json.loads(json.dumps(self.a.facts))
        q = facts.get("qemu", {}) if isinstance(facts.get("qemu"), dict) else {}
        for big in ("machines", "cpu_models"):     # long lists: not needed
            q.pop(big, None)
        if isinstance(facts.get("cpu"), dict):
            facts["cpu"].pop("flags", None)
        self.meta["agent_facts_a"] = facts
        self.meta["qemu"] = q
        self.meta["agent_config"] = self.a.config

    def probe_link(self):
        """TCP connect RTT and bulk goodput A -> B over the shaped veth."""
        server = (
            "import socket,time\n"
            "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind(('%s',%d));s.listen(4)\n"
            "while True:\n"
            "  c,_=s.accept();n=0;t0=None\n"
            "  while True:\n"
            "    b=c.recv(1<<20)\n"
            "    if not b: break\n"
            "    t0=t0 or time.monotonic();n+=len(b)\n"
            "  d=time.monotonic()-t0 if t0 else 0\n"
            "  c.sendall(('%%d %%f'%%(n,d)).encode());c.close()\n"
            % (tb.ADDR_B, PROBE_PORT))
        proc = subprocess.Popen(["ip", "netns", "exec", tb.NS_B,
                                 sys.executable, "-c", server],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        out = {}
        try:
            deadline = time.monotonic() + 10
            rtts = []
            while len(rtts) < 10 and time.monotonic() < deadline:
                t = time.monotonic()
                try:
                    c = socket.create_connection((tb.ADDR_B, PROBE_PORT), 2)
                except OSError:
                    time.sleep(0.1)
                    continue
                rtts.append((time.monotonic() - t) * 1000)
                c.shutdown(socket.SHUT_WR)
                c.recv(100)
                c.close()
            if rtts:
                out["connect_rtt_ms_median"] = round(sorted(rtts)[len(rtts) // 2], 3)
            c = socket.create_connection((tb.ADDR_B, PROBE_PORT), 5)
            buf = b"\x5a" * (1 << 20)
            t = time.monotonic()
            while time.monotonic() - t < 2.0:
                c.sendall(buf)
            c.shutdown(socket.SHUT_WR)
            n, d = c.recv(100).decode().split()
            c.close()
            out["bulk_tcp_mbps"] = round(int(n) * 8 / float(d) / 1e6, 1)
        except (OSError, ValueError) as e:
            out["error"] = str(e)
        finally:
            proc.kill()
            proc.wait()
        return out

    # -- one run --
    def run_one(self, workload, controller, index):
        vm_id = str(uuid.uuid4())
        name = "%s-%s-%d" % (workload, controller, index)
        policy = ctl.policy_for(controller)
        rec = {"workload": workload, "controller": controller, "run": index,
               "link": self.ctx["link"], "vm_id": vm_id,
               "memory_mib": wl.MEMORY_MIB, "append": wl.append(workload),
               "policy_sent": policy, "started_at": datetime.datetime.now()
               .isoformat(timespec="seconds")}
        spec = {"id": vm_id, "name": name, "memory_mib": wl.MEMORY_MIB,
                "vcpus": 1, "cpu_model": "qemu64",
                "kernel": "guest/drover-testguest.elf",
                "append": wl.append(workload), "disks": [],
                "nics": [{"network": "vmnet",
                          "mac": "52:54:00:%02x:%02x:%02x" % tuple(os.urandom(3))}]}
        wall0 = time.monotonic()
        tail_a = ag.ConsoleTail(self.a.console_path(vm_id))
        tail_b = ag.ConsoleTail(self.b.console_path(vm_id))
        try:
            self._run_one(rec, spec, tail_a, tail_b)
        finally:
            self.watch.sample()
            self.check_agents(rec)
            tail_a.poll()
            tail_b.poll()
            tail_a.close()
            tail_b.close()
            self.destroy(vm_id)
            rec["wall_s"] = round(time.monotonic() - wall0, 1)
        return rec

    def _run_one(self, rec, spec, tail_a, tail_b):
        a, b = self.a, self.b
        vm_id = spec["id"]
        try:
            a.post("/v1/vms", spec, timeout=120)
        except (ag.ApiError, OSError) as e:
            rec.update(status="error", reason="VM did not start: %s" % e)
            return
        ready = tail_a.wait_for(lambda l: l[1].startswith("integrity ok"), 180,
                                give_up=lambda: not a.alive())
        start_line = next((t for _, t in tail_a.lines
                           if t.startswith("drover-testguest start")), None)
        rec["guest_start_line"] = start_line
        if ready is None:
            rec.update(status="error",
                       reason="guest printed no 'integrity ok' within 180 s")
            return
        rec["t_ready_us"] = ready[0]
        time.sleep(2.0)
        body = {"destination": b.url, "policy": rec["policy_sent"],
                "post_copy": True, "timeout_s": self.ctx["timeout_s"],
                "stream_tuning": ctl.stream_tuning(rec["controller"])}
        rec["t_request_us"] = int(time.time() * 1e6)
        try:
            mig = a.post("/v1/vms/%s/migrate" % vm_id, body, timeout=120)
        except ag.ApiError as e:
            rec.update(status="refused", code=e.code,
                       reason="HTTP %s %s: %s" % (e.status, e.code, e.message))
            tail_a.poll()
            return
        except OSError as e:
            rec.update(status="error", reason="migrate request: %s" % e)
            return
        mig_id = mig["id"]
        rec["migration_id"] = mig_id
        timeout = self.ctx["timeout_s"]
        t0 = time.monotonic()
        trace = []
        cancelled = False
        while True:
            time.sleep(1.0)
            self.watch.sample()
            if not (a.alive() and b.alive()):
                rec.update(status="error", reason="an agent died during the "
                           "migration")
                return
            try:
                mig = a.get("/v1/migrations/%s" % mig_id, timeout=30)
            except (ag.ApiError, OSError) as e:
                rec.setdefault("poll_errors", []).append(str(e))
                if time.monotonic() - t0 > timeout + 120:
                    rec.update(status="error", reason="migration record "
                               "unreadable: %s" % e)
                    return
                continue
            p = mig.get("progress") or {}
            trace.append([round(time.monotonic() - t0, 1), p.get("pass"),
                          p.get("remaining_bytes"), p.get("throughput_mbps"),
                          p.get("throttle_percent"), p.get("percent")])
            if mig.get("phase") == "ended":
                break
            elapsed = time.monotonic() - t0
            if elapsed > timeout + 15 and not cancelled:
                # the agent should have cancelled it at timeout_s
                cancelled = True
                rec["harness_cancelled"] = True
                try:
                    a.post("/v1/vms/%s/cancelmigration" % vm_id, {})
                except (ag.ApiError, OSError) as e:
                    rec["harness_cancel_error"] = str(e)
            if elapsed > timeout + 75:
                rec.update(status="error", reason="migration did not end "
                           "%d s after its timeout" % 75)
                rec["migration"] = mig
                return
        rec["progress_trace"] = trace
        self.record_result(rec, mig)
        completed = rec["status"] == "completed"
        after = max(mig.get("resume_us") or 0, mig.get("ended_us") or 0) \
            if completed else (mig.get("ended_us") or 0)
        tail = tail_b if completed else tail_a
        ok = tail.wait_for(lambda l: l[0] > after and
                           l[1].startswith("integrity ok"), 20,
                           give_up=lambda: not (a.alive() and b.alive()))
        if ok is None:
            rec["post_wait"] = "no integrity ok within 20 s"
        time.sleep(0.3)
        lines_a, lines_b = tail_a.poll(), tail_b.poll()
        rec.update(measure.analyse(lines_a, lines_b, mig, rec["t_ready_us"],
                                   wl.HB_MS))

    def record_result(self, rec, mig):
        r = mig.get("result") or {}
        rec["status"] = r.get("status") or mig.get("status") or "unknown"
        for k in ("total_time_ms", "downtime_ms", "downtime_us",
                  "qemu_downtime_ms", "qemu_total_time_ms",
                  "transferred_bytes", "passes", "max_throttle_percent",
                  "postcopy", "xbzrle_pages", "reason", "code", "actions",
                  "ram_total_bytes", "zero_pages"):
            if k in r:
                rec[k] = r[k]
        if rec.get("harness_cancelled") and rec["status"] == "cancelled":
            rec["reason"] = ("cancelled by the benchmark %d s after timeout_s "
                             "(the agent had not ended it)" % 15)
        rec["policy_recorded"] = r.get("policy")
        rec["result"] = r
        for k in ("started_us", "stop_us", "resume_us", "ended_us"):
            rec[k] = mig.get(k)
        rec["parameters"] = mig.get("parameters")
        # physical lower bound: non-zero RAM over the link rate
        if "ram_total_bytes" in r and "zero_pages" in r:
            nonzero = r["ram_total_bytes"] - r["zero_pages"] * measure.PAGE
            rec["nonzero_source"] = "result"
        else:
            nonzero = wl.nonzero_estimate_bytes(rec["workload"])
            rec["nonzero_source"] = "estimate"
        rec["nonzero_bytes"] = nonzero
        bound = nonzero * 8 / self.ctx["link"]["rate_bps"]
        rec["lower_bound_s"] = round(bound, 3)
        if rec["status"] == "completed" and r.get("total_time_ms"):
            rec["time_over_bound"] = round(r["total_time_ms"] / 1000 / bound, 2)

    def check_agents(self, rec=None):
        """Restart an agent that died, and say so in the run and in meta."""
        for agent in (self.a, self.b):
            if agent.alive():
                continue
            rc = agent.proc.returncode if agent.proc else None
            crash = {"agent": agent.name, "exit": rc,
                     "during": "%s x %s run %s" % (
                         rec["workload"], rec["controller"], rec["run"])
                     if rec else "between runs",
                     "log_tail": agent.log_tail(40)}
            self.meta.setdefault("agent_crashes", []).append(crash)
            log("  AGENT %s DIED (exit status %s); restarting it. Log tail: %s"
                % (agent.name, rc, agent.log_tail(5)))
            if rec is not None:
                rec["agent_died"] = "%s (exit status %s)" % (agent.name, rc)
                if rec.get("status") in (None, "error"):
                    rec["status"] = "error"
                    rec["reason"] = "agent %s died (exit status %s)%s" % (
                        agent.name, rc, ": " + rec["reason"]
                        if rec.get("reason") else "")
            agent.start()

    def destroy(self, vm_id):
        for agent in (self.b, self.a):
            self.destroy_on(agent, vm_id)
        self.reap(vm_id)

    def destroy_on(self, agent, vm_id):
        """Destroy vm_id on agent, cancelling a migration in the way."""
        deadline = time.monotonic() + 20
        cancelled = False
        while True:
            try:
                agent.post("/v1/vms/%s/destroy" % vm_id, {}, timeout=60)
                return
            except ag.ApiError as e:
                if e.code == "not_found":
                    return
                if e.code != "conflict" or time.monotonic() > deadline:
                    log("  destroy on %s: %s" % (agent.name, e))
                    return
            except OSError as e:
                log("  destroy on %s: %s" % (agent.name, e))
                return
            if not cancelled:     # still migrating: cancel, then retry
                cancelled = True
                try:
                    self.a.post("/v1/vms/%s/cancelmigration" % vm_id, {},
                                timeout=30)
                except (ag.ApiError, OSError):
                    pass
            time.sleep(0.5)

    def reap(self, vm_id):
        deadline = time.monotonic() + 15
        while ag.qemu_pids(vm_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = ag.qemu_pids(vm_id)
        if left:
            log("  QEMU of %s still running after destroy: killing %s"
                % (vm_id, left))
            tb.kill_pids(left)

    def destroy_all(self):
        for agent in (self.a, self.b):
            if agent is None or agent.proc is None or agent.proc.poll() is not None:
                continue
            try:
                listing = agent.get("/v1/vms", timeout=10) or {}
                if isinstance(listing, dict):
                    listing = listing.get("vms", [])
                for vm in listing:
                    vid = vm.get("id") or (vm.get("spec") or {}).get("id")
                    if vid:
                        self.destroy_on(agent, vid)
                        self.reap(vid)
            except (ag.ApiError, OSError, AttributeError) as e:
                log("  cleanup on %s: %s" % (agent.name, e))

    # -- output --
    def write_raw(self):
        os.makedirs(self.out_dir, exist_ok=True)
        tmp = os.path.join(self.out_dir, ".raw.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"meta": self.meta, "runs": self.runs}, f, indent=1)
        os.replace(tmp, os.path.join(self.out_dir, "raw.json"))

    def write_reports(self, complete):
        if not self.runs:
            return None
        self.write_raw()
        md = report.markdown(self.runs, "drover migration benchmark — %s"
                             % os.path.basename(self.out_dir))
        if not complete:
            md = md.replace("\n\n", "\n\n**Interrupted: partial results.**\n\n", 1)
        with open(os.path.join(self.out_dir, "results.md"), "w") as f:
            f.write(md)
        with open(os.path.join(self.out_dir, "plot.svg"), "w") as f:
            f.write(report.svg_plot(self.runs))
        with open(os.path.join(self.out_dir, "env.md"), "w") as f:
            f.write(self.env_md(complete))
        if complete:
            shutil.copyfile(os.path.join(self.out_dir, "results.md"),
                            os.path.join(self.ctx["out_base"], "latest.md"))
            shutil.copyfile(os.path.join(self.out_dir, "plot.svg"),
                            os.path.join(self.ctx["out_base"], "latest.svg"))
        return md

    def env_md(self, complete):
        c = self.ctx
        m = self.meta
        facts = m.get("agent_facts_a") or {}

        def cmd(argv):
            try:
                return subprocess.run(argv, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True,
                                      cwd=REPO).stdout.strip()
            except OSError:
                return ""
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next((l.split(":", 1)[1].strip() for l in f
                            if l.startswith("model name")), "")
        except OSError:
            pass
        mem = ""
        try:
            with open("/proc/meminfo") as f:
                mem = f.readline().split(":", 1)[1].strip()
        except OSError:
            pass
        qemu_version = cmd(["qemu-system-x86_64", "--version"]).splitlines()
        b = c.get("build") or {}
        agent_bin = b.get("agent") or {}
        disturbed = ["%s×%s#%d (%.0f s: %s)" % (
            r["workload"], r["controller"], r["run"], r["other_cpu_s"],
            ", ".join(n for n, _ in r.get("other_cpu_top", [])))
            for r in self.runs if r.get("disturbed")]
        lines = [
            "# Environment — %s" % os.path.basename(self.out_dir), "",
            "- command: `%s`" % " ".join(shlex.quote(a) for a in c["argv"]),
            "- started %s, %s after %.0f s%s" % (
                datetime.datetime.fromtimestamp(c["started"]).isoformat(
                    timespec="seconds"),
                "finished" if complete else "INTERRUPTED",
                time.time() - c["started"],
                "" if complete else " (partial results)"),
            "- runs: %d per cell; workloads %s; controllers %s; per-run "
            "timeout %d s" % (c["runs"], ", ".join(c["workloads"]),
                              ", ".join(c["controllers"]), c["timeout_s"]),
            "- machine: %s, %d CPUs, %s RAM; kernel %s" % (
                cpu, os.cpu_count() or 0, mem, platform.release()),
            "- %s; accelerator %s" % (
                qemu_version[0] if qemu_version else "qemu ?",
                (m.get("qemu") or {}).get("accelerator", "?")),
            "- drover checkout at start: commit %s%s; agent binary built %s "
            "(sha256 %s…) — the binary is what was measured" % (
                b.get("commit") or "?",
                " + uncommitted changes in %s" % ", ".join(
                    sorted({l.split(None, 1)[-1] for l in b.get("changed", [])}))
                if b.get("changed") else " (src/ and guest/ clean)",
                agent_bin.get("built", "?"), agent_bin.get("sha256", "?")),
            "- Python %s" % platform.python_version(),
            "- load average at start %s; other processes kept %s cores busy "
            "at start%s; runs during which other processes used more than "
            "10%% of a core on average (marked † in results.md): %d of %d%s" % (
                " ".join("%.2f" % x for x in m.get("load_start", [])),
                (m.get("other_cpu_start") or {}).get("cores", "?"),
                " (%s)" % ", ".join("%s %.1f s" % tuple(t) for t in
                                    (m.get("other_cpu_start") or {}).get("top", []))
                if (m.get("other_cpu_start") or {}).get("top") else "",
                len(disturbed),
                len(self.runs), (" (" + ", ".join(disturbed[:20]) +
                                 (", …" if len(disturbed) > 20 else "") + ")")
                if disturbed else ""), "",
            "## Link", "",
            "- %s: namespaces %s (%s) and %s (%s), one veth pair "
            "%s <-> %s" % (c["link"]["label"], tb.NS_A, tb.ADDR_A, tb.NS_B,
                           tb.ADDR_B, tb.DEV_A, tb.DEV_B),
        ]
        if c["link"].get("latency_note"):
            lines.append("- **note:** %s" % c["link"]["latency_note"])
        probe = m.get("link_probe") or {}
        if probe:
            lines.append("- measured before the runs: TCP connect RTT %s ms "
                         "(median of 10), bulk TCP goodput A→B %s Mbit/s "
                         "(2 s)%s" % (probe.get("connect_rtt_ms_median", "?"),
                                      probe.get("bulk_tcp_mbps", "?"),
                                      "; error: " + probe["error"]
                                      if "error" in probe else ""))
        lines += ["", "Setup commands, in order:", "", "```"]
        lines += c["testbed"]["commands"]
        lines += ["```", "", "Resulting qdiscs:", "", "```"]
        for dev, text in c["testbed"]["qdiscs"].items():
            lines.append("%s: %s" % (dev, text.replace("\n", " ")))
        lines += ["```", "", "## Agents", "",
                  "One drover-agent per namespace (`ip netns exec NS "
                  "drover-agent --config FILE`); host A's configuration "
                  "(B's differs in name and addresses):", "", "```",
                  m.get("agent_config", "").strip(), "```", "",
                  "## Guests", "",
                  "drover-testguest, %d MiB, 1 vCPU (qemu64), one user-mode "
                  "NIC, no disk; kernel command line `WORKLOAD %s`:" % (
                      wl.MEMORY_MIB, wl.COMMON), ""]
        for w in c["workloads"]:
            lines.append("- `%s`: `%s` — %s" % (w, wl.WORKLOADS[w][0],
                                                wl.WORKLOADS[w][1]))
        lines += ["", "## Controllers (the migrate request's `policy`)", ""]
        for ct in c["controllers"]:
            lines.append("- `%s`: `%s`" % (ct, json.dumps(ctl.policy_for(ct))))
        lines += ["", "Every request also carries `\"post_copy\": true` and "
                  "`\"timeout_s\": %d`." % c["timeout_s"], ""]
        return "\n".join(lines)

    # -- main loop --
    def main(self):
        c = self.ctx
        self.meta["load_start"] = os.getloadavg()
        self.watch.reset()
        self.watch.sample()
        time.sleep(2)
        self.watch.sample()
        busy, top = self.watch.foreign()
        self.meta["other_cpu_start"] = {"cores": round(busy / 2, 2), "top": top}
        if busy / 2 > 0.1:
            log("drvbench: warning: other processes keep %.1f cores busy "
                "(%s): they compete with the benchmark; recorded per run"
                % (busy / 2, ", ".join("%s %.1f s" % t for t in top)))
        self.start_agents()
        log("drvbench: agents up: %s (%s), %s (%s)"
            % (self.a.name, self.a.url, self.b.name, self.b.url))
        self.meta["link_probe"] = self.probe_link()
        log("drvbench: link probe: %s" % json.dumps(self.meta["link_probe"]))
        self.meta["ctx"] = {k: c[k] for k in ("argv", "workloads",
                                              "controllers", "runs",
                                              "timeout_s", "link", "testbed")}
        plan = [(w, ct, i) for i in range(1, c["runs"] + 1)
                for w in c["workloads"] for ct in c["controllers"]]
        t0 = time.monotonic()
        for k, (w, ct, i) in enumerate(plan, 1):
            self.check_agents()
            log("[%d/%d] %s x %s, run %d/%d ..." % (k, len(plan), w, ct, i,
                                                    c["runs"]))
            self.watch.reset()
            self.watch.sample()
            rec = self.run_one(w, ct, i)
            self.watch.sample()
            rec["load1_after"] = round(os.getloadavg()[0], 2)
            other, top = self.watch.foreign()
            rec["other_cpu_s"] = other
            rec["other_cpu_top"] = top
            # disturbed: others took over 10% of a core on average
            rec["disturbed"] = other > 0.1 * rec["wall_s"]
            self.runs.append(rec)
            self.write_raw()
            log("[%d/%d] %s x %s, run %d: %s  (%.0f s elapsed)"
                % (k, len(plan), w, ct, i, summary(rec),
                   time.monotonic() - t0))
        return True


def summary(rec):
    st = rec.get("status")
    if st == "completed":
        s = "completed in %.1f s, downtime %s ms (hb gap %s ms, max stall %s ms), " \
            "%.0f MiB, %s×bound%s, integrity %s" % (
                rec["total_time_ms"] / 1000, rec.get("downtime_ms"),
                rec.get("hb_handover_gap_ms"), rec.get("hb_max_gap_ms"), rec.get("transferred_bytes", 0) / 2 ** 20,
                rec.get("time_over_bound"),
                ", post-copy" if rec.get("postcopy") else "",
                rec.get("integrity"))
    else:
        s = "%s: %s" % (st, rec.get("reason"))
        if rec.get("integrity"):
            s += "; integrity %s" % rec["integrity"]
    return s


def inner(ctx_path):
    with open(ctx_path) as f:
        ctx = json.load(f)
    bench = Bench(ctx)
    state = {"stopping": False}

    def on_signal(signum, frame):
        if not state["stopping"]:
            state["stopping"] = True
            raise Interrupted()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    complete = False
    rc = 1
    try:
        try:
            complete = bench.main()
            rc = 0
        except Interrupted:
            log("drvbench: interrupted; cleaning up")
            rc = 130
        except RuntimeError as e:
            print("drvbench: %s" % e, file=sys.stderr, flush=True)
            rc = 2
    finally:
        state["stopping"] = True
        try:
            bench.destroy_all()
        finally:
            for agent in (bench.a, bench.b):
                if agent:
                    agent.stop()
            ag.kill_under(ctx["workdir"])
        md = bench.write_reports(complete)
        if md:
            print()
            print(report.text_table(bench.runs))
            log("drvbench: results: %s" % bench.out_dir)
    return rc


def rerender(results_dir):
    with open(os.path.join(results_dir, "raw.json")) as f:
        raw = json.load(f)
    runs = raw["runs"]
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write(report.markdown(runs, "drover migration benchmark — %s"
                                % os.path.basename(os.path.abspath(results_dir))))
    with open(os.path.join(results_dir, "plot.svg"), "w") as f:
        f.write(report.svg_plot(runs))
    print(report.text_table(runs))


def main(argv):
    args = parse_args(argv)
    if args.report:
        rerender(args.report)
        return 0
    if args.inner:
        return inner(args.inner)
    return outer(args, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
