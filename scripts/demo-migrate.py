#!/usr/bin/python3
"""Live-migrate a VM between two agents and show its progress.

usage: demo-migrate.py SOURCE_URL VM_ID DESTINATION_URL [PARAM=VALUE ...]
(e.g. downtime_ms=100 auto_converge=true)
"""

import json
import sys
import time
import urllib.error
import urllib.request


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        err = json.loads(e.read() or b"{}").get("error", {})
        sys.exit("migration refused: %s (%s)" % (err.get("message"),
                                                 err.get("code")))


def value(text):
    if text in ("true", "false"):
        return text == "true"
    return int(text) if text.isdigit() else text


def bar(p, width=30):
    full = int(width * p["percent"] / 100)
    return "[%s%s] %5.1f%%  pass %d  %7.1f MiB sent  %7.1f Mbit/s  " \
        "throttle %d%%" % ("#" * full, "." * (width - full), p["percent"],
                           p["pass"], p["transferred_bytes"] / 2 ** 20,
                           p["throughput_mbps"], p["throttle_percent"])


def main(src, vm, dest, *params):
    body = {"destination": dest}
    body.update({k: value(v) for k, v in (p.split("=", 1) for p in params)})
    mig = call("POST", "%s/v1/vms/%s/migrate" % (src, vm), body)
    print("migrating %s from %s to %s (migration %s)"
          % (mig["vm_name"], mig["host"], mig.get("peer_name", dest),
             mig["id"]))
    tty = sys.stdout.isatty()
    last = None
    while True:
        mig = call("GET", "%s/v1/migrations/%s" % (src, mig["id"]))
        line = bar(mig["progress"])
        if tty:
            print("\r" + line, end="", flush=True)
        elif line != last:
            print(line)
        last = line
        if mig["phase"] == "ended":
            break
        time.sleep(0.25)
    if tty:
        print()
    r = mig["result"]
    if r["status"] != "completed":
        sys.exit("migration %s: %s" % (r["status"], r.get("reason")))
    print("completed in %.2f s, guest-observed downtime %d ms, %.1f MiB "
          "transferred in %d passes%s"
          % (r["total_time_ms"] / 1000, r["downtime_ms"],
             r["transferred_bytes"] / 2 ** 20, r["passes"],
             ", post-copy" if r["postcopy"] else ""))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
