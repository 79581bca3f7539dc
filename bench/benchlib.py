#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers of bench/run.sh: free ports, process accounting, the report.

    benchlib.py ports N                    N free loopback TCP ports
    benchlib.py cpu NAME=SPEC...           CPU seconds of processes, as JSON
    benchlib.py rss [--anon] NAME=SPEC...  resident set sizes in KiB, as JSON
                                           (--anon: RssAnon, private memory)
    benchlib.py rss-peak WATCH NAME=SPEC... largest RSS seen while PID WATCH runs
    benchlib.py field FILE KEY             a top-level value of a JSON file
    benchlib.py iperf FILE                 "GBIT_PER_S BYTES" of an iperf3 -J run
    benchlib.py perf-split DATA PREFIX NAME=SPEC...
                                           per-process views of a perf record
    benchlib.py report RAW META OUT        prints the table, writes OUT (JSON)

A SPEC is a PID ("1234": the process and all its descendants, e.g. socat
with the children it forks per connection) or "1234:sub" (only the
descendants, e.g. the per-connection processes of an sshd listener).
CPU time is utime+stime of each process plus cutime+cstime (children it has
already reaped), read from /proc/PID/stat, so that a child that exits
between two readings is still counted once.
"""
import json
import os
import random
import socket
import statistics
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, utime+stime+cutime+cstime in ticks) or None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[1]), sum(int(x) for x in rest[11:15])


def _rss_kib(pid, field="VmRSS:"):
    """VmRSS (resident) or RssAnon (private anonymous) of a process, KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(name)
        if st is not None:
            kids.setdefault(st[0], []).append(int(name))
    return kids


