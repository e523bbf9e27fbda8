import os
import shutil
import tempfile

import pytest

from drover_testlib import (AGENT_BIN, GUEST_ELF, MANAGER_BIN, Agent,
                            Manager, kill_qemus_under, wait_until)


def pytest_configure(config):
    for path in (AGENT_BIN, GUEST_ELF, MANAGER_BIN):
        if not os.path.exists(path):
            raise pytest.UsageError(
                "%s is missing: build first (see README)" % path)


class Cluster:
    """Agents on 127.0.1.N sharing one storage directory."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.shared = os.path.join(workdir, "shared")
        os.makedirs(self.shared, exist_ok=True)
        self.agents = []
        self.managers = []

    def agent(self, index, start=True, **kw):
        a = Agent(self.workdir, index, self.shared, **kw)
        self.agents.append(a)
        return a.start() if start else a

    def teardown(self):
        for m in self.managers:
            m.kill()
        for a in self.agents:
            a.kill()
        kill_qemus_under(self.workdir)

    def manager(self, **extra):
        m = Manager(self.workdir, extra=extra)
        self.managers.append(m)
        return m.start()


@pytest.fixture
def cluster():
    # short paths: QEMU's UNIX sockets live under the state directories
    workdir = tempfile.mkdtemp(prefix="drv")
    c = Cluster(workdir)
    yield c
    c.teardown()
    if os.environ.get("DROVER_KEEP_TEST_DIRS"):
        return
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def two_hosts(cluster):
    return cluster.agent(1), cluster.agent(2)


@pytest.fixture
def manager(cluster):
    return cluster.manager()


def register(manager, agents, settled=("up",)):
    """Add @agents as hosts; wait until each is in one of @settled."""
    for a in agents:
        manager.add_host(a)
    wait_until(lambda: all(h["status"] in settled
                           for h in manager.hosts().values()), 30,
               what="hosts to settle in %s" % (settled,))
    return agents


@pytest.fixture
def three_hosts(cluster, manager):
    return register(manager, [cluster.agent(i) for i in (1, 2, 3)])
