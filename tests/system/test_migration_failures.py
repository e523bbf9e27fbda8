"""Migrations that must fail safely (issue #2, tests 5-8, hooks, limits).

Whatever goes wrong, the VM keeps running where it was and never runs on
two hosts.
"""

import os
import signal
import time

from drover_testlib import heartbeats, make_spec, qemu_pids, wait_until

# dirties 64 MiB as fast as it can: over a capped link it never converges
NON_CONVERGING = "wss=64 rate=0 hb=50"
SLOW = {"bandwidth_mbps": 40, "downtime_ms": 10}


def start_vm(agent, name, append="wss=0 hb=50", **kw):
    spec = make_spec(name, append=append, **kw)
    assert agent.create_vm(spec)["state"] == "running"
    agent.wait_console(spec["id"], r"^hb 3 ", timeout=60)
    return spec["id"]


def assert_only_on_source(vm_id, src, dst):
    # the destination discards its paused incoming copy once the source's
    # abort reaches it, which the source does not wait for
    wait_until(lambda: len(qemu_pids(vm_id)) == 1 and dst.vm(vm_id) is None,
               20, what="the incoming QEMU to go")
    pids = qemu_pids(vm_id)
    assert len(pids) == 1, pids
    vm = src.vm(vm_id)
    assert vm is not None, "VM lost from the source"
    assert vm["state"] == "running", vm
    assert vm["pid"] == pids[0]
    assert dst.vm(vm_id) is None


def assert_beating(agent, vm_id, seconds=1.5, max_gap_ms=1500):
    """The guest keeps printing heartbeats, with no long pause."""
    start = agent.console(vm_id)[-1]["seq"] + 1
    time.sleep(seconds)
    beats = heartbeats(agent.console(vm_id, start))
    assert len(beats) >= 3, "guest stopped beating"
    seqs = [s for s, _ in beats]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    gaps = [(b[1] - a[1]) / 1000 for a, b in zip(beats, beats[1:])]
    assert max(gaps) < max_gap_ms, gaps


def wait_migrating(agent, mig_id, min_percent=1):
    def going():
        m = agent.migration(mig_id)
        assert m["phase"] != "ended", m
        p = m["progress"]
        return p["qemu_status"] == "active" and p["percent"] >= min_percent
    wait_until(going, 60, what="migration %s to be under way" % mig_id)


def test_cancel_non_converging_migration(two_hosts):
    h1, h2 = two_hosts
    vm_id = start_vm(h1, "hot1", NON_CONVERGING)
    status, mig = h1.migrate(vm_id, h2, **SLOW)
    assert status == 202, mig
    wait_migrating(h1, mig["id"], min_percent=5)
    assert len(qemu_pids(vm_id)) == 2  # the incoming copy exists meanwhile
    before = heartbeats(h1.console(vm_id))[-1]

    status, out = h1.post("/v1/vms/%s/cancelmigration" % vm_id)
    assert status == 202, out
    done = h1.wait_migration(mig["id"], timeout=60)
    assert done["status"] == "cancelled"
    assert done["result"]["status"] == "cancelled"
    assert "cancel" in done["result"]["reason"]

    wait_until(lambda: len(qemu_pids(vm_id)) == 1, 20,
               what="the incoming QEMU to go")
    assert_only_on_source(vm_id, h1, h2)
    # the destination may see its stream break before the abort arrives
    dest_side = h2.migration(mig["id"])
    assert dest_side["phase"] == "ended"
    assert dest_side["status"] in ("cancelled", "failed")
    # the guest never stopped: its heartbeats ran through the cancel
    after = heartbeats(h1.console(vm_id, 0))
    around = [b for b in after if b[0] >= before[0]]
    gaps = [(b[1] - a[1]) / 1000 for a, b in zip(around, around[1:])]
    assert max(gaps) < 1500, gaps
    assert_beating(h1, vm_id)
    # cancelling again is refused with a reason
    status, out = h1.post("/v1/vms/%s/cancelmigration" % vm_id)
    assert status == 409 and out["error"]["code"] == "conflict"


