"""The drover CLI against a real droverd, real agents and QEMU.

Every command runs as a subprocess without a terminal, so progress comes
as plain lines; the manager's URL and the user come from the environment
($DROVER_URL, $USER) as they would for a person.
"""

import json
import os
import re
import subprocess

import pytest

from drover_testlib import BUILD, wait_until

DROVER = os.path.join(BUILD, "src", "cli", "drover")
KERNEL = "guest/drover-testguest.elf"

RESULT_LINE = re.compile(
    r"^(\S+) migrated from (\S+) to (\S+) in \S+ (ms|s|min \S+ s), "
    r"downtime \S+( ms| s)?, \S+ (B|KiB|MiB|GiB) transferred"
    r" \(policy (\S+), ([^;)]+)(; predicted [^,]+, downtime [^)]+)?\)$")


def drover(url, *args, timeout=180, user="tester"):
    """Run the CLI; returns the CompletedProcess (text)."""
    assert os.path.exists(DROVER), "%s is missing: build first" % DROVER
    env = dict(os.environ, DROVER_URL=url, USER=user)
    return subprocess.run([DROVER] + list(args), env=env, timeout=timeout,
                          capture_output=True, text=True)


def ok(url, *args, **kw):
    p = drover(url, *args, **kw)
    assert p.returncode == 0, "drover %s: %s%s" % (
        " ".join(args), p.stdout, p.stderr)
    assert p.stderr == ""
    return p.stdout


def one_error_line(p, status=1):
    """The failure contract: one line 'drover: ...' and the exit status."""
    assert p.returncode == status, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("drover: "), p.stderr
    return lines[0][len("drover: "):]


def create_and_start(url, name, host):
    ok(url, "vm", "create", "--name", name, "--memory", "64", "--kernel",
       KERNEL, "--append", "wss=0", "--nic", "vmnet")
    out = ok(url, "vm", "start", name, "--on", host, "--wait")
    assert out.splitlines()[-1] == "%s is up" % name


def vm_json(url, name):
    return json.loads(ok(url, "--json", "vm", "show", name))


def test_host_list(manager, three_hosts):
    out = ok(manager.url, "host", "list")
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == {h.name: "up" for h in three_hosts}
    hosts = json.loads(ok(manager.url, "--json", "host", "list"))["hosts"]
    assert sorted(h["name"] for h in hosts) == ["host1", "host2", "host3"]
    # a host by name or by id
    shown = ok(manager.url, "host", "show", hosts[0]["id"])
    assert "name:" in shown and hosts[0]["name"] in shown


def test_vm_create_start_show(manager, three_hosts):
    create_and_start(manager.url, "web1", "host1")
    shown = ok(manager.url, "vm", "show", "web1")
    fields = dict(re.match(r"^([^:]+):\s*(.*)$", line).groups()
                  for line in shown.splitlines())
    assert fields["status"] == "up"
    assert fields["host"] == "host1"
    assert fields["memory"] == "64 MiB"
    vm = vm_json(manager.url, "web1")
    assert vm["status"] == "up" and vm["host"]["name"] == "host1"
    assert vm["spec"]["kernel"] == KERNEL
    listed = ok(manager.url, "vm", "list")
    assert re.search(r"^web1\s+up\s+host1\s", listed, re.M), listed


def test_vm_migrate_wait(manager, three_hosts):
    create_and_start(manager.url, "web1", "host1")
    # a dry run samples the dirty rate; the migration predicts from it
    ok(manager.url, "vm", "migrate", "web1", "--to", "host2", "--dry-run")
    wait_until(lambda: manager.vm("web1")["dirty_rate_bps"] is not None, 30,
               what="the sample in the inventory")
    out = ok(manager.url, "vm", "migrate", "web1", "--to", "host2", "--wait")
    lines = out.splitlines()
    m = RESULT_LINE.match(lines[-1])
    assert m, lines
    assert m.group(1, 2, 3) == ("web1", "host1", "host2")
    # an idle guest: the default policy, plain pre-copy, and what was
    # predicted from the dry run's dirty-rate sample
    assert m.group(7, 8) == ("adaptive", "pre-copy"), lines[-1]
    assert m.group(9), lines[-1]
    # before it, only progress lines of this VM
    assert all(line.startswith("web1: ") for line in lines[:-1]), lines
    assert vm_json(manager.url, "web1")["host"]["name"] == "host2"
    mig = [x for x in manager.migrations() if x["vm"]["name"] == "web1"][-1]
    assert mig["state"] == "completed" and mig["user"] == "tester"


def test_vm_migrate_refused(manager, three_hosts):
    create_and_start(manager.url, "web1", "host1")
    # its own host: the scheduler refuses at once
    p = drover(manager.url, "vm", "migrate", "web1", "--to", "host1",
               "--wait")
    reason = one_error_line(p)
    assert "host1" in reason
    assert p.stdout == ""
    assert vm_json(manager.url, "web1")["host"]["name"] == "host1"


