#!/usr/bin/python3
"""drover's scheduler and balancer benchmark: synthetic clusters, no QEMU.

Runs the simulator (bench/scheduler/sim, built with the project) and writes
bench/results/scheduler-YYYYMMDD-HHMMSS/ with results.md (the tables),
raw.json (every figure), env.md (machine, load, commit, command) and
plot.svg (decision and pass time against hosts, log-log, with the targets),
then copies results.md and the plot to bench/results/scheduler-latest.md
and scheduler-latest.svg.  See docs/benchmark-scheduler.md.

usage: bench/scheduler/run.py [--quick] [--hosts 100,1000,5000] [--vms 20]
           [--seed 1] [--reps N] [--pass-reps N] [--budget S] [--only PARTS]
           [--out DIR] [--allow-stale]

The simulator is taken from $DROVER_BUILD_DIR (default: build/).  Standard
library only.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("DROVER_BUILD_DIR", os.path.join(REPO, "build"))
SIM = os.path.join(BUILD, "bench", "scheduler", "sim")
# what the figures depend on: a simulator older than these measures old code
SOURCES = ["src/manager/scheduler.c", "src/manager/scheduler.h",
           "src/manager/balancer.c", "src/manager/balancer.h",
           "src/manager/model.c", "src/common/json.c",
           "bench/scheduler/sim.c"]
DECISION_TARGET_US = 1000.0
PASS_TARGET_MS = 100.0


def fail(msg):
    print(f"scheduler benchmark: {msg}", file=sys.stderr)
    sys.exit(1)


def sh(*cmd):
    try:
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def proc_field(path, key):
    """The value of the first "key: value" line of a /proc file."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def digests():
    """Short content hashes of the scheduler's and balancer's sources."""
    out = []
    for rel in ("src/manager/scheduler.c", "src/manager/balancer.c"):
        try:
            with open(os.path.join(REPO, rel), "rb") as f:
                out.append(f"{rel} sha256 "
                           f"{hashlib.sha256(f.read()).hexdigest()[:12]}")
        except OSError:
            out.append(f"{rel} missing")
    return "; ".join(out)


def stale_sources():
    """Sources changed after the simulator was built."""
    built = os.path.getmtime(SIM)
    out = []
    for rel in SOURCES:
        path = os.path.join(REPO, rel)
        if os.path.exists(path) and os.path.getmtime(path) > built:
            out.append(rel)
    return out


# ---- the plot (hand-written SVG: no matplotlib here) ----

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
           "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]


def esc(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def decades(lo, hi):
    a = math.floor(math.log10(lo))
    b = math.ceil(math.log10(hi))
    if a == b:
        b += 1
    return a, b


def fmt_tick(exp, unit):
    value = 10.0 ** exp
    if value >= 1:
        text = f"{value:,.0f}"
    else:
        text = f"{value:g}"
    return f"{text}{unit}"


def panel(x0, y0, w, h, title, xs, series, target, target_label, unit):
    """One log-log panel; series: [(label, [y per x or None], dashed)]."""
    ys = [y for _, vals, _ in series for y in vals if y]
    ys.append(target)
    ylo, yhi = decades(min(ys), max(ys))
    xlo, xhi = decades(min(xs), max(xs))
    left, right, top, bottom = 84, 12, 28, 40
    pw, ph = w - left - right, h - top - bottom

    def px(x):
        return x0 + left + (math.log10(x) - xlo) / (xhi - xlo) * pw

    def py(y):
        return y0 + top + ph - (math.log10(y) - ylo) / (yhi - ylo) * ph

    out = [f'<text x="{x0 + left + pw / 2}" y="{y0 + 18}" '
           f'text-anchor="middle" font-weight="bold">{esc(title)}</text>',
           f'<rect x="{x0 + left}" y="{y0 + top}" width="{pw}" '
           f'height="{ph}" fill="none" stroke="#333"/>']
    for e in range(ylo, yhi + 1):
        y = py(10.0 ** e)
        out.append(f'<line x1="{x0 + left}" y1="{y:.1f}" x2="{x0 + left + pw}"'
                   f' y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{fmt_tick(e, unit)}</text>')
    for e in range(xlo, xhi + 1):
        x = px(10.0 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{y0 + top}" x2="{x:.1f}" '
                   f'y2="{y0 + top + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + top + ph + 16}" '
                   f'text-anchor="middle">{fmt_tick(e, "")}</text>')
    for x in xs:
        if abs(math.log10(x) - round(math.log10(x))) > 1e-9:
            out.append(f'<text x="{px(x):.1f}" y="{y0 + top + ph + 16}" '
                       f'text-anchor="middle" fill="#666">{x:,}</text>')
    out.append(f'<text x="{x0 + left + pw / 2}" y="{y0 + h - 6}" '
               f'text-anchor="middle">hosts</text>')
    ty = py(target)
    out.append(f'<line x1="{x0 + left}" y1="{ty:.1f}" x2="{x0 + left + pw}" '
               f'y2="{ty:.1f}" stroke="#000" stroke-width="1.5" '
               f'stroke-dasharray="6 4"/>')
    out.append(f'<text x="{x0 + left + 4}" y="{ty - 4:.1f}">'
               f'{esc(target_label)}</text>')
    legend_y = y0 + top + 14
    for i, (label, vals, dashed) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = [(px(x), py(y)) for x, y in zip(xs, vals) if y]
        dash = ' stroke-dasharray="3 3"' if dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" '
                       f'stroke="{color}" stroke-width="2"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" '
                       f'fill="{color}"/>')
        lx = x0 + left + pw + 16
        ly = legend_y + i * 16
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" '
                   f'y2="{ly - 4}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 24}" y="{ly}">{esc(label)}</text>')
    return out