def test_destination_qemu_killed(two_hosts):
    h1, h2 = two_hosts
    vm_id = start_vm(h1, "victim1", NON_CONVERGING)
    status, mig = h1.migrate(vm_id, h2, **SLOW)
    assert status == 202, mig
    wait_migrating(h1, mig["id"], min_percent=5)
    dest_pid = h2.vm(vm_id)["pid"]
    os.kill(dest_pid, signal.SIGKILL)

    done = h1.wait_migration(mig["id"], timeout=60)
    assert done["status"] == "failed"
    assert done["result"]["reason"], done
    assert done["result"]["code"] == "migration_failed"
    wait_until(lambda: h2.vm(vm_id) is None, 20,
               what="destination to drop the VM")
    assert_only_on_source(vm_id, h1, h2)
    assert_beating(h1, vm_id)
    # the VM can still migrate afterwards
    status, mig2 = h1.migrate(vm_id, h2, downtime_ms=2000)
    assert status == 202
    assert h1.wait_migration(mig2["id"], timeout=180)["status"] == "completed"
    assert h2.vm(vm_id)["state"] == "running"
    assert len(qemu_pids(vm_id)) == 1


def test_source_agent_killed_mid_migration(two_hosts):
    h1, h2 = two_hosts
    vm_id = start_vm(h1, "orphan1", NON_CONVERGING)
    src_pid = h1.vm(vm_id)["pid"]
    status, mig = h1.migrate(vm_id, h2, **SLOW)
    assert status == 202, mig
    wait_migrating(h1, mig["id"], min_percent=5)

    h1.kill(signal.SIGKILL)
    # QEMU outlives its agent: the VM is still there, still migrating
    assert src_pid in qemu_pids(vm_id)
    time.sleep(1)
    h1.start()

    done = h1.wait_migration(mig["id"], timeout=90)
    assert done["status"] == "failed"
    assert "restarted" in done["result"]["reason"]
    wait_until(lambda: len(qemu_pids(vm_id)) == 1, 30,
               what="exactly one QEMU for the VM")
    assert qemu_pids(vm_id) == [src_pid]
    assert_only_on_source(vm_id, h1, h2)
    assert_beating(h1, vm_id)
    dest_side = h2.migration(mig["id"])
    assert dest_side["phase"] == "ended" and dest_side["status"] != "completed"


def test_agent_restart_reattaches_without_touching_vms(two_hosts):
    h1, _ = two_hosts
    vm_id = start_vm(h1, "steady1", "wss=4 rate=5 hb=50")
    pid = h1.vm(vm_id)["pid"]
    h1.kill(signal.SIGKILL)
    time.sleep(0.5)
    h1.start()
    vm = h1.vm(vm_id)
    assert vm["pid"] == pid and qemu_pids(vm_id) == [pid]
    wait_until(lambda: h1.vm(vm_id)["monitor_connected"], 20,
               what="QMP reattached")
    assert h1.vm(vm_id)["state"] == "running"
    # the console is captured again and its numbering goes on
    last = h1.console(vm_id)[-1]["seq"]
    line = h1.wait_console(vm_id, r"^hb ", start=last + 1, timeout=20)
    assert line["seq"] > last
    # a graceful stop (SIGTERM) leaves the VM alone as well
    h1.kill(signal.SIGTERM)
    assert qemu_pids(vm_id) == [pid]
    h1.start()
    assert h1.vm(vm_id)["pid"] == pid


def refused(src, vm_id, dest, code, words):
    status, out = src.migrate(vm_id, dest)
    assert 400 <= status < 600, out
    assert out["error"]["code"] == code, out
    for w in words:
        assert w in out["error"]["message"], out["error"]["message"]
    return out


