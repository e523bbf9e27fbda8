"""Helpers for drover's system tests: run real agents and talk to them.

Everything here uses the standard library only (Debian's python3 with
python3-pytest).  Agents bind their own loopback addresses (127.0.1.N), keep
their state in a temporary directory and share one storage directory, as
DESIGN.md §3 describes for hosts on one machine.
"""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

# Tests use their own ports, so that a demo (7001, 8080) can keep running.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DROVER_BUILD_DIR", os.path.join(REPO, "build"))
AGENT_BIN = os.path.join(BUILD, "src", "agent", "drover-agent")
GUEST_ELF = os.path.join(BUILD, "guest", "drover-testguest.elf")


class HttpError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        err = body.get("error", {}) if isinstance(body, dict) else {}
        self.code = err.get("code")
        self.message = err.get("message")
        super().__init__("HTTP %s %s: %s" % (status, self.code, self.message))


def http(method, url, body=None, timeout=60, raw=None, headers=None):
    """Return (status, parsed JSON or None); never raises on HTTP errors."""
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = {"raw": text.decode(errors="replace")}
        return e.code, parsed


def wait_until(pred, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                         % (timeout, what, last))


def qemu_pids(vm_id):
    """PIDs of QEMU processes running VM vm_id (its -uuid), host-wide."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        for i, a in enumerate(args[:-1]):
            if a == b"-uuid" and args[i + 1] == vm_id.encode():
                pids.append(int(name))
    return pids


def kill_qemus_under(path):
    """Kill every QEMU whose command line mentions path (test cleanup)."""
    needle = path.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"qemu-system" in cmd and needle in cmd:
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass


class Agent:
    """One drover-agent process acting as a host."""

    def __init__(self, workdir, index, shared_dir, name=None, extra=None,
                 storage=None, networks=None, hooks=True, port=17001):
        self.index = index
        self.name = name or "host%d" % index
        self.addr = "127.0.1.%d" % index
        self.port = port
        self.url = "http://%s:%d" % (self.addr, port)
        self.dir = os.path.join(workdir, self.name)
        self.state_dir = os.path.join(self.dir, "state")
        self.hooks_dir = os.path.join(self.dir, "hooks")
        self.log_path = os.path.join(self.dir, "agent.log")
        os.makedirs(self.state_dir, exist_ok=True)
        os.makedirs(self.hooks_dir, exist_ok=True)
        storage = storage if storage is not None else {"shared": shared_dir}
        networks = networks if networks is not None else {"vmnet": "user"}
        settings = {
            "name": self.name,
            "listen": "%s:%d" % (self.addr, port),
            "migration_address": self.addr,
            "state_dir": self.state_dir,
            "migration_bandwidth_mbps": 10000,
            # hosts sharing one machine: each counts only its own VMs' CPU
            "cpu_source": "vms",
            "cpus": 2,
        }
        if hooks:
            settings["hooks_dir"] = self.hooks_dir
        settings.update(extra or {})
        lines = ["[agent]"] + ["%s=%s" % kv for kv in settings.items()]
        lines.append("[storage]")
        lines += ["%s=%s" % kv for kv in storage.items()]
        lines.append("[networks]")
        lines += ["%s=%s" % kv for kv in networks.items()]
        self.config_path = os.path.join(self.dir, "agent.conf")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        # shared with scripts/agent-power.sh, which may stop and start it
        self.pid_path = os.path.join(self.dir, "agent.pid")
        self.proc = None

    # -- process --
    def start(self, timeout=60):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [AGENT_BIN, "--config", self.config_path, "--verbose"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        with open(self.pid_path, "w") as f:
            f.write("%d\n" % self.proc.pid)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("agent %s exited with %s:\n%s" % (
                    self.name, self.proc.returncode, self.log_tail()))
            try:
                status, facts = http("GET", self.url + "/v1/host", timeout=2)
            except OSError:
                return False
            if status != 200:
                return False
            # another agent on this address would answer just as well
            with open(os.path.join(self.state_dir, "host-id")) as f:
                mine = f.read().strip()
            if facts.get("host_id") != mine:
                raise AssertionError("%s answers for another agent (%s)"
                                     % (self.url, facts.get("host_id")))
            return True
        wait_until(up, timeout, what="agent %s to serve" % self.name)
        return self

    def running_pid(self):
        """The pid of this host's agent, started here or by
        scripts/agent-power.sh (agent.pid), or None when none runs."""
        try:
            with open(self.pid_path) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except (OSError, ValueError):
            return None
        # a zombie has no command line; a reused pid another one
        return pid if self.config_path.encode() in args else None

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, sig)
            wait_until(lambda: self.running_pid() is None, 30,
                       what="agent %s (pid %d) to end" % (self.name, pid))

    def restart(self):
        self.kill()
        return self.start()

    def log_tail(self, n=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # -- API --
    def get(self, path, **kw):
        return http("GET", self.url + path, **kw)

    def post(self, path, body=None, **kw):
        return http("POST", self.url + path, body, **kw)

    def ok(self, method, path, body=None, expect=(200, 201, 202)):
        status, out = http(method, self.url + path, body)
        if status not in expect:
            raise HttpError(status, out)
        return out

    def host(self):
        return self.ok("GET", "/v1/host")

    def vms(self):
        return self.ok("GET", "/v1/vms")["vms"]

    def vm(self, vm_id):
        status, out = self.get("/v1/vms/" + vm_id)
        return out if status == 200 else None

    def create_vm(self, spec):
        return self.ok("POST", "/v1/vms", spec)

    def destroy(self, vm_id):
        return self.post("/v1/vms/%s/destroy" % vm_id)

    def migrate(self, vm_id, dest, **params):
        body = dict(params)
        body["destination"] = dest.url if isinstance(dest, Agent) else dest
        return self.post("/v1/vms/%s/migrate" % vm_id, body)

    def migration(self, mig_id):
        return self.ok("GET", "/v1/migrations/" + mig_id)

    def wait_migration(self, mig_id, timeout=120):
        def ended():
            m = self.migration(mig_id)
            return m if m["phase"] == "ended" else None
        return wait_until(ended, timeout, what="migration %s to end" % mig_id)

    def console(self, vm_id, start=0):
        status, out = self.get("/v1/vms/%s/console?from=%d" % (vm_id, start))
        if status != 200:
            return []
        return out["lines"]

    def wait_console(self, vm_id, pattern, timeout=60, start=0):
        rx = re.compile(pattern)

        def found():
            for line in self.console(vm_id, start):
                if rx.search(line["text"]):
                    return line
            return None
        return wait_until(found, timeout,
                          what="console of %s on %s to show %r"
                          % (vm_id, self.name, pattern))


def make_spec(name, memory_mib=128, append="", disks=None, nics=None,
              vm_id=None, **extra):
    spec = {
        "id": vm_id or str(uuid.uuid4()),
        "name": name,
        "memory_mib": memory_mib,
        "vcpus": 1,
        "cpu_model": "qemu64",
        "kernel": GUEST_ELF,
        "append": append,
        "disks": disks or [],
        "nics": nics if nics is not None else [
            {"network": "vmnet", "mac": "52:54:00:%02x:%02x:%02x" % tuple(
                os.urandom(3))}],
    }
    spec.update(extra)
    return spec


def heartbeats(lines):
    """[(seq, host time_us)] of the guest's heartbeat lines."""
    out = []
    for line in lines:
        m = re.match(r"hb (\d+) ", line["text"])
        if m:
            out.append((int(m.group(1)), line["time_us"]))
    return out


