"""results.md and plot.svg from the runs in raw.json."""

import html
import math
import statistics

import controllers as ctl
import workloads as wl


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec="%.0f", none="–"):
    return none if v is None else spec % v


def link_key(run):
    return run["link"]["label"]


def ordered(names, order):
    known = [n for n in order if n in names]
    return known + sorted(n for n in names if n not in order)


def aggregate(runs):
    """{(link, workload, controller): cell statistics}."""
    cells = {}
    for r in runs:
        cells.setdefault((link_key(r), r["workload"], r["controller"]),
                         []).append(r)
    out = {}
    for key, rs in cells.items():
        done = [r for r in rs if r.get("status") == "completed"]
        c = {"n": len(rs), "ok": len(done)}
        c["total_s"] = _median([r.get("total_time_ms") for r in done])
        if c["total_s"] is not None:
            c["total_s"] /= 1000
        dts = [r.get("downtime_ms") for r in done if r.get("downtime_ms") is not None]
        c["downtime_med"] = _median(dts)
        c["downtime_max"] = max(dts) if dts else None
        c["hb_gap_med"] = _median([r.get("hb_handover_gap_ms") for r in done])
        c["hb_stall_med"] = _median([r.get("hb_max_gap_ms") for r in rs])
        c["dropped_runs"] = sum(1 for r in rs if r.get("integrity_warnings"))
        c["mib_med"] = _median([r["transferred_bytes"] / 2 ** 20 for r in done
                                if r.get("transferred_bytes") is not None])
        c["bound_ratio"] = _median([r.get("time_over_bound") for r in done])
        c["hb_speed"] = _median([r.get("hb_speed") for r in rs])
        c["work_speed"] = _median([r.get("work_speed") for r in rs])
        bad = [r for r in rs if r.get("integrity_ok") is False]
        checked = [r for r in rs if r.get("integrity_ok") is not None]
        c["integrity"] = ("ok" if checked and not bad else
                          "–" if not checked else "BAD %d/%d" % (len(bad), len(checked)))
        c["integrity_issues"] = sorted({r.get("integrity") for r in bad})
        if c["dropped_runs"]:
            c["integrity_issues"].append(
                "console dropped heartbeat lines in %d run(s)" % c["dropped_runs"])
        reasons = {}
        for r in rs:
            if r.get("status") != "completed":
                reason = "%s: %s" % (r.get("status"), r.get("reason") or "?")
                reasons[reason] = reasons.get(reason, 0) + 1
        c["reasons"] = reasons
        c["postcopy"] = sum(1 for r in done if r.get("postcopy"))
        c["disturbed"] = sum(1 for r in rs if r.get("disturbed") or
                             (r.get("foreign_qemu_cpu_s") or 0) > 1)
        out[key] = c
    return out


def _speed(c):
    parts = []
    if c["hb_speed"] is not None:
        parts.append("hb %.2f" % c["hb_speed"])
    if c["work_speed"] is not None:
        parts.append("work %.2f" % c["work_speed"])
    return " / ".join(parts) or "–"