def test_refusals_leave_the_vm_untouched(cluster):
    h1 = cluster.agent(1)
    other = os.path.join(cluster.workdir, "other-storage")
    os.makedirs(other)
    no_storage = cluster.agent(2, storage={"other": other})
    no_network = cluster.agent(3, networks={"prodnet": "user"})
    no_memory = cluster.agent(4, extra={"memory_reserve_mib": 10 ** 8})
    no_cpu = cluster.agent(5, extra={"cpu_models": "qemu32"})
    disk = os.path.join(cluster.shared, "r1.qcow2")
    os.system("qemu-img create -q -f qcow2 %s 16M" % disk)
    vm_id = start_vm(h1, "stay1", disks=[
        {"storage_domain": "shared", "path": "r1.qcow2", "format": "qcow2"}])
    pid = h1.vm(vm_id)["pid"]

    refused(h1, vm_id, no_storage, "no_storage_domain", ["shared", "host2"])
    refused(h1, vm_id, no_network, "no_network", ["vmnet", "host3"])
    refused(h1, vm_id, no_memory, "insufficient_memory", ["host4", "MiB"])
    refused(h1, vm_id, no_cpu, "cpu_model_unsupported", ["qemu64", "host5"])
    refused(h1, vm_id, h1, "same_host", ["host1"])
    refused(h1, vm_id, "http://127.0.1.1:7999", "unreachable",
            ["127.0.1.1:7999"])
    status, out = h1.migrate(vm_id, "ftp://nowhere")
    assert status == 400 and out["error"]["code"] == "invalid"

    assert qemu_pids(vm_id) == [pid]
    assert h1.vm(vm_id)["state"] == "running"
    for a in (no_storage, no_network, no_memory, no_cpu):
        assert a.vms() == []
    # every refusal is on record as a failed migration, with its reason
    migs = h1.ok("GET", "/v1/migrations")["migrations"]
    # (same_host is refused before a migration exists)
    assert len(migs) == 5
    assert all(m["status"] == "failed" and m["error"]["message"]
               for m in migs)
    assert_beating(h1, vm_id)


def test_outgoing_limit_gives_busy(cluster):
    h1 = cluster.agent(1, extra={"max_outgoing_migrations": 1})
    h2 = cluster.agent(2)
    a = start_vm(h1, "first1", NON_CONVERGING)
    b = start_vm(h1, "second1")
    status, mig = h1.migrate(a, h2, **SLOW)
    assert status == 202
    status, out = h1.migrate(b, h2)
    assert status == 409 and out["error"]["code"] == "busy", out
    assert "outgoing" in out["error"]["message"]
    assert h1.vm(b)["state"] == "running"
    h1.post("/v1/vms/%s/cancelmigration" % a)
    assert h1.wait_migration(mig["id"])["status"] == "cancelled"
    status, mig = h1.migrate(b, h2)
    assert status == 202
    assert h1.wait_migration(mig["id"])["status"] == "completed"


def write_hook(agent, event, name, body):
    d = os.path.join(agent.hooks_dir, event)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)


def test_cancelled_migration_of_a_paused_vm_leaves_it_paused(two_hosts):
    h1, h2 = two_hosts
    vm_id = start_vm(h1, "paused1", "fill=48 hb=50")
    h1.ok("POST", "/v1/vms/%s/pause" % vm_id)
    wait_until(lambda: h1.vm(vm_id)["state"] == "paused", 10, what="paused")
    seq = h1.console(vm_id)[-1]["seq"]
    status, mig = h1.migrate(vm_id, h2, **SLOW)
    assert status == 202, mig
    wait_migrating(h1, mig["id"], min_percent=5)
    h1.ok("POST", "/v1/vms/%s/cancelmigration" % vm_id)
    done = h1.wait_migration(mig["id"], timeout=60)
    assert done["status"] == "cancelled", done
    assert done["result"]["was_running"] is False
    # as it was: on the source, paused, its guest not run by the cancel
    wait_until(lambda: len(qemu_pids(vm_id)) == 1 and h2.vm(vm_id) is None,
               20, what="the incoming QEMU to go")
    assert h1.vm(vm_id)["state"] == "paused"
    time.sleep(1)
    assert h1.console(vm_id)[-1]["seq"] == seq
    h1.ok("POST", "/v1/vms/%s/resume" % vm_id)
    h1.wait_console(vm_id, r"^hb ", start=seq + 1, timeout=10)