def _members(spec, kids):
    """PIDs named by a SPEC: a PID and its descendants, or only those."""
    pid, _, mode = spec.partition(":")
    root = int(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out[1:] if mode == "sub" else out


def _parse_specs(args):
    specs = []
    for a in args:
        name, _, spec = a.partition("=")
        if not name or not spec:
            sys.exit(f"benchlib: bad NAME=SPEC '{a}'")
        specs.append((name, spec))
    return specs


def _machine_busy_ticks():
    """Busy ticks of all CPUs together: user, nice, system, irq, softirq
    and steal (not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    t = [int(x) for x in fields]
    return t[0] + t[1] + t[2] + t[5] + t[6] + t[7]


def cmd_cpu(args):
    kids = _children()
    out = {}
    for name, spec in _parse_specs(args):
        if spec == "machine":
            out[name] = _machine_busy_ticks() / TICK
            continue
        ticks = 0
        for p in _members(spec, kids):
            st = _stat(p)
            if st is not None:
                ticks += st[1]
        out[name] = ticks / TICK
    print(json.dumps(out))


def _rss_all(specs, field="VmRSS:"):
    kids = _children()
    return {name: sum(_rss_kib(p, field) for p in _members(spec, kids))
            for name, spec in specs}


def cmd_rss(args):
    field = "VmRSS:"
    if args and args[0] == "--anon":
        field, args = "RssAnon:", args[1:]
    print(json.dumps(_rss_all(_parse_specs(args), field)))


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2:].split()[0] != "Z"


def cmd_rss_peak(args):
    """Samples every 100 ms while process WATCH runs (at most 10 min)."""
    watch = int(args[0])
    specs = _parse_specs(args[1:])
    peak = {name: 0 for name, _ in specs}
    end = time.monotonic() + 600
    while True:
        for name, v in _rss_all(specs).items():
            peak[name] = max(peak[name], v)
        if not _running(watch) or time.monotonic() >= end:
            break
        time.sleep(0.1)
    print(json.dumps(peak))


def cmd_ports(args):
    """Free ports below the ephemeral range, never the same one twice."""
    want, used, out = int(args[0]), set(), []
    for _ in range(2000):
        if len(out) == want:
            break
        port = random.randrange(20000, 32000)
        if port in used:
            continue
        used.add(port)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        out.append(port)
    if len(out) != want:
        sys.exit("benchlib: not enough free ports")
    print(*out)


def cmd_field(args):
    with open(args[0]) as f:
        v = json.load(f)[args[1]]
    print(v)


def _iperf_result(path):
    """An iperf3 -J result; exits with iperf3's own error if it failed."""
    with open(path) as f:
        d = json.load(f)
    if d.get("error"):
        sys.exit(f"iperf3: {d['error']}")
    return d


def cmd_iperf(args):
    s = _iperf_result(args[0])["end"]["sum_received"]
    print(f"{s['bits_per_second'] / 1e9:.4f} {int(s['bytes'])}")


def cmd_iperf_udp(args):
    """Mbit/s and packets/s received, and % lost, of an iperf3 -u run."""
    s = _iperf_result(args[0])["end"]["sum"]
    got = s["packets"] - s["lost_packets"]
    secs = s["seconds"] or 1
    size = int(args[1])
    print(f"{got * size * 8 / secs / 1e6:.2f} {got / secs / 1000:.2f} "
          f"{s['lost_percent']:.3f}")


# ---- profiles -------------------------------------------------------------

def _perf(args):
    import subprocess
    r = subprocess.run(["perf", "report", "--stdio", "--no-children"] + args,
                       capture_output=True, text=True)
    return r.stdout


def _matcher(spec):
    """comm:NAME matches a command name (comm:PREFIX* any that starts
    so); otherwise a comma list of PIDs."""
    if spec.startswith("comm:"):
        comm = spec[5:]
        if comm.endswith("*"):
            return lambda pid, c: c.startswith(comm[:-1])
        return lambda pid, c: c == comm
    pids = {int(p) for p in spec.split(",") if p}
    return lambda pid, c: pid in pids


def cmd_perf_split(args):
    """perf-split DATA PREFIX NAME=SPEC...: per-process views of one
    system-wide record.  Writes PREFIX-NAME.txt: the share of each library
    and the top symbols, as percentages of that process's own samples, and
    PREFIX-NAME.callers.txt: the call chains of its top symbols.  Samples
    are grouped by process (perf script's pid), so the threads a process
    starts after the record began (stunnel's) count as its own; perf
    report's --pid and --comm would also drop the kernel samples of a
    system-wide record."""
    import re
    import subprocess
    data, prefix = args[0], args[1]
    specs = [(n, _matcher(sp)) for n, sp in _parse_specs(args[2:])]
    script = subprocess.run(
        ["perf", "script", "-F", "pid,tid,comm,ip,sym,dso", "-G", "-i",
         data], capture_output=True, text=True).stdout
    line_re = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+[0-9a-f]+\s+(.*?)"
                         r"\s+\((.*)\)\s*$")
    samples, tid_pid = [], {}
    for line in script.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        comm, pid, tid, sym, dso = m.groups()
        pid, tid = int(pid), int(tid)
        tid_pid[tid] = pid
        samples.append((pid, comm, os.path.basename(dso) if dso.startswith(
            "/") else dso, sym))
    chains = _perf(["-g", "caller,0.5,callee,function,percent", "--sort",
                    "pid,sym", "--percent-limit", "1", "-i", data])
    for name, match in specs:
        mine = [x for x in samples if match(x[0], x[1])]
        n = len(mine)
        out = [f"# {name}: {n} samples, {100 * n / max(len(samples), 1):.1f}"
               "% of all samples of the record"]
        if n:
            dsos, syms = {}, {}
            for _, _, dso, sym in mine:
                dsos[dso] = dsos.get(dso, 0) + 1
                syms[(dso, sym)] = syms.get((dso, sym), 0) + 1
            out.append("# by library (% of this process's samples)")
            for d, v in sorted(dsos.items(), key=lambda x: -x[1]):
                if v / n >= 0.005:
                    out.append(f"{100 * v / n:6.1f}%  {d}")
            out.append("# top symbols (% of this process's samples; "
                       "[unknown]: a library without symbols)")
            for (d, sym), v in sorted(syms.items(), key=lambda x: -x[1])[:30]:
                if v / n >= 0.005:
                    out.append(f"{100 * v / n:6.1f}%  {d:28} {sym}")
        with open(f"{prefix}-{name}.txt", "w") as f:
            f.write("\n".join(out) + "\n")
        # Entries of the call-graph report (sorted by thread) whose thread
        # belongs to this process.
        keep, sel = [], False
        for line in chains.splitlines():
            if line.startswith("#"):
                continue
            head = line.split()
            if (len(head) >= 3 and head[0].endswith("%") and
                    ":" in head[1] and head[1].split(":")[0].isdigit()):
                tid, _, comm = head[1].partition(":")
                sel = match(tid_pid.get(int(tid), int(tid)), comm)
            if sel:
                keep.append(line)
        with open(f"{prefix}-{name}.callers.txt", "w") as f:
            f.write(f"# {name}: call chains; percentages are of all "
                    "samples of the record\n" + "\n".join(keep) + "\n")