def plot(raw):
    sizes = raw["sizes"]
    xs = [s["hosts"] for s in sizes]
    if len(xs) < 2:
        return None
    parts = []
    decision = sizes[0].get("decision") or {}
    if decision:
        series = [(decision[k]["label"],
                   [s["decision"][k]["mean"] for s in sizes],
                   k.endswith("worst"))
                  for k in ("assess", "assess_worst", "search",
                            "search_worst")]
        parts.append(("decision", series, DECISION_TARGET_US,
                      "target 1 ms", " µs",
                      "placement decision: mean µs"))
    if sizes[0].get("pass"):
        series = [(p["label"], [s["pass"][i]["mean"] for s in sizes], False)
                  for i, p in enumerate(sizes[0]["pass"])]
        # the pass that keeps coming once a policy has done what it can
        for i, c in enumerate(sizes[0].get("convergence") or []):
            if "/pass" not in c["label"]:
                series.append((f"at rest after {c['label']} converged",
                               [s["convergence"][i]["last_pass_ms"]
                                for s in sizes], True))
        parts.append(("pass", series, PASS_TARGET_MS, "target 100 ms",
                      " ms", "balancing pass: mean ms"))
    if not parts:
        return None
    pw, ph, legend = 450, 330, 330
    width = (pw + legend) * len(parts)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{ph}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{ph}" fill="white"/>']
    for i, (_, series, target, tlabel, unit, title) in enumerate(parts):
        out += panel(i * (pw + legend), 0, pw, ph, title, xs, series,
                     target, tlabel, unit)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- the reading against the targets ----

def verdicts(raw):
    sizes = raw["sizes"]
    big = sizes[-1]
    lines = []
    d = big.get("decision") or {}
    for key in ("assess", "assess_worst", "pick", "pick_worst", "search",
                "search_worst"):
        if key not in d:
            continue
        mean = d[key]["mean"]
        ok = "meets" if mean < DECISION_TARGET_US else "**misses**"
        lines.append(f"- {d[key]['label']}, {big['hosts']} hosts: mean "
                     f"{mean:,.1f} µs (p99 {d[key]['p99']:,.1f} µs) — {ok} "
                     f"the 1 ms target")
    for p in big.get("pass") or []:
        ok = "meets" if p["mean"] < PASS_TARGET_MS else "**misses**"
        lines.append(f"- pass {p['label']}, {big['hosts']} hosts: mean "
                     f"{p['mean']:,.2f} ms (p99 {p['p99']:,.2f} ms) — {ok} "
                     f"the 100 ms target")
    for c in big.get("convergence") or []:
        ok = "meets" if c["last_pass_ms"] < PASS_TARGET_MS else "**misses**"
        lines.append(f"- the pass at rest after {c['label']} converged, "
                     f"{big['hosts']} hosts: {c['last_pass_ms']:,.1f} ms — "
                     f"{ok} the 100 ms target")
    return lines


