"""Host power management with real droverd, agents and QEMU (issue #5).

A host's power commands here are scripts/agent-power.sh on the host's
agent: powering the host off stops its agent, powering it on starts it
again.  Power management is set through the API and the CLI; a powered-off
host is down (not non_responsive) and refuses migrations until it is
powered on and up; a host with a VM is not powered off; bad templates are
refused; failing, hung and restarted power actions end as documented in
docs/manager.md ("Power").
"""

import os
import shlex
import signal
import time

from conftest import register
from drover_testlib import AGENT_BIN, REPO, wait_until
from test_cli import drover, ok, one_error_line

POWER_SCRIPT = os.path.join(REPO, "scripts", "agent-power.sh")


def power_commands(agent):
    """Templates running agent-power.sh on the agent's directory, which is
    the test's work directory and the host's {name}."""
    base = "%s %%s %s/{name} %s --verbose" % (
        shlex.quote(POWER_SCRIPT), shlex.quote(os.path.dirname(agent.dir)),
        shlex.quote(AGENT_BIN))
    return {action: base % action for action in ("on", "off", "status")}


def last_event(manager):
    return manager.ok("GET", "/api/events?max=1")["last"]


def host_events(manager, name, since):
    return [e for e in manager.events(since + 1)
            if (e["host"] or {}).get("name") == name]


def power(manager, name, action, expect=(200, 202)):
    host = manager.host(name)
    return manager.ok("POST", "/api/hosts/%s/power" % host["id"],
                      {"action": action}, expect=expect)


def set_power(manager, name, **commands):
    host = manager.host(name)
    return manager.ok("PUT", "/api/hosts/" + host["id"],
                      {"power_management": commands})


def wait_host(manager, name, what, pred, timeout=30):
    return wait_until(lambda: pred(manager.host(name)) and manager.host(name),
                      timeout, what="%s %s" % (name, what))


def test_power_off_and_on_through_the_cli(cluster):
    # a short grace period: a powered-off host must outlast it as down
    manager = cluster.manager(host_timeout_s=2)
    url = manager.url
    h1, h2, h3 = (cluster.agent(i) for i in (1, 2, 3))
    register(manager, [h1, h2])
    cmds = power_commands(h3)
    ok(url, "host", "add", "host3", h3.url, "--power-on", cmds["on"],
       "--power-off", cmds["off"], "--power-status", cmds["status"])
    host3 = wait_host(manager, "host3", "up", lambda h: h["status"] == "up")
    assert host3["power_management"] == cmds
    assert host3["power_state"] == "on"
    shown = ok(url, "host", "show", "host3")
    assert any(line.split() == ["power:", "on"] for line in shown.splitlines())
    assert cmds["off"] in shown
    manager.add_vm("pw1")
    manager.start_vm("pw1", host="host1")
    first_pid = h3.running_pid()
    assert first_pid == h3.proc.pid

    since = last_event(manager)
    out = ok(url, "host", "power", "host3", "off", "--wait")
    assert out == "host3 is powered off\n"
    host3 = manager.host("host3")
    assert host3["status"] == "down", host3
    assert host3["status_reason"] == "powered off by tester"
    assert host3["power_state"] == "off"
    assert h3.running_pid() is None and h3.proc.poll() is not None
    events = host_events(manager, "host3", since)
    assert [e["code"] for e in events] == ["host_power_off",
                                           "host_powered_off"], events
    assert {e["user"] for e in events} == {"tester"}
    assert ok(url, "host", "power", "host3", "status") == "host3: power off\n"
    status = power(manager, "host3", "status")
    assert (status["power"], status["exit_status"]) == ("off", 2), status
    assert status["host"]["name"] == "host3"

    # longer than host_timeout_s: down is what it should be, not a fault
    time.sleep(3)
    assert manager.host("host3")["status"] == "down"
    assert "host_non_responsive" not in [
        e["code"] for e in host_events(manager, "host3", since)]

    # never a destination while off; nor taken into maintenance
    vm = manager.vm("pw1")
    status, out = manager.call("POST", "/api/vms/%s/migrate" % vm["id"],
                               {"host": {"name": "host3"}})
    assert status == 409, out
    assert "host3 is down: powered off by tester" in out["error"]["message"]
    status, out = manager.call(
        "POST", "/api/hosts/%s/deactivate" % host3["id"])
    assert status == 409 and "powered off" in out["error"]["message"], out
    # its power management cannot go while it is off
    status, out = manager.call("PUT", "/api/hosts/" + host3["id"],
                               {"power_management": None})
    assert status == 409 and "power it on" in out["error"]["message"], out

    since = last_event(manager)
    out = ok(url, "host", "power", "host3", "on", "--wait")
    assert out == "host3 is powered on and up\n"
    host3 = manager.host("host3")
    assert (host3["status"], host3["power_state"]) == ("up", "on")
    assert host3["status_reason"] is None
    assert h3.running_pid() not in (None, first_pid)
    codes = [e["code"] for e in host_events(manager, "host3", since)]
    assert codes == ["host_power_on", "host_powered_on"], codes

    mig = manager.ok("POST", "/api/vms/%s/migrate" % vm["id"],
                     {"host": {"name": "host3"}})
    assert manager.wait_migration(mig["id"])["state"] == "completed"
    assert manager.vm("pw1")["host"]["name"] == "host3"

    # a host with a VM is not powered off, and nothing changes
    p = drover(url, "host", "power", "host3", "off")
    assert one_error_line(p) == (
        "host host3 cannot be powered off: it still runs VM pw1: move it "
        "away first (drover host maintenance)")
    host3 = manager.host("host3")
    assert (host3["status"], host3["power_state"]) == ("up", "on")
    assert h3.running_pid() is not None
    assert manager.vm("pw1")["status"] == "up"