# ---- report ---------------------------------------------------------------

PATHS = [
    ("direct", "direct loopback"),
    ("netport", "netport portal→relay→portal"),
    ("p2p", "netport direct portal→portal"),
    ("quic", "netport direct over QUIC"),
    ("stunnel", "stunnel→socat→stunnel"),
    ("ssh", "ssh -L (aes128-gcm)"),
]

# id, section, label, unit, better ("hi", "lo"), format
METRICS = [
    ("tput1", "Throughput (iperf3)", "1 stream", "Gbit/s", "hi"),
    ("tput4", "Throughput (iperf3)", "4 streams", "Gbit/s", "hi"),
    ("rr_p50", "64-byte round trip", "p50", "µs", "lo"),
    ("rr_p99", "64-byte round trip", "p99", "µs", "lo"),
    ("ttfb_warm", "Time to first byte of a new connection",
     "live tunnel / new connection", "µs", "lo"),
    ("ttfb_cold", "Time to first byte of a new connection",
     "first stream, tunnel comes up", "ms", "lo"),
    ("cps1", "Short connections (connect, 1-byte echo, close)",
     "sequential", "conn/s", "hi"),
    ("cps8", "Short connections (connect, 1-byte echo, close)",
     "8 in parallel", "conn/s", "hi"),
    ("udp_mbps", "UDP (iperf3 -u, 1400-byte datagrams, unlimited rate)",
     "received", "Mbit/s", "hi"),
    ("udp_kpps", "UDP (iperf3 -u, 1400-byte datagrams, unlimited rate)",
     "received", "kpps", "hi"),
    ("udp_loss", "UDP (iperf3 -u, 1400-byte datagrams, unlimited rate)",
     "lost", "%", "lo"),
    ("udp500_mbps", "UDP (iperf3 -u, 1400-byte datagrams, 500 Mbit/s "
     "offered)", "received", "Mbit/s", "hi"),
    ("udp500_loss", "UDP (iperf3 -u, 1400-byte datagrams, 500 Mbit/s "
     "offered)", "lost", "%", "lo"),
]

PROC_METRICS = [
    ("rss_idle", "Memory (RSS)", "idle", "MiB", 1 / 1024),
    ("anon_idle", "Memory (RSS)", "idle, private (RssAnon)", "MiB",
     1 / 1024),
    ("rss_1000", "Memory (RSS)", "1000 idle streams", "MiB", 1 / 1024),
    ("rss_xfer", "Memory (RSS)", "during 4-stream transfer", "MiB",
     1 / 1024),
    ("rss_per_stream", "Memory (RSS)", "per extra idle stream", "KiB", 1),
    ("rss_after", "Memory (RSS)", "idle again, after all tests", "MiB",
     1 / 1024),
    ("cpu_gib", "CPU per GiB moved (1 stream)", "CPU-s/GiB", "s/GiB", 1),
    ("cpu_conn", "CPU per short connection (8 in parallel)", "CPU-µs/conn",
     "µs", 1),
]

PROCS = [
    ("netport", "client", "netport client portal"),
    ("netport", "relay", "netport relay"),
    ("netport", "service", "netport service portal"),
    ("p2p", "client", "netport direct, client portal"),
    ("p2p", "service", "netport direct, service portal"),
    ("quic", "client", "netport QUIC, client portal"),
    ("quic", "service", "netport QUIC, service portal"),
    ("stunnel", "client", "stunnel client"),
    ("stunnel", "socat", "socat + forked children (sum)"),
    ("stunnel", "server", "stunnel server"),
    ("ssh", "client", "ssh client"),
    ("ssh", "sshd", "sshd session processes (sum)"),
    # Every CPU's busy time during the measurement (CPU figures only).
    ("direct", "machine", "whole machine, direct loopback"),
    ("netport", "machine", "whole machine, netport"),
    ("p2p", "machine", "whole machine, netport direct"),
    ("quic", "machine", "whole machine, netport QUIC"),
    ("stunnel", "machine", "whole machine, stunnel chain"),
    ("ssh", "machine", "whole machine, ssh -L"),
]


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarize(values):
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": values,
    }