def test_hooks_run_and_a_failing_hook_aborts(two_hosts, cluster):
    h1, h2 = two_hosts
    log = os.path.join(cluster.workdir, "hooks.log")
    for agent, side in ((h1, "source"), (h2, "destination")):
        for when in ("before", "after"):
            write_hook(agent, "%s_vm_migrate_%s" % (when, side), "10-log",
                       'echo "%s_%s $DROVER_VM_NAME $DROVER_MIGRATION_ID '
                       '$(cat | head -c 200 | grep -c memory_mib)" >> %s'
                       % (when, side, log))
    vm_id = start_vm(h1, "hooked1")
    status, mig = h1.migrate(vm_id, h2)
    assert status == 202
    assert h1.wait_migration(mig["id"])["status"] == "completed"
    wait_until(lambda: os.path.exists(log) and
               len(open(log).read().splitlines()) == 4, 20,
               what="four hook runs")
    lines = open(log).read().splitlines()
    assert [l.split()[0] for l in lines[:2]] == [
        "before_destination", "before_source"] or \
        [l.split()[0] for l in lines[:2]] == ["before_source",
                                              "before_destination"]
    for line in lines:
        kind, name, mid, saw_spec = line.split()
        assert name == "hooked1" and mid == mig["id"] and saw_spec == "1"

    # a failing before-hook on the (new) source stops the migration back
    write_hook(h2, "before_vm_migrate_source", "20-deny",
               'echo "host is frozen for audit" >&2; exit 3')
    status, mig = h2.migrate(vm_id, h1)
    assert status == 202
    done = h2.wait_migration(mig["id"])
    assert done["status"] == "failed"
    assert done["result"]["code"] == "hook_failed"
    assert "host is frozen for audit" in done["result"]["reason"]
    assert_only_on_source(vm_id, h2, h1)

    # and on the destination it is a refusal in prepare
    os.unlink(os.path.join(h2.hooks_dir, "before_vm_migrate_source",
                           "20-deny"))
    write_hook(h1, "before_vm_migrate_destination", "05-deny",
               'echo "no room in rack 4" >&2; exit 1')
    status, out = h2.migrate(vm_id, h1)
    assert status == 409 and out["error"]["code"] == "hook_failed", out
    assert "no room in rack 4" in out["error"]["message"]
    assert_only_on_source(vm_id, h2, h1)


def test_cancel_during_prepare(two_hosts):
    import threading
    h1, h2 = two_hosts
    # a slow destination hook keeps the migration in prepare
    write_hook(h2, "before_vm_migrate_destination", "10-slow", "sleep 3")
    vm_id = start_vm(h1, "early1")
    answer = {}

    def migrate():
        answer["status"], answer["body"] = h1.migrate(vm_id, h2)
    t = threading.Thread(target=migrate)
    t.start()
    wait_until(lambda: h1.vm(vm_id)["migration"], 10, what="prepare")
    mig_id = h1.vm(vm_id)["migration"]["id"]
    assert h1.vm(vm_id)["migration"]["phase"] == "prepare"
    # cancel once the destination is busy preparing: the abort then
    # overtakes its prepare
    wait_until(lambda: h2.get("/v1/migrations/" + mig_id)[0] == 200, 10,
               what="the destination to start preparing")
    status, out = h1.post("/v1/vms/%s/cancelmigration" % vm_id)
    assert status == 202, out
    t.join(30)
    assert answer["status"] == 409
    assert answer["body"]["error"]["code"] == "cancelled"
    assert h1.migration(mig_id)["status"] == "cancelled"
    # the destination finishes its hook, sees the abort, builds nothing
    wait_until(lambda: h2.migration(mig_id)["phase"] == "ended", 10,
               what="destination to end the migration")
    time.sleep(4)
    assert h2.vms() == []
    assert_only_on_source(vm_id, h1, h2)
    assert_beating(h1, vm_id)