def markdown(runs, title="Migration benchmark"):
    cells = aggregate(runs)
    links = ordered({link_key(r) for r in runs}, [])
    lines = ["# %s" % title, ""]
    lines += [
        "Medians over the successful runs unless noted; downtime is the "
        "guest-observed pause (source STOP → destination RESUME), *hb gap at "
        "hand-over* the host-time gap between the last heartbeat printed on A "
        "and the first on B (heartbeat every 10 ms: expect downtime + up to "
        "~10 ms), *max hb stall* the longest gap between consecutive "
        "heartbeats from the start of the migration to 2 s after it (median "
        "over all runs), *×bound* the total time over "
        "non-zero RAM ÷ link rate, *speed* the guest's heartbeat rate / work "
        "rate during the migration ÷ before it (median over all runs, "
        "failed attempts included; 1.00 = unaffected). See docs/benchmark.md.",
        ""]
    for link in links:
        lruns = [r for r in runs if link_key(r) == link]
        wls = ordered({r["workload"] for r in lruns}, wl.ALL)
        cts = ordered({r["controller"] for r in lruns}, ctl.ALL)
        lines += ["## Link %s" % link, ""]
        lines += ["### Overview: successes, median downtime, median total time",
                  ""]
        lines.append("| workload | " + " | ".join(cts) + " |")
        lines.append("|---|" + "---|" * len(cts))
        for w in wls:
            row = ["**%s**" % w]
            for ct in cts:
                c = cells.get((link, w, ct))
                if c is None:
                    row.append("")
                elif c["ok"] == 0:
                    row.append("0/%d ✗" % c["n"])
                else:
                    row.append("%d/%d · %s ms · %.1f s%s" % (
                        c["ok"], c["n"], _fmt(c["downtime_med"]), c["total_s"],
                        "" if c["integrity"] == "ok" else " · **%s**" % c["integrity"]))
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "### Details", ""]
        lines.append("| workload | controller | ok | total s | downtime ms "
                     "med / max | hb gap at hand-over ms | max hb stall ms | "
                     "MiB sent | ×bound | speed (hb / work) | integrity | "
                     "failures |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        disturbed_any = False
        for w in wls:
            first = True
            for ct in cts:
                c = cells.get((link, w, ct))
                if c is None:
                    continue
                fails = "; ".join("%s (%d×)" % (k[:90], v) if v > 1 else k[:90]
                                  for k, v in sorted(c["reasons"].items()))
                pc = " (post-copy %d)" % c["postcopy"] if c["postcopy"] else ""
                mark = " †%d" % c["disturbed"] if c["disturbed"] else ""
                disturbed_any = disturbed_any or bool(c["disturbed"])
                lines.append("| %s | %s | %d/%d%s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    "**%s**" % w if first else "", ct + mark, c["ok"], c["n"], pc,
                    _fmt(c["total_s"], "%.1f"), _fmt(c["downtime_med"]),
                    _fmt(c["downtime_max"]), _fmt(c["hb_gap_med"]),
                    _fmt(c["hb_stall_med"]),
                    _fmt(c["mib_med"]), _fmt(c["bound_ratio"], "%.2f"),
                    _speed(c), c["integrity"] + (
                        " (" + "; ".join(c["integrity_issues"]) + ")"
                        if c["integrity_issues"] else ""),
                    fails.replace("|", "/") or ""))
                first = False
        if disturbed_any:
            lines += ["", "† *n*: runs of the cell during which processes "
                      "outside the benchmark used more than 10% of a core on "
                      "average (competing for the machine's cores; see "
                      "env.md and `other_cpu_s` in raw.json)."]
        lines.append("")
    return "\n".join(lines)


