"""drover-agent processes in the benchmark's namespaces, and their API."""

import calendar
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from testbed import kill_pids

# one implementation of "which QEMU runs this VM", shared with the system tests
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "tests", "system"))
from drover_testlib import qemu_pids  # noqa: E402,F401


class ApiError(Exception):
    def __init__(self, status, code, message):
        self.status, self.code, self.message = status, code, message
        super().__init__("HTTP %s %s: %s" % (status, code, message))


def http(method, url, body=None, timeout=30):
    """Parsed JSON answer; ApiError for an HTTP error, OSError if unreachable."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            err = json.loads(text).get("error", {})
        except (ValueError, AttributeError):
            err = {"message": text.decode(errors="replace")[:200]}
        raise ApiError(e.code, err.get("code"), err.get("message")) from None


class Agent:
    def __init__(self, name, ns, addr, workdir, shared_dir, build_dir,
                 agent_bin, port=7001, bandwidth_mbps=100000):
        self.name = name
        self.ns = ns
        self.addr = addr
        self.port = port
        self.url = "http://%s:%d" % (addr, port)
        self.dir = os.path.join(workdir, name)
        self.state_dir = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.agent_bin = agent_bin
        os.makedirs(self.state_dir, exist_ok=True)
        self.config = "\n".join([
            "[agent]",
            "name=%s" % name,
            "listen=%s:%d" % (addr, port),
            "migration_address=%s" % addr,
            "state_dir=%s" % self.state_dir,
            "kernel_dir=%s" % build_dir,
            "cpu_source=vms",
            "cpus=2",
            "migration_bandwidth_mbps=%d" % bandwidth_mbps,
            "console_log_max_kib=65536",
            "[storage]",
            "shared=%s" % shared_dir,
            "[networks]",
            "vmnet=user",
        ]) + "\n"
        self.config_path = os.path.join(self.dir, "agent.conf")
        with open(self.config_path, "w") as f:
            f.write(self.config)
        self.proc = None

    def start(self, timeout=30):
        log = open(self.log_path, "ab")
        # own session: a Ctrl-C on the terminal must not reach the agents
        # before the benchmark has destroyed its VM through them
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, self.agent_bin,
             "--config", self.config_path],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agent %s exited with %s: %s" % (
                    self.name, self.proc.returncode, self.log_tail(3)))
            try:
                facts = http("GET", self.url + "/v1/host", timeout=2)
                with open(os.path.join(self.state_dir, "host-id")) as f:
                    if facts.get("host_id") == f.read().strip():
                        self.facts = facts
                        return self
            except (OSError, ApiError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError("agent %s did not answer on %s within %ds"
                           % (self.name, self.url, timeout))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(l.strip() for l in f.readlines()[-n:])
        except OSError:
            return ""

    # --- API ---
    def get(self, path, **kw):
        return http("GET", self.url + path, **kw)

    def post(self, path, body=None, **kw):
        return http("POST", self.url + path, body, **kw)

    def console_path(self, vm_id):
        return os.path.join(self.state_dir, "vms", vm_id, "console.log")


def parse_console_line(line):
    """'SEQ 2024-01-01T00:00:00.123456Z TEXT' -> (time_us, text) or None."""
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 2:
        return None
    try:
        stamp = parts[1]
        base, _, frac = stamp.rstrip("Z").partition(".")
        dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
        us = calendar.timegm(dt.timetuple()) * 1000000 + int(
            (frac + "000000")[:6])
    except ValueError:
        return None
    return us, parts[2] if len(parts) > 2 else ""


class ConsoleTail:
    """Reads an agent's console log of one VM from disk as it grows.

    The benchmark runs on the same machine as the agents, so it reads the
    log files instead of calling the console API over the shaped link.
    """

    def __init__(self, path):
        self.path = path
        self.f = None
        self.buf = ""
        self.lines = []      # (time_us, text)

    def poll(self):
        if self.f is None:
            try:
                self.f = open(self.path, errors="replace")
            except OSError:
                return self.lines
        chunk = self.f.read()
        if chunk:
            self.buf += chunk
            *full, self.buf = self.buf.split("\n")
            for line in full:
                parsed = parse_console_line(line)
                if parsed:
                    self.lines.append(parsed)
        return self.lines

    def close(self):
        if self.f:
            self.f.close()
            self.f = None

    def wait_for(self, pred, timeout, interval=0.1, give_up=None):
        """First line (time_us, text) with pred(line) true, or None (also
        as soon as give_up() is true)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            lines = self.poll()
            for line in lines[seen:]:
                if pred(line):
                    return line
            seen = len(lines)
            if time.monotonic() >= deadline or (give_up and give_up()):
                return None
            time.sleep(interval)


def processes_mentioning(needle):
    """PIDs whose command line contains needle (our work directory)."""
    out = []
    needle = needle.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if needle in f.read():
                    out.append(int(name))
        except OSError:
            pass
    return out


def kill_under(path):
    kill_pids(processes_mentioning(path))