def main():
    ap = argparse.ArgumentParser(
        description="scheduler and balancer simulation benchmark")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 100 and 1000 hosts, few samples")
    ap.add_argument("--hosts", help="sizes, comma-separated "
                    "(default 100,1000,5000)")
    ap.add_argument("--vms", type=int, help="VMs per host (default 20)")
    ap.add_argument("--seed", type=int, help="random seed (default 1)")
    ap.add_argument("--reps", type=int,
                    help="samples per decision measurement (default 300)")
    ap.add_argument("--pass-reps", type=int,
                    help="passes per pass measurement (default 50)")
    ap.add_argument("--budget", type=int,
                    help="seconds per measurement once it has its minimum "
                    "of samples (default 20)")
    ap.add_argument("--only", help="decisions,passes,convergence")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results"),
                    help="where the result directory goes")
    ap.add_argument("--allow-stale", action="store_true",
                    help="run a simulator older than the sources")
    args = ap.parse_args()

    if not os.access(SIM, os.X_OK):
        fail(f"no simulator at {SIM}: build first (meson compile -C "
             f"{BUILD}) or set DROVER_BUILD_DIR")
    stale = stale_sources()
    if stale and not args.allow_stale:
        fail(f"{SIM} is older than {', '.join(stale)}: rebuild (ninja -C "
             f"{BUILD}) or pass --allow-stale")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(args.out, f"scheduler-{stamp}")
    os.makedirs(outdir, exist_ok=True)
    raw_path = os.path.join(outdir, "raw.json")
    cmd = [SIM, "--out", raw_path]
    for flag, value in (("--hosts", args.hosts), ("--vms", args.vms),
                        ("--seed", args.seed), ("--reps", args.reps),
                        ("--pass-reps", args.pass_reps),
                        ("--budget", args.budget),
                        ("--only", args.only)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.quick:
        cmd.append("--quick")

    invocation = "bench/scheduler/run.py" + "".join(
        " " + shlex.quote(a) for a in sys.argv[1:])
    head = sh("git", "rev-parse", "--short", "HEAD")
    dirty = sh("git", "status", "--porcelain", "--", *SOURCES)
    sources = digests()
    load_start = loadavg()
    started = datetime.datetime.now()
    t0 = time.monotonic()
    print(f"running {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    elapsed = time.monotonic() - t0
    load_end = loadavg()
    if proc.returncode != 0:
        fail(f"the simulator exited with status {proc.returncode}")
    with open(raw_path) as f:
        raw = json.load(f)

    tables = proc.stdout
    svg = plot(raw)
    reading = verdicts(raw)
    md = [f"# drover scheduler benchmark — {stamp}", "",
          f"Command: `{invocation}` (see env.md; "
          "[docs/benchmark-scheduler.md](../../../docs/"
          "benchmark-scheduler.md) explains every figure). Times are wall "
          "clock (g_get_monotonic_time); *CPU mean* is the thread's CPU "
          "time over the same runs — far below the wall mean, the machine "
          "was busy.", ""]
    if svg:
        md += ["![decision and pass time against hosts](plot.svg)", ""]
    md += [tables.rstrip(), "", "### Against the targets", ""]
    md += reading + [""]
    results = "\n".join(md)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(results)
    if svg:
        with open(os.path.join(outdir, "plot.svg"), "w") as f:
            f.write(svg)

    busy = [line for line in sh("ps", "-eo", "comm=").splitlines()
            if line.startswith("qemu-system")]
    sim_built = datetime.datetime.fromtimestamp(
        os.path.getmtime(SIM)).isoformat(timespec="seconds")
    env = [f"# Environment — scheduler-{stamp}", "",
           f"- command: `{invocation}`",
           f"- simulator: `{' '.join(shlex.quote(c) for c in cmd)}`",
           f"- started {started.isoformat(timespec='seconds')}, finished "
           f"after {elapsed:.0f} s",
           f"- machine: {proc_field('/proc/cpuinfo', 'model name')}, {os.cpu_count()} CPUs, "
           f"{proc_field('/proc/meminfo', 'MemTotal:')} RAM; kernel {platform.release()}",
           f"- load average at start {load_start}, at end {load_end}; "
           f"QEMU processes running at the end: {len(busy)}",
           f"- drover: HEAD {head or '?'}; "
           + ("sources the figures depend on were modified and not "
              "committed: " + "; ".join(
                  ln.strip() for ln in dirty.splitlines())
              if dirty else "no uncommitted change to the sources the "
              "figures depend on"),
           f"- sources measured: {sources}",
           f"- simulator built {sim_built} in {BUILD}"
           + (f"; older than {', '.join(stale)} (run with --allow-stale)"
              if stale else ", after every source it depends on"),
           f"- compiler: {sh('cc', '--version').splitlines()[0] if sh('cc', '--version') else '?'}",
           f"- Python {platform.python_version()}", ""]
    with open(os.path.join(outdir, "env.md"), "w") as f:
        f.write("\n".join(env))

    latest_md = os.path.join(args.out, "scheduler-latest.md")
    with open(latest_md, "w") as f:
        f.write(results.replace("](plot.svg)", "](scheduler-latest.svg)")
                .replace("](../../../docs/", "](../../docs/"))
    if svg:
        shutil.copyfile(os.path.join(outdir, "plot.svg"),
                        os.path.join(args.out, "scheduler-latest.svg"))
    print(tables)
    print("\n".join(reading))
    print(f"\nwrote {outdir} and {latest_md}")


if __name__ == "__main__":
    main()