def text_table(runs):
    """A compact plain-text overview for stdout."""
    cells = aggregate(runs)
    out = []
    for link in ordered({link_key(r) for r in runs}, []):
        lruns = [r for r in runs if link_key(r) == link]
        wls = ordered({r["workload"] for r in lruns}, wl.ALL)
        cts = ordered({r["controller"] for r in lruns}, ctl.ALL)
        out.append("link %s — cell: ok/N, median downtime ms, median total s"
                   % link)
        width = 19
        out.append("%-8s" % "" + "".join("%-*s" % (width, c[:width - 1]) for c in cts))
        for w in wls:
            row = "%-8s" % w
            for ct in cts:
                c = cells.get((link, w, ct))
                if c is None:
                    cell = ""
                elif c["ok"] == 0:
                    cell = "0/%d fail" % c["n"]
                else:
                    cell = "%d/%d %sms %.1fs%s" % (
                        c["ok"], c["n"], _fmt(c["downtime_med"]), c["total_s"],
                        "" if c["integrity"] == "ok" else "!")
                row += "%-*s" % (width, cell)
            out.append(row)
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- SVG plot --

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def _panel(svg, x0, y0, w, h, title, unit, wls, cts, value, lo, hi, color):
    """One grouped-bar panel with a log10 y axis from lo to hi."""
    e = html.escape
    svg.append('<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>'
               % (x0, y0 - 12, e(title)))
    l0, l1 = math.log10(lo), math.log10(hi)

    def y(v):
        v = min(max(v, lo), hi)
        return y0 + h - (math.log10(v) - l0) / (l1 - l0) * h

    # grid and axis labels at every decade
    for k in range(int(math.floor(l0)), int(math.ceil(l1)) + 1):
        v = 10 ** k
        if v < lo or v > hi:
            continue
        yy = y(v)
        svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                   % (x0, yy, x0 + w, yy))
        label = ("%g" % v) if v < 1e5 else "1e%d" % k
        svg.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>'
                   % (x0 - 6, yy + 4, label))
    if l1 - l0 <= 2.01:     # few decades: label 2 and 5 as well
        for k in range(int(math.floor(l0)), int(math.ceil(l1))):
            for m in (2, 5):
                v = m * 10 ** k
                if lo < v < hi:
                    yy = y(v)
                    svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" '
                               'stroke="#f0f0f0"/>' % (x0, yy, x0 + w, yy))
                    svg.append('<text x="%d" y="%.1f" font-size="10" '
                               'fill="#777" text-anchor="end">%g</text>'
                               % (x0 - 6, yy + 4, v))
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>'
               % (x0, y0, x0, y0 + h))
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>'
               % (x0, y0 + h, x0 + w, y0 + h))
    svg.append('<text x="%d" y="%d" font-size="12" transform="rotate(-90 %d %d)" '
               'text-anchor="middle">%s</text>'
               % (x0 - 44, y0 + h // 2, x0 - 44, y0 + h // 2, e(unit)))
    gw = w / max(len(wls), 1)
    bw = min(22, (gw - 16) / max(len(cts), 1))
    for i, wname in enumerate(wls):
        gx = x0 + i * gw + (gw - bw * len(cts)) / 2
        for j, ct in enumerate(cts):
            v, failed = value(wname, ct)
            bx = gx + j * bw
            if v is None:
                if failed:   # no successful run: a cross on the axis
                    cx, cy = bx + bw / 2, y0 + h - 8
                    svg.append('<path d="M%.1f %.1f L%.1f %.1f M%.1f %.1f '
                               'L%.1f %.1f" stroke="%s" stroke-width="3" '
                               'fill="none"><title>%s / %s: no successful '
                               'run</title></path>'
                               % (cx - 4, cy - 4, cx + 4, cy + 4, cx + 4,
                                  cy - 4, cx - 4, cy + 4, color[ct],
                                  e(wname), e(ct)))
                continue
            top = y(v)
            svg.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                       'fill="%s"><title>%s / %s: %s</title></rect>'
                       % (bx + 1, top, bw - 2, y0 + h - top, color[ct],
                          e(wname), e(ct), "%.3g %s" % (v, e(unit))))
            label = ("%.0f" % v) if v >= 10 else ("%.1f" % v)
            lx, ly = bx + bw / 2 + 3, top - 3
            svg.append('<text x="%.1f" y="%.1f" font-size="9" fill="#333" '
                       'transform="rotate(-90 %.1f %.1f)">%s</text>'
                       % (lx, ly, lx, ly, label))
        svg.append('<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>'
                   % (x0 + i * gw + gw / 2, y0 + h + 18, e(wname)))


def svg_plot(runs):
    cells = aggregate(runs)
    links = ordered({link_key(r) for r in runs}, [])
    link = links[0] if links else ""
    lruns = [r for r in runs if link_key(r) == link]
    wls = ordered({r["workload"] for r in lruns}, wl.ALL)
    cts = ordered({r["controller"] for r in lruns}, ctl.ALL)
    color = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(cts)}
    W, ph = 1200, 300
    x0, w = 80, 860
    H = 70 + 2 * (ph + 90) + 10
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="26" font-size="17" font-weight="bold">drover '
           'migration benchmark — link %s, %d run(s) per cell</text>'
           % (x0, html.escape(link), max((c["n"] for c in cells.values()), default=0))]
    note = (lruns[0]["link"].get("latency_note") if lruns else None)
    if note:
        svg.append('<text x="%d" y="44" font-size="11" fill="#a00">note: %s</text>'
                   % (x0, html.escape(note)))

    def downtime(w_, c_):
        c = cells.get((link, w_, c_))
        return (c["downtime_med"], c is not None and c["ok"] == 0) if c else (None, False)

    def ratio(w_, c_):
        c = cells.get((link, w_, c_))
        return (c["bound_ratio"], c is not None and c["ok"] == 0) if c else (None, False)

    dts = [c["downtime_med"] for (l, _, _), c in cells.items()
           if l == link and c["downtime_med"]]
    hi = 10 ** math.ceil(math.log10(max(dts + [1000])))
    _panel(svg, x0, 80, w, ph, "Median guest-observed downtime (log scale; "
           "✗ = no successful run)", "downtime, ms", wls, cts, downtime,
           1, hi, color)
    rs = [c["bound_ratio"] for (l, _, _), c in cells.items()
          if l == link and c["bound_ratio"]]
    hi = 10 ** math.ceil(math.log10(max(rs + [10])))
    _panel(svg, x0, 80 + ph + 90, w, ph, "Median total time ÷ physical lower "
           "bound (non-zero RAM ÷ link rate; 1 = ideal)", "× lower bound",
           wls, cts, ratio, 1, hi, color)
    # legend
    lx, ly = x0 + w + 25, 80
    svg.append('<text x="%d" y="%d" font-size="13" font-weight="bold">controller</text>'
               % (lx, ly))
    for i, ct in enumerate(cts):
        yy = ly + 14 + i * 22
        svg.append('<rect x="%d" y="%d" width="14" height="14" fill="%s"/>'
                   % (lx, yy, color[ct]))
        svg.append('<text x="%d" y="%d" font-size="13">%s</text>'
                   % (lx + 20, yy + 12, html.escape(ct)))
    svg.append("</svg>")
    return "\n".join(svg) + "\n"