def _utc_ms(stamp):
    """Unix milliseconds of a log timestamp (2026-01-02T03:04:05.678Z)."""
    import datetime
    try:
        t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    return t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


def _stall_summary(meta):
    """Where the move to direct fell in the stall stream (npbench stall),
    and the gap across it.  The "now direct" line is logged when the move
    is done, stamped to the millisecond (truncated): the move is done at
    some time in [at, at + 1).  The gap across it is the one between the
    last echo before the old path was given up and the first one after
    the new path took over: it starts before at + 1 and ends after at.
    Only the stream's five longest gaps are known; a move whose gap is not
    among them cost less than the fifth."""
    st = meta["stall"].get("p2p")
    at = _utc_ms(meta.get("p2p_direct_at", ""))
    # during_move_max_gap_ms is the figure: the stream's longest gap when
    # the move fell inside the stream, else None; the rest describe the
    # stream whatever happened.
    out = {"during_move_max_gap_ms": None,
           "max_gap_ms": st["max_gap_ms"] if st else None,
           "median_gap_ms": st["median_gap_ms"] if st else None,
           "echoes": st["echoes"] if st else None,
           "first_echo_ms": st["first_echo_ms"] if st else None,
           "gap_across_move_ms": None, "longest_is_the_move": None}
    for p in ("netport", "direct"):
        b = meta["stall"].get(p)
        out[f"{p}_max_gap_ms"] = b["max_gap_ms"] if b else None
        out[f"{p}_median_gap_ms"] = b["median_gap_ms"] if b else None
    if st is None or at is None:
        out["when"] = "unknown"
        return out
    across = [g for g in st["longest_gaps"]
              if g["start_wall_ms"] <= at + 1 and g["end_wall_ms"] >= at]
    if across:
        out["when"] = "during"
        out["during_move_max_gap_ms"] = st["max_gap_ms"]
        out["gap_across_move_ms"] = across[0]["ms"]
        out["longest_is_the_move"] = across[0] is st["longest_gaps"][0]
    elif st["first_echo_wall_ms"] >= at:
        # Also when the first echo came within the move's millisecond:
        # then the move cannot be placed before it.
        out["when"] = "before the first echo"
    elif at > st["last_echo_wall_ms"]:
        out["when"] = "after the stream"
    else:
        out["when"] = "during"
        out["during_move_max_gap_ms"] = st["max_gap_ms"]
        out["gap_across_move_under_ms"] = st["longest_gaps"][-1]["ms"]
        out["longest_is_the_move"] = False
    return out


def _stall_lines(meta):
    s = meta["p2p_stall"]
    st = meta["stall"]
    lines = ["Stall a stream sees during a path switch (time without bytes; "
             f"npbench stall: 64 B every 1 ms for {meta.get('stall_secs', '?')}"
             " s, the first stream of a new tunnel; gaps between echo "
             "arrivals after the first echo)"]

    def gaps(g):
        return (f"longest gap {fmt(g['max_gap_ms'])} ms (median gap "
                f"{fmt(g['median_gap_ms'])} ms over {g['echoes']} echoes), "
                f"first echo after {fmt(g['first_echo_ms'])} ms")

    p2p = st.get("p2p")
    base = st.get("netport")
    lead = f"  {'stall during the move to direct:':34}"
    if p2p is None:
        lines.append(f"{lead}not measured")
    elif s["when"] == "during":
        if s["longest_is_the_move"]:
            what = "it is the gap across the move"
        elif s["gap_across_move_ms"] is None:
            what = ("the gap across the move is not among the five longest "
                    f"(under {fmt(s['gap_across_move_under_ms'])} ms)")
        else:
            what = ("the gap across the move: "
                    f"{fmt(s['gap_across_move_ms'])} ms")
        if base and base["max_gap_ms"]:
            what += (f"; the longest gap is "
                     f"{fmt(p2p['max_gap_ms'] / base['max_gap_ms'])}× the "
                     "relayed row's")
        lines.append(f"{lead}{gaps(p2p)}; {what}")
    elif s["when"] == "before the first echo":
        # The move's stall is then part of the first echo's wait, next to
        # the tunnel's bring-up; the gaps after it say nothing about it.
        lines.append(f"{lead}not measured: the tunnel moved before (or as) "
                     "the stream's first echo came; this stream's "
                     f"{gaps(p2p)}")
    elif s["when"] == "after the stream":
        lines.append(f"{lead}not measured: the tunnel moved after the "
                     f"stream's last echo; this stream's {gaps(p2p)}")
    else:
        lines.append(f"{lead}unknown (no time for the move in carol's log);"
                     f" this stream's {gaps(p2p)}")
    for p, what in (("netport", "relayed, no path switch:"),
                    ("direct", "direct loopback:")):
        if st.get(p):
            lines.append(f"  {what:34}{gaps(st[p])}")
    lines.append("")
    return lines