def test_power_management_is_validated(cluster, manager):
    h1 = cluster.agent(1)
    register(manager, [h1])
    host = manager.host("host1")
    path = "/api/hosts/" + host["id"]
    assert host["power_management"] is None and host["power_state"] == "on"

    bad = [
        ({"on": "fence -n {nmae}", "off": "x"}, "unknown placeholder {nmae}"),
        ({"on": "echo 'unclosed", "off": "x"}, "not a command line"),
        ({"on": "x"}, "both an 'on' and an 'off'"),
        ({"status": "x"}, "both an 'on' and an 'off'"),
        ({"on": "x", "off": "y", "reboot": "z"}, "reboot"),
        ({"on": 5, "off": "y"}, "on"),
        ("fence", "power_management"),
    ]
    for pm, words in bad:
        status, out = manager.call("POST", "/api/hosts", {
            "name": "bad", "address": "http://127.0.1.9:17001",
            "power_management": pm})
        assert status == 400 and words in out["error"]["message"], (pm, out)
        status, out = manager.call("PUT", path, {"power_management": pm})
        assert status == 400 and words in out["error"]["message"], (pm, out)
    assert "bad" not in manager.hosts()
    assert manager.host("host1")["power_management"] is None

    # nothing to act with yet
    status, out = manager.call("POST", path + "/power", {"action": "off"})
    assert status == 400 and "no power management" in out["error"]["message"]
    status, out = manager.call("POST", path + "/power", {"action": "status"})
    assert status == 400 and "no power status" in out["error"]["message"]
    status, out = manager.call("POST", path + "/power", {"action": "reboot"})
    assert status == 400 and "reboot" in out["error"]["message"]

    # set, then change one command: the others stay
    out = set_power(manager, "host1", on="true", off="true")
    assert out["power_management"] == {"on": "true", "off": "true",
                                       "status": None}
    out = set_power(manager, "host1", status="sh -c 'echo chassis off; exit 2'")
    assert out["power_management"]["on"] == "true"
    status = power(manager, "host1", "status")
    assert status["power"] == "off" and status["output"] == "chassis off"
    set_power(manager, "host1", status="sh -c 'exit 1'")
    assert power(manager, "host1", "status")["power"] == "unknown"
    out = set_power(manager, "host1", status="")
    assert out["power_management"]["status"] is None
    status, out = manager.call("PUT", path, {"power_management": {"off": ""}})
    assert status == 400, out
    status, out = manager.call("PUT", path, {"colour": "red"})
    assert status == 400 and "colour" in out["error"]["message"]
    status, out = manager.call("POST", path + "/power", {"action": "on"})
    assert status == 409 and "not powered off" in out["error"]["message"]

    # the CLI: set, show, remove
    ok(manager.url, "host", "set", "host1", "--power-on", "on {name}",
       "--power-off", "off {host}")
    assert manager.host("host1")["power_management"] == {
        "on": "on {name}", "off": "off {host}", "status": None}
    p = drover(manager.url, "host", "set", "host1", "--power-on", "{what}")
    assert "unknown placeholder {what}" in one_error_line(p)
    # what is set survives a restart of droverd
    manager.kill()
    manager.start()
    assert manager.host("host1")["power_management"]["off"] == "off {host}"
    assert ok(manager.url, "host", "set", "host1", "--no-power") == \
        "host1: power management none\n"
    assert manager.host("host1")["power_management"] is None
    codes = [e["code"] for e in host_events(manager, "host1", 0)]
    assert codes.count("host_updated") >= 5, codes


