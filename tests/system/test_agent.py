"""The agent's API and VM lifecycle with real QEMU (issue #2, test 9 and
the VM operations the migration tests build on)."""

import socket
import time

from drover_testlib import (http, make_spec, qemu_pids, wait_until)


def test_bad_requests_get_json_errors_and_the_agent_keeps_serving(cluster):
    h1 = cluster.agent(1)
    cases = [
        # malformed JSON
        ("POST", "/v1/vms", b"{\"name\": ", 400, "invalid"),
        # not an object
        ("POST", "/v1/vms", b"[1, 2]", 400, "invalid"),
        # unknown VM / migration
        ("GET", "/v1/vms/6f1b7c2e-0d6a-4b51-9b1e-3f1f0c8e2a10", None, 404,
         "not_found"),
        ("POST", "/v1/vms/nope/destroy", b"", 404, "not_found"),
        ("POST", "/v1/vms/nope/migrate", b"{\"destination\": \"x\"}", 404,
         "not_found"),
        ("GET", "/v1/migrations/nope", None, 404, "not_found"),
        ("POST", "/v1/incoming/nope/finish", b"", 404, "not_found"),
        # unknown path and wrong method
        ("GET", "/v1/nothing", None, 404, "not_found"),
        ("DELETE", "/v1/vms", None, 405, "invalid"),
        # bad query parameter
        ("GET", "/v1/events?from=abc", None, 400, "invalid"),
        # a body that is not JSON at all
        ("POST", "/v1/incoming", b"\xff\xfe\x00garbage", 400, "invalid"),
    ]
    for method, path, raw, status, code in cases:
        got, body = http(method, h1.url + path, raw=raw)
        assert got == status, (method, path, got, body)
        assert body["error"]["code"] == code, (path, body)
        assert body["error"]["message"], (path, body)

    # a body over 1 MiB is refused before it is read
    big = b"{\"name\": \"" + b"x" * (2 * 1024 * 1024) + b"\"}"
    got, body = http("POST", h1.url + "/v1/vms", raw=big)
    assert got == 413 and body["error"]["code"] == "too_large"
    # also when it comes in chunks without a declared length
    sock = socket.create_connection((h1.addr, h1.port), timeout=10)
    sock.sendall(b"POST /v1/vms HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"y" * 65536
    for _ in range(20):
        sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
    # wrong content type
    got, body = http("POST", h1.url + "/v1/vms", raw=b"name=x",
                     headers={"Content-Type":
                              "application/x-www-form-urlencoded"})
    assert got == 415 and body["error"]["code"] == "unsupported_media_type"

    # and it still serves
    assert h1.host()["name"] == "host1"
    assert h1.vms() == []


def test_spec_validation_names_the_problem(cluster):
    h1 = cluster.agent(1)
    base = make_spec("v1")
    bad = [
        ({"memory_mib": 8}, "memory_mib"),
        ({"vcpus": 0}, "vcpus"),
        ({"name": "no spaces"}, "name"),
        ({"id": "not-a-uuid"}, "id"),
        ({"nics": [{"network": "vmnet", "mac": "01:00:5e:00:00:01"}]},
         "mac"),
        ({"disks": [{"storage_domain": "shared", "path": "../../etc/passwd"}]},
         "escapes"),
        ({"disks": [{"storage_domain": "shared", "path": "/etc/passwd"}]},
         "relative"),
        ({"colour": "blue"}, "colour"),
        ({"priority": "urgent"}, "priority"),
    ]
    for change, word in bad:
        spec = dict(base, **change)
        status, out = h1.post("/v1/vms", spec)
        assert status == 400, (change, out)
        assert word in out["error"]["message"], (change, out)
    # known members the host cannot satisfy are refused as such
    status, out = h1.post("/v1/vms", dict(base, disks=[
        {"storage_domain": "gold", "path": "a.img"}]))
    assert status == 409 and out["error"]["code"] == "no_storage_domain"
    status, out = h1.post("/v1/vms", dict(base, nics=[
        {"network": "dmz", "mac": "52:54:00:00:00:01"}]))
    assert status == 409 and out["error"]["code"] == "no_network"
    status, out = h1.post("/v1/vms", dict(base, cpu_model="Skylake-Server"))
    assert status == 409 and out["error"]["code"] == "cpu_model_unsupported"
    status, out = h1.post("/v1/vms", dict(base, disks=[
        {"storage_domain": "shared", "path": "missing.qcow2",
         "format": "qcow2"}]))
    assert status == 404 and "missing.qcow2" in out["error"]["message"]
    assert h1.vms() == [] and not qemu_pids(base["id"])


def test_host_facts(cluster):
    h1 = cluster.agent(1)
    facts = h1.host()
    assert facts["name"] == "host1"
    assert facts["cpu"]["cpus"] >= 1 and facts["cpu"]["flags"]
    assert facts["memory"]["total_mib"] > facts["memory"]["free_for_vms_mib"]
    assert facts["accelerator"] in ("kvm", "tcg")
    assert "qemu64" in facts["qemu"]["cpu_models"]
    assert facts["qemu"]["default_machine"].startswith("pc-i440fx-")
    shared = facts["storage_domains"][0]
    assert shared["name"] == "shared" and shared["exists"] and \
        shared["writable"]
    assert facts["networks"] == [{"name": "vmnet", "kind": "user",
                                  "available": True}] or \
        facts["networks"][0]["available"] is True
    assert facts["migration"]["address"] == "127.0.1.1"
    assert facts["vm_count"] == 0
    # committed memory follows the VMs
    spec = make_spec("m1", memory_mib=128, append="wss=0")
    h1.create_vm(spec)
    after = h1.host()
    assert after["vm_count"] == 1
    assert after["memory"]["committed_mib"] == \
        128 + after["memory"]["vm_overhead_mib"]
    # each VM's CPU use is measured (a share of the whole host)
    busy = make_spec("b1", memory_mib=64, append="wss=8 rate=0")
    h1.create_vm(busy)
    wait_until(lambda: h1.vm(busy["id"])["cpu_percent"] > 10, 15,
               what="the busy VM's CPU use to show")
    assert h1.vm(spec["id"])["cpu_percent"] < h1.vm(busy["id"])["cpu_percent"]
    assert h1.vm(busy["id"])["cpu_percent"] <= 100


def test_vm_lifecycle_shutdown_and_destroy(cluster):
    h1 = cluster.agent(1)
    # graceful: the guest handles the ACPI power button
    spec = make_spec("graceful", append="wss=0")
    vm = h1.create_vm(spec)
    vm_id = spec["id"]
    assert vm["state"] == "running" and vm["pid"] in qemu_pids(vm_id)
    h1.wait_console(vm_id, r"^acpi ok")
    status, out = h1.post("/v1/vms/%s/shutdown" % vm_id, {"timeout_s": 30})
    assert status == 202 and out["state"] == "shutting_down"
    h1.wait_console(vm_id, r"^powerdown")
    wait_until(lambda: h1.vm(vm_id)["state"] == "down", 20, what="down")
    assert h1.vm(vm_id)["exit_reason"] == "guest shut down"
    assert not qemu_pids(vm_id)
    # a down VM can be started again under the same id
    h1.create_vm(spec)
    assert h1.vm(vm_id)["state"] == "running"
    status, _ = h1.destroy(vm_id)
    assert status == 200 and h1.vm(vm_id) is None and not qemu_pids(vm_id)

    # a guest ignoring the button is destroyed after the timeout
    spec = make_spec("stubborn", append="wss=0 acpi=0")
    h1.create_vm(spec)
    vm_id = spec["id"]
    h1.wait_console(vm_id, r"^acpi disabled")
    t0 = time.monotonic()
    status, _ = h1.post("/v1/vms/%s/shutdown" % vm_id, {"timeout_s": 2})
    assert status == 202
    wait_until(lambda: h1.vm(vm_id)["state"] == "down", 20, what="down")
    assert time.monotonic() - t0 >= 2
    assert "timed out" in h1.vm(vm_id)["exit_reason"]
    assert not qemu_pids(vm_id)
    # shutting down a down VM is a conflict, not a crash
    status, out = h1.post("/v1/vms/%s/shutdown" % vm_id)
    assert status == 409 and out["error"]["code"] == "conflict"

    # pause and resume
    spec = make_spec("pausable", append="wss=0 hb=50")
    h1.create_vm(spec)
    vm_id = spec["id"]
    h1.wait_console(vm_id, r"^hb 2 ")
    status, out = h1.post("/v1/vms/%s/pause" % vm_id)
    assert status == 200
    wait_until(lambda: h1.vm(vm_id)["state"] == "paused", 10, what="paused")
    seq = h1.console(vm_id)[-1]["seq"]
    time.sleep(0.5)
    assert h1.console(vm_id)[-1]["seq"] == seq  # no heartbeat while paused
    status, out = h1.post("/v1/vms/%s/resume" % vm_id)
    assert status == 200
    h1.wait_console(vm_id, r"^hb ", start=seq + 1)
    assert h1.vm(vm_id)["state"] == "running"

    # a QEMU that dies is reported down with a reason, not forgotten
    pid = h1.vm(vm_id)["pid"]
    import os
    import signal
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: h1.vm(vm_id)["state"] == "down", 20, what="down")
    assert h1.vm(vm_id)["exit_reason"] == "QEMU exited unexpectedly"
    events = h1.ok("GET", "/v1/events?from=0&max=1000")["events"]
    downs = [e for e in events if e["type"] == "vm_state"
             and e["data"]["vm_id"] == vm_id
             and e["data"]["state"] == "down"]
    assert downs and downs[-1]["data"]["reason"] == "QEMU exited unexpectedly"


def test_dirty_rate_of_a_large_guest_is_measured(cluster):
    """QEMU reads a sample of pages all over the guest's RAM; where reading
    memory the guest never touched allocates it (this machine's kernel maps
    no zero page: 2 GiB took QEMU 3.9 s for a one-second sample), the agent
    waited a fixed 2 s past the period and failed the sample."""
    h1 = cluster.agent(1)
    spec = make_spec("big", memory_mib=2048, append="wss=8 rate=5 hb=10")
    h1.create_vm(spec)
    out = h1.ok("POST", "/v1/vms/%s/dirtyrate" % spec["id"], {"seconds": 1})
    assert out["memory_bytes"] == 2048 * 1024 * 1024
    assert 0 <= out["dirty_rate_bps"] < 100 * 1024 * 1024, out
    # the VM keeps it, and a second sample is possible at once
    assert h1.vm(spec["id"])["dirty_rate_bps"] == out["dirty_rate_bps"]
    h1.ok("POST", "/v1/vms/%s/dirtyrate" % spec["id"], {"seconds": 1})
