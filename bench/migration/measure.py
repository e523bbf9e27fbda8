"""Metrics of one run, from the migration record and the guest's console.

Console lines are (host time in µs, text), as the agents timestamp them when
they read the guest's serial port; both agents run on one machine, so their
timestamps share one clock, as do the migration record's started/stop/
resume/ended times.
"""

import re

HB = re.compile(r"^hb (\d+) t=(\d+)")
OK = re.compile(r"^integrity ok (\d+) dirtied=(\d+)")
BAD = re.compile(r"CORRUPT|^integrity bad|^panic")
PAGE = 4096


def parse(lines, host):
    """Heartbeats (seq, host µs, host, guest ms), checks (host µs, dirtied,
    n, host) and bad lines of one console log."""
    hbs, oks, bad = [], [], []
    for t, text in lines:
        m = HB.match(text)
        if m:
            hbs.append((int(m.group(1)), t, host, int(m.group(2))))
            continue
        m = OK.match(text)
        if m:
            oks.append((t, int(m.group(2)), int(m.group(1)), host))
            continue
        if BAD.search(text):
            bad.append((t, host, text.strip()[:120]))
    return hbs, oks, bad


def _rate(points):
    """(last - first) / seconds for [(t_us, value)], or None."""
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    return (points[-1][1] - points[0][1]) / ((points[-1][0] - points[0][0]) / 1e6)