def _gap_across(st, at):
    """The gap of stall stream st that spans the time at (UTC ms), as a
    phrase: its length, or that it is not among the five longest."""
    if at is None:
        return "not placed (no time in the log)"
    if at < st["first_echo_wall_ms"] or at > st["last_echo_wall_ms"]:
        return "not measured (outside the stream)"
    for g in st["longest_gaps"]:
        if g["start_wall_ms"] <= at + 1 and g["end_wall_ms"] >= at:
            return f"{fmt(g['ms'])} ms without an echo"
    return (f"under {fmt(st['longest_gaps'][-1]['ms'])} ms (not among the "
            "stream's five longest gaps)")


def _switch_lines(meta):
    st = meta["stall_switch"]
    relay_at = _utc_ms(meta.get("switch_relay_at", ""))
    direct_at = _utc_ms(meta.get("switch_direct_at", ""))
    meta["p2p_switch"] = {
        "direct_to_relay": _gap_across(st, relay_at),
        "relay_to_direct": _gap_across(st, direct_at),
        "max_gap_ms": st["max_gap_ms"], "median_gap_ms": st["median_gap_ms"],
    }
    s = meta["p2p_switch"]
    return ["Path switches under a running stream (npbench stall, "
            f"{meta.get('switch_secs', '?')} s; the policy's direct: off "
            "moves carol's tunnel to the relay, and back to direct when "
            "removed)",
            f"  {'direct → relay:':34}{s['direct_to_relay']}",
            f"  {'relay → direct:':34}{s['relay_to_direct']}",
            f"  {'the whole stream:':34}longest gap {fmt(s['max_gap_ms'])} "
            f"ms, median gap {fmt(s['median_gap_ms'])} ms over "
            f"{st['echoes']} echoes",
            ""]