def test_cancel_while_waiting_for_the_sample(cluster, tmp_path):
    # prepared, the source waits for its dirty-rate sample (about 1 s)
    # before the stream; a preallocating destination prepares a small guest
    # faster than that, so the migrate call answers inside the wait, and a
    # cancel then ends the migration before any step of perform runs
    h1 = cluster.agent(1)
    h2 = cluster.agent(2, extra={"incoming_prealloc": "true"})
    log = str(tmp_path / "source-hook.log")
    write_hook(h1, "before_vm_migrate_source", "10-log",
               "echo ran >> %s" % log)
    vm_id = start_vm(h1, "waiting1")
    status, mig = h1.migrate(vm_id, h2)
    assert status == 202, mig
    status, out = h1.post("/v1/vms/%s/cancelmigration" % vm_id)
    assert status == 202, out
    done = h1.wait_migration(mig["id"])
    assert done["status"] == "cancelled", done
    assert done["result"]["destination_ram"] == "preallocated"
    # the before-migrate hook of a cancelled migration never ran, and the
    # cancel came while the source waited: QEMU was never asked to migrate
    time.sleep(1)
    assert not os.path.exists(log)
    assert done["result"]["prediction"]["basis"] == "dirty-rate sample"
    assert done["result"]["qemu_total_time_ms"] == 0, done["result"]
    with open(h1.log_path, errors="replace") as f:
        agent_log = f.read()
    assert "cancel requested in phase perform" in agent_log
    wait_until(lambda: h2.migration(mig["id"])["phase"] == "ended", 10,
               what="destination to end the migration")
    assert_only_on_source(vm_id, h1, h2)
    assert_beating(h1, vm_id)


def test_incoming_limit_gives_busy(cluster):
    h1 = cluster.agent(1)
    h2 = cluster.agent(2, extra={"max_incoming_migrations": 1})
    a = start_vm(h1, "in1", NON_CONVERGING)
    b = start_vm(h1, "in2")
    status, mig = h1.migrate(a, h2, **SLOW)
    assert status == 202
    status, out = h1.migrate(b, h2)
    assert status == 409 and out["error"]["code"] == "busy", out
    assert "host2" in out["error"]["message"]
    assert_only_on_source(b, h1, h2)
    h1.post("/v1/vms/%s/cancelmigration" % a)
    assert h1.wait_migration(mig["id"])["status"] == "cancelled"


def test_destination_agent_restarted_during_migration(two_hosts):
    h1, h2 = two_hosts
    vm_id = start_vm(h1, "dst1", NON_CONVERGING)
    status, mig = h1.migrate(vm_id, h2, **SLOW)
    assert status == 202
    wait_migrating(h1, mig["id"], min_percent=5)
    h2.kill(signal.SIGKILL)
    h2.start()
    # the restarted destination drops the half-received VM; the source
    # sees its stream end and keeps the VM
    done = h1.wait_migration(mig["id"], timeout=60)
    assert done["status"] == "failed", done
    wait_until(lambda: len(qemu_pids(vm_id)) == 1, 30,
               what="the incoming QEMU to go")
    assert_only_on_source(vm_id, h1, h2)
    assert h2.migration(mig["id"])["status"] == "failed"
    assert "restarted" in h2.migration(mig["id"])["error"]["message"]
    assert_beating(h1, vm_id)
