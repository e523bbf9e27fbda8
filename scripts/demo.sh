#!/usr/bin/env bash
# The README's first command: install what is missing, build, start two
# local agents (hosts on 127.0.1.1 and 127.0.1.2 sharing one storage
# directory), start a test VM on the first and live-migrate it to the
# second with a progress display.
#
#   scripts/demo.sh          (re)start the demo
#   scripts/demo.sh stop     stop the agents and their VMs
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DROVER_BUILD_DIR:-$top/build}
demo=${DROVER_DEMO_DIR:-$top/.demo}
agent_bin=$build/src/agent/drover-agent

stop() {
    for pidfile in "$demo"/*/agent.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    # the agents leave their VMs running on purpose; the demo does not
    pkill -f "qemu-system.*$demo/" 2>/dev/null || true
}

if [ "${1:-start}" = stop ]; then
    stop
    echo "demo stopped"
    exit 0
fi

"$top/scripts/install-deps.sh"
echo "building..."
"$top/scripts/build.sh"
stop
rm -rf "$demo"
mkdir -p "$demo/shared"

for i in 1 2; do
    mkdir -p "$demo/host$i/hooks"
    cat >"$demo/host$i/agent.conf" <<CONF
[agent]
name=host$i
listen=127.0.1.$i:7001
migration_address=127.0.1.$i
state_dir=$demo/host$i/state
hooks_dir=$demo/host$i/hooks
kernel_dir=$build
migration_bandwidth_mbps=1000
[storage]
shared=$demo/shared
[networks]
vmnet=user
CONF
    setsid "$agent_bin" --config "$demo/host$i/agent.conf" \
        >"$demo/host$i/agent.log" 2>&1 </dev/null &
    echo $! >"$demo/host$i/agent.pid"
done
for i in 1 2; do
    for _ in $(seq 100); do
        curl -sf "http://127.0.1.$i:7001/v1/host" >/dev/null && break
        sleep 0.1
    done
    curl -sf "http://127.0.1.$i:7001/v1/host" >/dev/null || {
        echo "agent host$i did not start; see $demo/host$i/agent.log"
        exit 1
    }
done
echo "agents up: http://127.0.1.1:7001 (host1), http://127.0.1.2:7001 (host2)"

qemu-img create -q -f qcow2 "$demo/shared/demo1.qcow2" 256M
vm=$(/usr/bin/python3 -c 'import uuid; print(uuid.uuid4())')
cat >"$demo/demo1.json" <<SPEC
{"id": "$vm", "name": "demo1", "memory_mib": 256, "vcpus": 1,
 "cpu_model": "qemu64", "kernel": "guest/drover-testguest.elf",
 "append": "wss=16 rate=20 fill=64",
 "disks": [{"storage_domain": "shared", "path": "demo1.qcow2",
            "format": "qcow2"}],
 "nics": [{"network": "vmnet", "mac": "52:54:00:12:34:56"}]}
SPEC
curl -sf -X POST -H 'Content-Type: application/json' \
    --data @"$demo/demo1.json" http://127.0.1.1:7001/v1/vms >/dev/null
echo "VM demo1 ($vm) running on host1; letting it fill its memory..."
sleep 3
/usr/bin/python3 "$top/scripts/demo-migrate.py" http://127.0.1.1:7001 \
    "$vm" http://127.0.1.2:7001

cat <<INFO

Try:
  curl -s http://127.0.1.2:7001/v1/vms | python3 -m json.tool
  curl -s 'http://127.0.1.2:7001/v1/vms/$vm/console?from=0' | python3 -m json.tool
  scripts/demo-migrate.py http://127.0.1.2:7001 $vm http://127.0.1.1:7001
  curl -sN http://127.0.1.1:7001/v1/events/stream     (live events)
Stop with: scripts/demo.sh stop
INFO