def test_failed_and_hung_power_commands(cluster):
    manager = cluster.manager(power_command_timeout_s=1, power_on_timeout_s=10)
    h1, h2 = cluster.agent(1), cluster.agent(2)
    register(manager, [h1, h2])
    cmds = power_commands(h2)

    # an off command that fails: the host is up again, its words reported
    set_power(manager, "host2", on=cmds["on"],
              off="sh -c 'echo fence: no route to BMC >&2; exit 1'")
    since = last_event(manager)
    out = power(manager, "host2", "off")
    assert (out["status"], out["power_state"]) == ("down", "powering_off")
    wait_host(manager, "host2", "up again",
              lambda h: h["status"] == "up" and h["power_state"] == "on")
    failed = [e for e in host_events(manager, "host2", since)
              if e["code"] == "host_power_failed"]
    assert len(failed) == 1 and failed[0]["severity"] == "error"
    assert "exited with status 1: fence: no route to BMC" in \
        failed[0]["message"]
    assert failed[0]["data"]["output"] == "fence: no route to BMC"
    assert failed[0]["data"]["exit_status"] == 1
    assert h2.running_pid() is not None

    # a command that hangs is killed after power_command_timeout_s
    set_power(manager, "host2", off="sleep 30")
    since = last_event(manager)
    start = time.monotonic()
    power(manager, "host2", "off")
    wait_host(manager, "host2", "up again",
              lambda h: h["status"] == "up" and h["power_state"] == "on")
    assert time.monotonic() - start < 10
    failed = [e for e in host_events(manager, "host2", since)
              if e["code"] == "host_power_failed"]
    assert len(failed) == 1 and "killed after 1 s" in failed[0]["message"]
    assert failed[0]["data"]["timed_out"] is True

    # a failing on command: the host stays down, the CLI says why
    set_power(manager, "host2", off=cmds["off"], on="false")
    power(manager, "host2", "off")
    wait_host(manager, "host2", "off", lambda h: h["power_state"] == "off")
    assert h2.running_pid() is None
    p = drover(manager.url, "host", "power", "host2", "on", "--wait")
    assert one_error_line(p) == ("powering on host host2 failed: the command "
                                 "exited with status 1; it stays down")
    host2 = manager.host("host2")
    assert (host2["status"], host2["power_state"]) == ("down", "off")
    assert "powering on failed" in host2["status_reason"]

    # an on command that succeeds for an agent that never answers
    set_power(manager, "host2", on="true")
    since = last_event(manager)
    assert power(manager, "host2", "on")["power_state"] == "powering_on"
    wait_host(manager, "host2", "to give up",
              lambda h: h["power_state"] == "off", timeout=20)
    failed = [e for e in host_events(manager, "host2", since)
              if e["code"] == "host_power_failed"]
    assert len(failed) == 1
    assert "did not answer within 10 s" in failed[0]["message"]

    # and the real command brings it back
    set_power(manager, "host2", on=cmds["on"])
    power(manager, "host2", "on")
    wait_host(manager, "host2", "up", lambda h: h["status"] == "up")
    assert h2.running_pid() is not None


def test_power_actions_across_a_droverd_restart(cluster):
    manager = cluster.manager(power_command_timeout_s=30)
    h1, h2 = cluster.agent(1), cluster.agent(2)
    register(manager, [h1, h2])
    cmds = power_commands(h2)

    # droverd dies while the off command runs: the host is taken as off
    set_power(manager, "host2", on=cmds["on"], off="sleep 5")
    power(manager, "host2", "off")
    manager.kill(signal.SIGKILL)
    manager.start()
    host2 = manager.host("host2")
    assert (host2["status"], host2["power_state"]) == ("down", "off"), host2
    assumed = [e for e in manager.events() if e["code"] == "host_powered_off"]
    assert len(assumed) == 1 and assumed[0]["severity"] == "warning"
    assert "droverd restarted" in assumed[0]["message"]
    # its agent still answers, but a powered-off host stays down
    time.sleep(2)
    assert manager.host("host2")["status"] == "down"

    # droverd dies while waiting for a powered-on host: it goes on waiting
    h2.kill()
    set_power(manager, "host2", on="true")
    power(manager, "host2", "on")
    manager.kill(signal.SIGKILL)
    manager.start()
    host2 = manager.host("host2")
    assert (host2["status"], host2["power_state"]) == ("down", "powering_on")
    since = last_event(manager)
    h2.start()
    wait_host(manager, "host2", "up", lambda h: h["status"] == "up")
    codes = [e["code"] for e in host_events(manager, "host2", since)]
    assert codes == ["host_powered_on"], codes
    assert manager.host("host2")["power_state"] == "on"