def cmd_report(args):
    raw_file, meta_file, out_file = args
    with open(meta_file) as f:
        meta = json.load(f)
    raw = []
    with open(raw_file) as f:
        for line in f:
            if line.strip():
                raw.append(json.loads(line))

    def vals(metric, path, proc=None):
        return [r["value"] for r in raw if r["metric"] == metric and
                r["path"] == path and r.get("proc") == proc]

    # Idle means the fresh process: the first round's reading (later
    # rounds start from processes that already held 1000 streams, and
    # some keep that memory).  Per extra idle stream, for each round:
    # (RSS with 1000 streams - fresh idle RSS) / 1000.
    first = {}
    for r in raw:
        if r["metric"] in ("rss_idle", "anon_idle"):
            k = (r["metric"], r["path"], r.get("proc"))
            first[k] = min(first.get(k, r["run"]), r["run"])
    raw = [r for r in raw if r["metric"] not in ("rss_idle", "anon_idle") or
           first[(r["metric"], r["path"], r.get("proc"))] == r["run"]]
    for path, proc, _ in PROCS:
        idle = [r["value"] for r in raw if r["metric"] == "rss_idle" and
                r["path"] == path and r.get("proc") == proc]
        if not idle:
            continue
        for r in list(raw):
            if (r["metric"] == "rss_1000" and r["path"] == path and
                    r.get("proc") == proc):
                raw.append({"metric": "rss_per_stream", "path": path,
                            "proc": proc, "run": r["run"],
                            "value": (r["value"] - idle[0]) /
                            meta.get("held_streams", 1000)})

    figures, lines = [], []
    title = (f"netport benchmark ({meta['mode']}, {meta['runs']} runs): "
             f"{meta['nproc']} cores, {meta['cpu']}, Linux {meta['kernel']}"
             f"; relay forwards with {meta.get('relay_fast_path', '?')}")
    lines += [title, "median [min–max] over runs; ×direct = median / "
              "direct loopback's median", ""]
    section = None
    hdr = f"  {'':34} {'path':30} {'median':>9}  {'min–max':<17} ×direct"
    for mid, sec, label, unit, better in METRICS:
        if sec != section:
            section = sec
            better_s = "higher is better" if better == "hi" else \
                "lower is better"
            lines += [f"{sec} ({better_s})", hdr]
        base = vals(mid, "direct")
        base_med = statistics.median(base) if base else None
        first = True
        for path, pname in PATHS:
            v = vals(mid, path)
            if not v:
                continue
            s = summarize(v)
            ratio = s["median"] / base_med if base_med else None
            figures.append(dict(metric=mid, label=label, unit=unit,
                                path=path, proc=None,
                                ratio_direct=ratio, **s))
            lab = f"{label} ({unit})" if first else ""
            first = False
            rng = f"[{fmt(s['min'])}–{fmt(s['max'])}]"
            lines.append(f"  {lab:34} {pname:30} {fmt(s['median']):>9}  "
                         f"{rng:<17} {fmt(ratio) if ratio else '—'}")
        lines.append("")
    section = None
    for mid, sec, label, unit, scale in PROC_METRICS:
        if sec != section:
            section = sec
            lines += [f"{sec} (lower is better; no direct baseline)",
                      f"  {'':34} {'process':30} {'median':>9}  min–max"]
        first = True
        for path, proc, pname in PROCS:
            v = vals(mid, path, proc)
            if not v:
                continue
            s = summarize([x * scale for x in v])
            figures.append(dict(metric=mid, label=label, unit=unit,
                                path=path, proc=proc, ratio_direct=None,
                                **s))
            lab = f"{label} ({unit})" if first else ""
            first = False
            rng = f"[{fmt(s['min'])}–{fmt(s['max'])}]"
            lines.append(f"  {lab:34} {pname:30} "
                         f"{fmt(s['median']):>9}  {rng}")
        if not first:
            lines.append("")

    def med(metric, path, proc=None):
        for fg in figures:
            if (fg["metric"], fg["path"], fg["proc"]) == (metric, path,
                                                          proc):
                return fg["median"]
        return None

    targets = []

    def target(text, value, op, threshold, detail):
        if value is None:
            met = None
        else:
            met = value >= threshold if op == ">=" else \
                value <= threshold if op == "<=" else value < threshold
        targets.append(dict(target=text, value=value, op=op,
                            threshold=threshold, met=met, detail=detail))

    def ratio(a, b):
        return a / b if a is not None and b else None

    np1, st1, ssh1 = (med("tput1", p) for p in ("netport", "stunnel",
                                                  "ssh"))
    target("1 stream ≥ 2× the stunnel chain", ratio(np1, st1), ">=", 2.0,
           "netport / stunnel throughput, 1 stream")
    target("1 stream ≥ 1.25× ssh -L", ratio(np1, ssh1), ">=", 1.25,
           "netport / ssh throughput, 1 stream")
    target("4 streams ≥ 2× the stunnel chain",
           ratio(med("tput4", "netport"), med("tput4", "stunnel")), ">=",
           2.0, "netport / stunnel throughput, 4 streams")
    d50 = med("rr_p50", "direct")
    added = {p: (med("rr_p50", p) - d50) if med("rr_p50", p) is not None and
             d50 is not None else None for p in ("netport", "p2p",
                                                 "stunnel")}
    target("added round trip ≤ 0.8× the chain's",
           ratio(added["netport"], added["stunnel"]), "<=", 0.8,
           "(netport p50 − direct p50) / (stunnel p50 − direct p50)")
    p2p1 = med("tput1", "p2p")
    target("direct, 1 stream ≥ 2× the stunnel chain", ratio(p2p1, st1),
           ">=", 2.0, "netport direct / stunnel throughput, 1 stream")
    target("direct, 1 stream ≥ 1.25× ssh -L", ratio(p2p1, ssh1), ">=",
           1.25, "netport direct / ssh throughput, 1 stream")
    target("direct, added round trip ≤ 0.6× the chain's",
           ratio(added["p2p"], added["stunnel"]), "<=", 0.6,
           "(netport direct p50 − direct p50) / (stunnel p50 − direct p50)")
    for mid, what in (("cps1", "sequential"), ("cps8", "8 in parallel")):
        target(f"short connections ({what}) ≥ 2× ssh -L",
               ratio(med(mid, "netport"), med(mid, "ssh")), ">=", 2.0,
               f"netport / ssh connections per second, {what}")
    portals_cpu = [med("cpu_gib", "netport", p) for p in ("client",
                                                          "service")]
    portals_cpu = [x for x in portals_cpu if x is not None]
    target("relay CPU per GiB ≤ ¼ of a portal's",
           ratio(med("cpu_gib", "netport", "relay"),
                 min(portals_cpu) if portals_cpu else None), "<=", 0.25,
           "relay CPU-s/GiB / the lower of the two portals'")
    per = [med("rss_per_stream", "netport", p) for p in ("client",
                                                          "service")]
    per = [x for x in per if x is not None]
    target("per extra idle stream ≤ 16 KiB", max(per) if per else None,
           "<=", 16.0, "KiB, the larger of the two portals")
    idle_np = [med("rss_idle", "netport", p) for p in ("client", "service")]
    idle_other = [med("rss_idle", "stunnel", p) for p in
                  ("client", "server", "socat")]
    idle_np = [x for x in idle_np if x is not None]
    idle_other = [x for x in idle_other if x is not None]
    target("idle portal RSS below stunnel's and socat's",
           ratio(max(idle_np) if idle_np else None,
                 min(idle_other) if idle_other else None), "<", 1.0,
           "larger idle portal / smallest of stunnel client, stunnel "
           "server, socat")

    # Not a target: what the whole machine spends per GiB beyond direct
    # loopback's own cost, netport against the chain.  With the relay's
    # kernel fast path the relay process is not charged for forwarding,
    # so this is the honest comparison of total forwarding cost.
    mdir = med("cpu_gib", "direct", "machine")
    extra = {p: med("cpu_gib", p, "machine") - mdir
             for p in ("netport", "stunnel")
             if mdir is not None and med("cpu_gib", p, "machine") is not None}
    lines.append("Whole machine, CPU-s per GiB beyond direct loopback's: " +
                 (", ".join(f"{p} {fmt(v)}" for p, v in extra.items()) or
                  "—") +
                 (f" (netport / chain {fmt(extra['netport'] / extra['stunnel'])})"
                  if len(extra) == 2 and extra["stunnel"] > 0 else ""))
    lines.append("")

    if meta.get("p2p_move_ms", "") != "":
        grant = meta.get("p2p_grant_ms", "")
        lines.append("netport direct: the move from the relay to the direct "
                     f"path took {meta['p2p_move_ms']} ms (RESUME both ways)"
                     + (f", {grant} ms after the grant (grant to direct "
                        "path)" if grant != "" else ""))
        lines.append("")
    if meta.get("stall"):
        meta["p2p_stall"] = _stall_summary(meta)
        lines += _stall_lines(meta)
    if meta.get("stall_switch"):
        lines += _switch_lines(meta)
    lines.append("Targets (ratios from this run)")
    for t in targets:
        state = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        v = fmt(t["value"]) if t["value"] is not None else "—"
        lines.append(f"  {t['target']:46} {v:>7} {t['op']} "
                     f"{fmt(t['threshold']):<5} {state:7} ({t['detail']})")

    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    with open(out_file, "w") as f:
        json.dump({"meta": meta, "figures": figures, "targets": targets,
                   "raw": raw, "table": text}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmds = {"cpu": cmd_cpu, "rss": cmd_rss, "rss-peak": cmd_rss_peak,
            "ports": cmd_ports, "field": cmd_field, "iperf": cmd_iperf,
            "iperf-udp": cmd_iperf_udp,
            "perf-split": cmd_perf_split, "report": cmd_report}
    fn = cmds.get(sys.argv[1])
    if fn is None:
        sys.exit(__doc__)
    fn(sys.argv[2:])


if __name__ == "__main__":
    main()