def analyse(lines_a, lines_b, mig, t_ready_us, hb_ms):
    """Guest-side metrics of one migration (see docs/benchmark.md)."""
    out = {}
    hb_a, ok_a, bad_a = parse(lines_a, "a")
    hb_b, ok_b, bad_b = parse(lines_b, "b")
    result = mig.get("result") or {}
    completed = result.get("status") == "completed"
    start = mig.get("started_us") or 0
    end = mig.get("ended_us") or 0
    stop = mig.get("stop_us") or 0
    resume = mig.get("resume_us") or 0
    pause_us = resume - stop if stop and resume > stop else 0
    # the order the guest printed them in: A's log, then B's
    seq_order = hb_a + hb_b

    # -- heartbeat gaps --
    # the hand-over: last heartbeat printed on A -> first printed on B; it
    # spans the guest-observed downtime plus up to one heartbeat interval
    if completed and hb_a and hb_b:
        last_a, first_b = hb_a[-1], hb_b[0]
        out["hb_handover_gap_ms"] = round((first_b[1] - last_a[1]) / 1000, 1)
        out["hb_handover"] = "hb %d on A -> hb %d on B" % (last_a[0], first_b[0])
    # the longest stall anywhere from the migration's start to 2 s after it
    best = None
    for (s0, t0, h0, _), (s1, t1, h1, _) in zip(seq_order, seq_order[1:]):
        if t1 < start or t0 > end + 2_000_000:
            continue
        if best is None or t1 - t0 > best[0]:
            best = (t1 - t0, s0, h0, s1, h1, t0)
    if best:
        out["hb_max_gap_ms"] = round(best[0] / 1000, 1)
        out["hb_max_gap_at"] = "hb %d (%s) -> hb %d (%s)" % best[1:5]
        # where in the migration it began (ms after the migrate request)
        out["hb_max_gap_offset_ms"] = round((best[5] - start) / 1000, 1)

    # -- integrity --
    issues, warnings, anomalies = [], [], []
    dropped = 0
    for (s0, t0, h0, g0), (s1, t1, h1, g1) in zip(seq_order, seq_order[1:]):
        if s1 == s0 + 1:
            continue
        a = {"after": s0, "next": s1, "hosts": h0 + h1,
             "host_us": [t0, t1], "guest_ms": [g0, g1]}
        anomalies.append(a)
        if s1 > s0 + 1 and g1 > g0:
            # the guest went on counting (its own clock advanced): lines
            # it printed were dropped between the UART and the log (the
            # test guest drops console output rather than block when the
            # host side does not drain the UART in time)
            dropped += s1 - s0 - 1
        else:
            issues.append("heartbeat %d followed by %d (%s)" % (s0, s1, h0 + h1))
    if anomalies:
        out["hb_anomalies"] = anomalies[:20]
    if dropped:
        warnings.append("%d heartbeat line(s) dropped by the console" % dropped)
    if not seq_order:
        issues.append("no heartbeats")
    else:
        out["hb_first"] = seq_order[0][0]
        out["hb_last"] = seq_order[-1][0]
    if completed and hb_a and hb_b:
        (s0, _, _, g0), (s1, _, _, g1) = hb_a[-1], hb_b[0]
        # B must go on exactly where A stopped: a repeated or older
        # heartbeat (or guest clock) means B resumed a stale guest.  A
        # skipped number with the guest clock advancing is a console line
        # lost at the hand-over (counted as dropped above).
        if s1 <= s0 or g1 <= g0:
            issues.append("heartbeats not continuous across the hand-over "
                          "(hb %d t=%d on A -> hb %d t=%d on B)"
                          % (s0, g0, s1, g1))
        out["handover_console"] = {
            "a_last": [t for _, t in lines_a[-2:]],
            "b_first": [t for _, t in lines_b[:2]]}
    if completed and not hb_b:
        issues.append("no heartbeat on B")
    bad = bad_a + bad_b
    if bad:
        issues.append("%d CORRUPT/bad line(s)" % len(bad))
        out["bad_lines"] = ["%s: %s" % (h, text) for _, h, text in bad[:10]]
    after = max(resume, end) if completed else end
    later = [o for o in (ok_b if completed else ok_a) if o[0] > after]
    if not later:
        issues.append("no 'integrity ok' after the migration")
    out["integrity_ok"] = not issues
    out["integrity"] = "ok" if not issues else "; ".join(issues)
    if warnings:
        out["integrity_warnings"] = warnings

    # -- guest speed: before the migration, and during it --
    # heartbeat rates by sequence numbers, so dropped console lines don't count
    def hb_rate(t_from, t_to, secs):
        seqs = [s for s, t, _, _ in seq_order if t_from <= t <= t_to]
        if not seqs or secs <= 0:
            return None
        return round((max(seqs) - min(seqs) + 1) / secs, 1)
    if start > t_ready_us:
        out["hb_rate_before"] = hb_rate(t_ready_us, start,
                                        (start - t_ready_us) / 1e6)
    if end > start:
        out["hb_rate_during"] = hb_rate(start, end,
                                        (end - start - pause_us) / 1e6)
    if out.get("hb_rate_before") and out.get("hb_rate_during") is not None:
        out["hb_speed"] = round(out["hb_rate_during"] / out["hb_rate_before"], 3)

    oks = sorted(ok_a + [o for o in ok_b if o[0] >= (resume or 0)])
    pts = [(t, d) for t, d, _, _ in oks]
    wb = _rate([(t, d) for t, d in pts if t_ready_us <= t <= start])
    if wb is not None:
        out["work_rate_before"] = round(wb / 256, 2)    # MiB/s of pages
    p0 = [(t, d) for t, d in pts if t <= start]
    p1 = [(t, d) for t, d in pts if t >= end]
    if wb and p0 and p1:
        (t0, d0), (t1, d1) = p0[-1], p1[0]
        secs = (t1 - t0 - pause_us) / 1e6
        if secs > 0:
            wd = (d1 - d0) / secs
            out["work_rate_during"] = round(wd / 256, 2)
            out["work_speed"] = round(wd / wb, 3)
            out["work_window_s"] = round((t1 - t0) / 1e6, 2)
    out["pause_ms"] = round(pause_us / 1000, 1) if pause_us else None
    out["console_lines"] = {"a": len(lines_a), "b": len(lines_b)}
    return out