def test_vm_migrate_dry_run(manager, three_hosts):
    create_and_start(manager.url, "web1", "host1")
    before = len(manager.migrations())
    out = ok(manager.url, "vm", "migrate", "web1", "--to", "host3",
             "--dry-run")
    lines = out.splitlines()
    assert lines[0].startswith(
        "web1 would migrate from host1 to host3 with policy adaptive at "), out
    assert lines[0].endswith(", post-copy allowed"), out
    assert re.match(r"^measured: the guest dirties \S+ (B|KiB|MiB)/s of "
                    r"64\.\d MiB \(1 s sample\)$", lines[1]), out
    assert re.match(r"^predicted: \S+ m?s, downtime \d+ ms, pre-copy, "
                    r"\d+ pass(es)?$", lines[2]), out
    # without --to: the scheduler's pick, named
    out = ok(manager.url, "vm", "migrate", "web1", "--dry-run")
    assert re.match(r"^web1 would migrate from host1 to host[23] ", out), out
    # nothing moved, nothing queued
    assert len(manager.migrations()) == before
    assert vm_json(manager.url, "web1")["host"]["name"] == "host1"
    est = json.loads(ok(manager.url, "--json", "vm", "migrate", "web1",
                        "--to", "host2", "--dry-run"))
    assert est["destination"]["name"] == "host2"
    assert est["prediction"]["converges"] is True
    # refused as a migration would be
    reason = one_error_line(drover(manager.url, "vm", "migrate", "web1",
                                   "--to", "host1", "--dry-run"))
    assert "host1" in reason
    reason = one_error_line(drover(manager.url, "vm", "migrate", "web1",
                                   "--wait", "--dry-run"), status=2)
    assert "exclude" in reason


def test_unknown_names(manager):
    reason = one_error_line(drover(manager.url, "vm", "show", "nosuch"))
    assert reason == "no VM named nosuch"
    reason = one_error_line(drover(manager.url, "vm", "migrate", "nosuch"))
    assert reason == "no VM named nosuch"
    reason = one_error_line(drover(manager.url, "host", "maintenance", "h9"))
    assert reason == "no host named h9"


def test_usage_errors(manager):
    for args in (["vm", "migrate"], ["vm", "frobnicate"], ["--bogus"],
                 ["vm", "create", "--memory", "64"],
                 ["vm", "create", "--name", "x", "--memory", "64",
                  "--disk", "nocolon"],
                 ["cluster", "set", "default", "max_cpu_percent=lots"],
                 ["events", "--max", "0"], []):
        one_error_line(drover(manager.url, *args), status=2)


def test_unreachable_manager():
    url = "http://127.0.0.1:1"
    reason = one_error_line(drover(url, "host", "list"))
    assert url in reason


def test_events_list_migration(manager, three_hosts):
    create_and_start(manager.url, "web1", "host1")
    ok(manager.url, "vm", "migrate", "web1", "--to", "host2", "--wait")
    out = ok(manager.url, "events", "--max", "1000")
    codes = [line.split()[2] for line in out.splitlines()]
    assert "vm_migration_started" in codes and "vm_migration_done" in codes
    done = [line for line in out.splitlines() if "vm_migration_done" in line]
    assert "web1" in done[-1] and done[-1].endswith("(tester)")
    events = json.loads(ok(manager.url, "--json", "events",
                           "--max", "1000"))["events"]
    assert any(e["code"] == "vm_migration_done" for e in events)
    # the stream, from the start of the log, one JSON object per line
    followed = ok(manager.url, "--json", "events", "--follow", "--from", "1",
                  "--max", "3", timeout=30)
    lines = [json.loads(line) for line in followed.splitlines()]
    assert [e["index"] for e in lines] == [events[0]["index"],
                                           events[1]["index"],
                                           events[2]["index"]]


def test_host_maintenance_wait(manager, three_hosts):
    create_and_start(manager.url, "web1", "host1")
    out = ok(manager.url, "host", "maintenance", "host1", "--wait")
    lines = out.splitlines()
    assert lines[-1] == "host1 is in maintenance"
    result = [line for line in lines if RESULT_LINE.match(line)]
    assert len(result) == 1 and result[0].startswith("web1 migrated from "
                                                     "host1 to ")
    assert manager.host("host1")["status"] == "maintenance"
    assert vm_json(manager.url, "web1")["host"]["name"] in ("host2", "host3")
    ok(manager.url, "host", "activate", "host1")
    wait_until(lambda: manager.host("host1")["status"] == "up", 30,
               what="host1 to be up again")
