#!/usr/bin/env bash
# The README's first command: install what is missing, build, and start a
# local demo cluster: droverd (http://127.0.0.1:8080), three agents acting
# as hosts on 127.0.1.1-3 (sharing .demo/shared as their storage domain) and
# four test VMs with different workloads and priorities; then one live
# migration with its progress bar.
#
#   scripts/demo.sh          (re)start the demo
#   scripts/demo.sh stop     stop droverd, the agents and their VMs
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DROVER_BUILD_DIR:-$top/build}
demo=${DROVER_DEMO_DIR:-$top/.demo}
manager_url=http://127.0.0.1:8080
drover() { "$build/src/cli/drover" --url "$manager_url" "$@"; }
# one word for droverd's command templates, whatever the path holds
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

stop() {
    for pidfile in "$demo"/*/*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    # agents leave their VMs running on purpose; the demo does not
    pkill -f "qemu-system.*$demo/" 2>/dev/null || true
}

wait_url() {
    for _ in $(seq 100); do
        curl -sf "$1" >/dev/null && return 0
        sleep 0.1
    done
    echo "$2 did not start; see its log under $demo" >&2
    exit 1
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
mkdir -p "$demo/shared" "$demo/manager"

cat >"$demo/manager/droverd.conf" <<CONF
[manager]
listen=127.0.0.1:8080
database=$demo/manager/drover.db
poll_interval_s=2
CONF
setsid "$build/src/manager/droverd" --config "$demo/manager/droverd.conf" \
    >"$demo/manager/droverd.log" 2>&1 </dev/null &
echo $! >"$demo/manager/droverd.pid"

for i in 1 2 3; do
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
# three hosts on one machine: each counts its own VMs' CPU, over 2 CPUs
cpu_source=vms
cpus=2
[storage]
shared=$demo/shared
[networks]
vmnet=user
CONF
    # started as powering the host on would (see power below)
    "$top/scripts/agent-power.sh" on "$demo/host$i" \
        "$build/src/agent/drover-agent" >/dev/null
done
# power management: the demo's hosts are powered off and on by stopping
# and starting their agents; a real one would use a fence agent
power() {
    echo "$(quote "$top/scripts/agent-power.sh") $1 $(quote "$demo")/{name}" \
        "$(quote "$build/src/agent/drover-agent")"
}
wait_url "$manager_url/api/clusters" droverd
for i in 1 2 3; do
    wait_url "http://127.0.1.$i:7001/v1/host" "agent host$i"
    drover host add "host$i" "http://127.0.1.$i:7001" --power-on "$(power on)" \
        --power-off "$(power off)" --power-status "$(power status)" >/dev/null
done
for _ in $(seq 50); do
    [ "$(drover --json host list | grep -c '"status" : "up"')" = 3 ] && break
    sleep 0.2
done
drover host list

qemu-img create -q -f qcow2 "$demo/shared/db1.qcow2" 256M
kernel=guest/drover-testguest.elf
# name|memory|priority|workload (see docs/testguest.md)|disk
while IFS='|' read -r name mem prio append disk; do
    drover vm create --name "$name" --memory "$mem" --priority "$prio" \
        --kernel "$kernel" --append "$append" --nic vmnet \
        ${disk:+--disk "$disk"} >/dev/null
    drover vm start "$name" --wait >/dev/null
done <<VMS
web1|128|high|wss=8 rate=5|
db1|256|high|wss=32 rate=40 fill=64|shared:db1.qcow2:qcow2
batch1|128|low|wss=16 rate=100|
idle1|64|medium|wss=0 fill=16|
VMS
drover vm list

echo
echo "live-migrating db1 to the host the scheduler picks:"
drover vm migrate db1 --wait

cat <<INFO

drover runs: manager $manager_url (API: $manager_url/api),
agents http://127.0.1.1:7001 .. http://127.0.1.3:7001, logs under $demo.

Try the CLI:
  export PATH=$build/src/cli:\$PATH DROVER_URL=$manager_url
  drover host list
  drover vm list
  drover vm targets web1
  drover vm migrate web1 --to host3 --wait
  drover host maintenance host1 --wait
  drover host activate host1
  drover host power host1 off --wait     # empty: its agent is stopped
  drover host power host1 on --wait      # started again, up
  drover migrations --all
  drover events --follow
Stop with: scripts/demo.sh stop
INFO