MANAGER_BIN = os.path.join(BUILD, "src", "manager", "droverd")
CLI_BIN = os.path.join(BUILD, "src", "cli", "drover")


class Manager:
    """One droverd process with its own store."""

    def __init__(self, workdir, port=18080, extra=None):
        self.dir = os.path.join(workdir, "manager")
        os.makedirs(self.dir, exist_ok=True)
        self.url = "http://127.0.0.1:%d" % port
        self.log_path = os.path.join(self.dir, "droverd.log")
        self.config_path = os.path.join(self.dir, "droverd.conf")
        settings = {
            "listen": "127.0.0.1:%d" % port,
            "database": os.path.join(self.dir, "drover.db"),
            "poll_interval_s": 1,
            "host_timeout_s": 4,
        }
        settings.update(extra or {})
        with open(self.config_path, "w") as f:
            f.write("[manager]\n")
            for k, v in settings.items():
                f.write("%s=%s\n" % (k, v))
        self.proc = None
        self.user = "tester"

    def start(self, timeout=30):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [MANAGER_BIN, "--config", self.config_path, "--verbose"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("droverd exited with %s:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                return http("GET", self.url + "/api/clusters",
                            timeout=2)[0] == 200
            except OSError:
                return False
        wait_until(up, timeout, what="droverd to serve")
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def log_tail(self, n=80):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # -- API --
    def call(self, method, path, body=None):
        return http(method, self.url + path, body,
                    headers={"X-Drover-User": self.user})

    def ok(self, method, path, body=None, expect=(200, 201, 202, 204)):
        status, out = self.call(method, path, body)
        if status not in expect:
            raise HttpError(status, out)
        return out

    def hosts(self):
        return {h["name"]: h for h in self.ok("GET", "/api/hosts")["hosts"]}

    def host(self, name):
        return self.hosts()[name]

    def vm(self, name):
        vms = self.ok("GET", "/api/vms?name=" + name)["vms"]
        return vms[0] if vms else None

    def add_host(self, agent, cluster="default"):
        return self.ok("POST", "/api/hosts", {
            "name": agent.name, "address": agent.url,
            "cluster": {"name": cluster}})

    def add_vm(self, name, memory_mib=64, append="wss=0", priority="medium",
               **extra):
        spec = {"name": name, "memory_mib": memory_mib,
                "kernel": GUEST_ELF, "append": append, "priority": priority,
                "nics": [{"network": "vmnet"}]}
        spec.update(extra)
        return self.ok("POST", "/api/vms", spec)

    def start_vm(self, name, host=None, timeout=60):
        vm = self.vm(name)
        body = {"host": {"name": host}} if host else None
        self.ok("POST", "/api/vms/%s/start" % vm["id"], body)
        return wait_until(
            lambda: (self.vm(name)["status"] == "up") and self.vm(name),
            timeout, what="VM %s to be up" % name)

    def migrations(self, **filters):
        query = "&".join("%s=%s" % kv for kv in filters.items())
        return self.ok("GET", "/api/migrations?" + query)["migrations"]

    def migration(self, mig_id):
        return self.ok("GET", "/api/migrations/" + mig_id)

    def wait_migration(self, mig_id, timeout=180):
        def ended():
            m = self.migration(mig_id)
            return m if m["state"] in ("completed", "failed",
                                       "cancelled") else None
        return wait_until(ended, timeout, what="migration %s" % mig_id)

    def events(self, start=1):
        out = []
        while True:
            page = self.ok("GET", "/api/events?from=%d&max=1000" % start)
            out += page["events"]
            if not page["events"]:
                return out
            start = page["next"]

    def cluster(self, name="default"):
        return self.ok("GET", "/api/clusters?name=" + name)["clusters"][0]

    def set_cluster(self, name="default", **changes):
        c = self.cluster(name)
        return self.ok("PUT", "/api/clusters/" + c["id"], changes)
