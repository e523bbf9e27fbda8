"""The scheduler benchmark's simulator (bench/scheduler/sim) on small
synthetic clusters: it runs, its figures are consistent, and the balancer it
drives reaches an end its own policy accepts, within its lower bound's reach,
without moving a VM twice.  No QEMU; the figures are not timed here (the
benchmark does that, docs/benchmark-scheduler.md)."""

import json
import os
import subprocess

import pytest

from drover_testlib import BUILD

SIM = os.path.join(BUILD, "bench", "scheduler", "sim")


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "raw.json"
    proc = subprocess.run(
        [SIM, "--hosts", "30,60", "--reps", "3", "--pass-reps", "2",
         "--budget", "1", "--seed", "7", "--out", str(out)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "### Convergence" in proc.stdout
    return json.loads(out.read_text())


def test_every_size_measured(figures):
    sizes = figures["sizes"]
    assert [s["hosts"] for s in sizes] == [30, 60]
    for s in sizes:
        assert s["vms"] > 15 * s["hosts_up"]
        for key in ("assess", "assess_worst", "search", "search_worst"):
            d = s["decision"][key]
            assert d["mean"] > 0 and d["p50"] <= d["p99"], (key, d)
        labels = [p["label"] for p in s["pass"]]
        for policy in ("evenly_distributed", "vm_evenly_distributed",
                       "power_saving"):
            assert policy in labels


def test_worst_case_search_examines_more_hosts(figures):
    for s in figures["sizes"]:
        d = s["decision"]
        assert d["search_worst"]["hosts_examined"] > \
            d["search"]["hosts_examined"]


def test_balancer_converges_to_an_accepted_end(figures):
    for s in figures["sizes"]:
        for c in s["convergence"]:
            what = (s["hosts"], c["label"])
            assert c["settled"], what
            if not c["accepted"]:
                # counts stay uneven only when the emptiest host has no CPU
                # left under the cluster's maximum (80%) for another VM
                assert c["policy"] == "vm_evenly_distributed", what
                assert c["final_min_vms_cpu"] > 70, what
            assert c["vms_moved_twice"] == 0, what
            assert c["moves_bound"] <= c["migrations"], what
            # the bound assumes any host takes any VM; stay near it
            assert c["migrations"] <= 2 * max(c["moves_bound"], 1), what
