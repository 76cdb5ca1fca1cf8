#!/usr/bin/env python3
"""Turns the JSON of `tools/dev bench` into the results table of BENCHMARKS.md and a chart.

    bench/chart.py [--png bench/results.png] bench-channel.json bench-model.json

Prints, in Markdown, the machine and run (from the JSON context) and one row per figure:
patchbay's value, its baseline from the same run, and the ratio. With --png, also draws
latency by mode (round trips, log scale) and throughput by message size (matplotlib).

Reads medians when the run had repetitions (--benchmark_report_aggregates_only), else the
single iteration run of each benchmark (a smoke run). A figure whose benchmark is missing
(filtered out, skipped, or ZeroMQ not built) prints as "n/a".
"""

import argparse
import json
import re
import sys

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class Results:
    def __init__(self, paths):
        self.runs = {}
        self.contexts = []
        for path in paths:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            self.contexts.append(data.get("context", {}))
            for b in data.get("benchmarks", []):
                if b.get("error_occurred"):
                    continue
                # "/iterations:N" depends on how a benchmark is registered, not on what it
                # measures: names are looked up without it.
                name = re.sub(r"/iterations:[0-9]+", "", b.get("run_name", b["name"]))
                kind = b.get("aggregate_name", "")
                if kind == "median" or (kind == "" and b.get("run_type") == "iteration"):
                    # A median wins over a plain iteration of the same name.
                    if kind == "median" or name not in self.runs:
                        self.runs[name] = b
                elif kind == "cv":
                    self.runs.setdefault("cv:" + name, b)
        # The two-atomic floor is its fastest poll gap (pause instructions between polls):
        # "FAMILY/best/real_time" is that run, and self.best_gap[that name] its gap.
        self.best_gap = {}
        for family in ("two_atomic_ping_pong", "two_atomic_ping_pong_threads"):
            gaps = []
            for name in self.runs:
                m = re.fullmatch(family + r"/pauses:([0-9]+)/real_time", name)
                if m:
                    gaps.append((self.ns(name), int(m.group(1)), name))
            if gaps:
                _, gap, fastest = min(gaps)
                self.runs[f"{family}/best/real_time"] = self.runs[fastest]
                self.best_gap[f"{family}/best/real_time"] = gap

    def get(self, name):
        return self.runs.get(name)

    def ns(self, name):
        """Time per iteration in nanoseconds."""
        b = self.get(name)
        if b is None:
            return None
        return b["real_time"] * TO_NS[b.get("time_unit", "ns")]

    def counter(self, name, counter):
        b = self.get(name)
        return None if b is None else b.get(counter)

    def cv(self, name):
        b = self.get("cv:" + name)
        return None if b is None else b["real_time"]


def fmt_time(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e9:
        return f"{ns / 1e9:.3g} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} us"
    return f"{ns:.3g} ns"


def fmt_bytes(b):
    if b is None:
        return "n/a"
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b:.3g} B"


def fmt_rate(per_s, bytes_per_s=None):
    if per_s is None:
        return "n/a"
    text = f"{per_s / 1e6:.3g} M msg/s"
    if bytes_per_s is not None:
        text += f", {bytes_per_s / 1e9:.3g} GB/s"
    return text


def fmt_bandwidth(bytes_per_s):
    return "n/a" if bytes_per_s is None else f"{bytes_per_s / 1e9:.3g} GB/s"


def ratio(a, b, suffix="x"):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}{suffix}"


# The benchmark names, in one place.
CROSS = "two_atomic_ping_pong/best/real_time"
THREADS = "two_atomic_ping_pong_threads/best/real_time"
FUTEX = "futex_ping_pong/think_us:0/real_time"
FUTEX_THINK = "futex_ping_pong/think_us:1000/real_time"
SIZES = (8, 64, 1024, 65536)


def size_name(size):
    return {1024: "1 KiB", 65536: "64 KiB"}.get(size, f"{size} B")


def floor_label(r, floor, sides):
    """'two-atomic ping-pong (SIDES, P pause(s) between polls)', P the fastest gap."""
    gap = r.best_gap.get(floor)
    gap_text = "" if gap is None else f", {gap} pause(s) between polls"
    return f"two-atomic ping-pong ({sides}{gap_text})"


def rows(r):
    """(figure, patchbay, baseline, ratio, preemptions) for every figure of the table."""
    out = []

    def noisy(name, text):
        """The text, with the spread between repetitions when it is over 10%."""
        cv = r.cv(name)
        return text if cv is None or cv <= 0.10 else f"{text} (CV {cv * 100:.0f}%)"

    def preempted(name):
        count = r.counter(name, "preemptions")
        return "" if count is None else f"{count:.0f}"

    def time_row(figure, name, base_label, base_name):
        value, base = r.ns(name), r.ns(base_name)
        out.append((figure, noisy(name, fmt_time(value)),
                    noisy(base_name, f"{base_label} {fmt_time(base)}"), ratio(value, base),
                    preempted(name)))

    def paired_row(figure, name, between):
        """A spinning round trip against the two-atomic floor it measured just before its run."""
        floor, gap = r.counter(name, "two_atomic_ns"), r.counter(name, "two_atomic_pauses")
        gap_text = "" if gap is None else f", {gap:.0f} pause(s) between polls"
        paired = r.counter(name, "x_two_atomic")
        out.append((figure, noisy(name, fmt_time(r.ns(name))),
                    f"two-atomic ping-pong ({between}, paired{gap_text}) {fmt_time(floor)}",
                    "n/a" if paired is None else f"{paired:.2f}x", preempted(name)))

    # The floor itself: the two-atomic ping-pong with each poll gap, against the fastest.
    for family, sides in ((CROSS, "processes"), (THREADS, "threads")):
        prefix = family.split("/")[0]
        for pauses in (0, 1, 2, 4):
            time_row(f"Two-atomic ping-pong, {sides}, {pauses} pause(s) between polls",
                     f"{prefix}/pauses:{pauses}/real_time", floor_label(r, family, sides),
                     family)

    # Round trips. The spinning ones against the floor measured before each of their runs.
    for mode in ("spin", "adaptive"):
        paired_row(f"Round trip, ParallelProcess `{mode}`",
                   f"engine_round_trip/{mode}/manual_time", "processes")
    time_row("Round trip, ParallelProcess `block`", "engine_round_trip/block/manual_time",
             "futex ping-pong", FUTEX)
    paired_row("Round trip, raw ring, processes, spinning", "ring_round_trip/real_time",
               "processes")
    paired_row("Round trip, raw ring of fixed-size records, processes, spinning",
               "ring_round_trip/fixed/real_time", "processes")
    paired_row("Round trip, raw ring, threads, spinning", "ring_round_trip_threads/real_time",
               "threads")
    time_row("Round trip, raw ring, two fibers of one thread", "ring_round_trip_fibers",
             "fiber switch there and back", "fiber_switch")
    time_row("Round trip, LocalProcess (Ping/Pong fibers)", "local_round_trip/manual_time",
             "raw ring between fibers", "ring_round_trip_fibers")
    paired_row("Peer: `spsc_queue` round trip, threads", "spsc_queue_round_trip/real_time",
               "threads")
    time_row("Peer: pipe round trip, processes", "pipe_ping_pong/real_time", "futex ping-pong",
             FUTEX)
    time_row("Peer: ZeroMQ ipc:// round trip, processes", "zmq_ipc_round_trip/real_time",
             "futex ping-pong", FUTEX)
    engine_spin = r.ns("engine_round_trip/spin/manual_time")
    for peer, name in (("pipe", "pipe_ping_pong/real_time"),
                       ("ZeroMQ", "zmq_ipc_round_trip/real_time")):
        out.append((f"ParallelProcess `spin` round trip against the {peer} round trip",
                    fmt_time(engine_spin), f"{peer} {fmt_time(r.ns(name))}",
                    ratio(engine_spin, r.ns(name))))
    base = r.counter(FUTEX_THINK, "excess_ns")
    for mode in ("adaptive", "block", "spin"):
        name = f"engine_idle_round_trip/{mode}/think_us:1000/manual_time"
        value = r.counter(name, "excess_ns")
        out.append((f"Hand-offs per round trip, idle consumer, `{mode}` (`excess_ns`)",
                    fmt_time(value), f"futex ping-pong, same think time {fmt_time(base)}",
                    ratio(value, base), preempted(name)))

    # Throughput by size.
    for size in SIZES:
        ring = r.get(f"ring_throughput/bytes:{size}/manual_time")
        memcpy = r.get(f"memcpy_bandwidth/bytes:{size}")
        ring_rate = ring and ring.get("items_per_second")
        ring_bw = ring and ring.get("bytes_per_second")
        memcpy_bw = memcpy and memcpy.get("bytes_per_second")
        out.append((f"Ring throughput, {size_name(size)} records, processes",
                    noisy(f"ring_throughput/bytes:{size}/manual_time", fmt_rate(ring_rate, ring_bw)),
                    f"memcpy {fmt_bandwidth(memcpy_bw)}",
                    ratio(ring_bw, memcpy_bw, "x of memcpy"),
                    preempted(f"ring_throughput/bytes:{size}/manual_time")))
        for label, name in (("`spsc_queue` (threads)", f"spsc_queue_throughput/bytes:{size}/manual_time"),
                            ("ZeroMQ ipc://", f"zmq_ipc_throughput/bytes:{size}/manual_time")):
            peer = r.get(name)
            peer_rate = peer and peer.get("items_per_second")
            out.append((f"Ring throughput, {size_name(size)}, against {label}",
                        fmt_rate(ring_rate), noisy(name, f"{label} {fmt_rate(peer_rate)}"),
                        ratio(ring_rate, peer_rate), preempted(name)))

    # Hops.
    ring_floor = r.ns("local_hop_floor/ring_write_read")
    clock = r.ns("local_hop_floor/steady_clock_now")
    cross_hop = r.get("ring_throughput/bytes:8/manual_time")
    cross_hop_ns = 1e9 / cross_hop["items_per_second"] if cross_hop else None
    for k in (1, 4, 16, 64):
        local = r.ns(f"local_chain/passes:{k}/manual_time")
        out.append((f"LocalProcess hop, chain of K = {k}",
                    noisy(f"local_chain/passes:{k}/manual_time", fmt_time(local)),
                    f"heap ring write + read {fmt_time(ring_floor)} (one clock read {fmt_time(clock)})",
                    ratio(local, ring_floor), preempted(f"local_chain/passes:{k}/manual_time")))
    for k in (1, 4, 16, 64):
        parallel = r.ns(f"parallel_chain/passes:{k}/manual_time")
        local = r.ns(f"local_chain/passes:{k}/manual_time")
        out.append((f"ParallelProcess hop, chain of K = {k} over two workers",
                    noisy(f"parallel_chain/passes:{k}/manual_time", fmt_time(parallel)),
                    f"LocalProcess hop, same K, {fmt_time(local)}; ring alone across cores "
                    f"{fmt_time(cross_hop_ns)} per 8 B record",
                    ratio(parallel, local), preempted(f"parallel_chain/passes:{k}/manual_time")))

    # Fan-out and fan-in.
    for direction, arrow in (("fan_out", "1 -> N"), ("fan_in", "N -> 1")):
        for engine in ("local", "parallel"):
            for n in (2, 8, 32):
                value = r.ns(f"{direction}/{engine}/n:{n}/manual_time")
                if engine == "local":
                    base, base_label = r.ns("local_chain/passes:64/manual_time"), "LocalProcess hop (K = 64)"
                else:
                    base, base_label = cross_hop_ns, "ring alone across cores, per 8 B record"
                engine_label = "LocalProcess" if engine == "local" else "ParallelProcess"
                out.append((f"{arrow}, N = {n}, {engine_label}, per message delivered",
                            noisy(f"{direction}/{engine}/n:{n}/manual_time", fmt_time(value)),
                            f"{base_label} {fmt_time(base)}", ratio(value, base),
                            preempted(f"{direction}/{engine}/n:{n}/manual_time")))

    # The tutorial model.
    for variant, label in (("tutorial", "sleeps 5 ms / 10 ms"),
                           ("tutorial_busy", "busy-wait 1 ms / 2 ms")):
        for engine, engine_label in (("local", "LocalProcess"), ("parallel", "ParallelProcess")):
            name = f"{variant}/{engine}/manual_time"
            value = r.ns(name)
            critical = r.counter(name, "critical_path_ms")
            critical_ns = critical * 1e6 if critical is not None else None
            out.append((f"Tutorial model, {label}, {engine_label}", fmt_time(value),
                        f"critical path {fmt_time(critical_ns)}", ratio(value, critical_ns),
                        preempted(name)))

    # Start-up.
    for what, label in (("first_message", "run() to the first message"),
                        ("empty_run", "whole run() of an empty model")):
        local = r.ns(f"startup/{what}/local/workers:1/manual_time")
        out.append((f"Start-up, {label}, LocalProcess", fmt_time(local), "", ""))
        for w in (1, 2, 8):
            name = f"startup/{what}/parallel/workers:{w}/manual_time"
            value = r.ns(name)
            floor = r.ns(f"startup_floor/fork_exit_wait/children:{w}/real_time")
            construct = r.counter(name, "construct_ms")
            extra = "" if construct is None else f" (constructor, with the fork: {construct:.3g} ms)"
            out.append((f"Start-up, {label}, ParallelProcess, {w} worker{'s' if w > 1 else ''}",
                        fmt_time(value) + extra,
                        f"fork, exit and reap {w} child{'ren' if w > 1 else ''} {fmt_time(floor)}",
                        ratio(value, floor), preempted(name)))

    # Memory.
    fiber = r.counter("memory_floor/fibers/fibers:10000/manual_time", "peak_bytes_per_fiber")
    ring = r.counter("memory_floor/heap_rings/rings:10000/manual_time", "peak_bytes_per_ring")
    chain = "memory/local_chain/components:10000/manual_time"
    channels = "memory/local_channels/channels:10000/manual_time"
    per_component = r.counter(chain, "peak_bytes_per_component")
    per_channel = r.counter(channels, "peak_bytes_per_channel")
    both = fiber + ring if fiber is not None and ring is not None else None
    out.append(("Memory per component (with its input channel), LocalProcess chain of 10,000",
                fmt_bytes(per_component), f"bare fiber + bare heap ring {fmt_bytes(both)}",
                ratio(per_component, both)))
    out.append(("Memory per channel, LocalProcess, 10,000 channels", fmt_bytes(per_channel),
                f"bare 64 KiB heap ring {fmt_bytes(ring)}", ratio(per_channel, ring)))
    peak = r.counter(chain, "peak_rss_mb")
    out.append(("Peak RSS, LocalProcess with 10,000 components",
                "n/a" if peak is None else f"{peak:.3g} MB", "", ""))
    return out


def markdown(r):
    lines = []
    ctx = {}
    for c in r.contexts:
        ctx.update(c)
    if ctx:
        lines.append("| | |")
        lines.append("|---|---|")
        lines.append(f"| Commit | `{ctx.get('commit', '?')}` (uncommitted engine changes: "
                     f"{ctx.get('engine_uncommitted_changes', '?')}) |")
        lines.append(f"| Started | {ctx.get('started_utc', ctx.get('date', '?'))} UTC, load "
                     f"average {ctx.get('load_at_start', '?')} |")
        lines.append(f"| CPU | {ctx.get('num_cpus', '?')} x {ctx.get('cpu', '?')}, "
                     f"{ctx.get('mhz_per_cpu', '?')} MHz |")
        lines.append(f"| System | kernel {ctx.get('kernel', '?')}, GCC {ctx.get('compiler', '?')} |")
        lines.append("")
    lines.append("| Figure | patchbay | Baseline (same run) | Ratio | Preemptions |")
    lines.append("|---|---|---|---|---|")
    for row in rows(r):
        figure, value, base, rat = row[:4]
        count = row[4] if len(row) > 4 else ""
        lines.append(f"| {figure} | {value} | {base} | {rat} | {count} |")
    return "\n".join(lines)


def chart(r, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))

    latency = [
        ("two atomics, processes", CROSS),
        ("raw ring, processes", "ring_round_trip/real_time"),
        ("ParallelProcess spin", "engine_round_trip/spin/manual_time"),
        ("ParallelProcess adaptive", "engine_round_trip/adaptive/manual_time"),
        ("ParallelProcess block", "engine_round_trip/block/manual_time"),
        ("futex, processes", FUTEX),
        ("pipe, processes", "pipe_ping_pong/real_time"),
        ("ZeroMQ ipc://, processes", "zmq_ipc_round_trip/real_time"),
        ("two atomics, threads", THREADS),
        ("raw ring, threads", "ring_round_trip_threads/real_time"),
        ("spsc_queue, threads", "spsc_queue_round_trip/real_time"),
        ("raw ring, fibers", "ring_round_trip_fibers"),
        ("LocalProcess", "local_round_trip/manual_time"),
    ]
    labels, values, colours = [], [], []
    for label, name in latency:
        value = r.ns(name)
        if value is None:
            continue
        labels.append(label)
        values.append(value)
        patchbay = "ring" in label or "Process" in label
        colours.append("tab:blue" if patchbay else "tab:gray")
    left.barh(range(len(values)), values, color=colours)
    left.set_yticks(range(len(values)), labels)
    left.invert_yaxis()
    left.set_xscale("log")
    left.set_xlabel("round trip, ns (log scale); blue: patchbay, grey: baselines and peers")
    left.set_title("Latency by mode")
    for i, v in enumerate(values):
        left.text(v, i, " " + fmt_time(v), va="center", fontsize=8)

    series = [
        ("patchbay ring, processes", "ring_throughput/bytes:{}/manual_time", "tab:blue", "o"),
        ("spsc_queue, threads", "spsc_queue_throughput/bytes:{}/manual_time", "tab:orange", "s"),
        ("ZeroMQ ipc://, processes", "zmq_ipc_throughput/bytes:{}/manual_time", "tab:green", "^"),
        ("memcpy, one core", "memcpy_bandwidth/bytes:{}", "tab:gray", "x"),
    ]
    for label, pattern, colour, marker in series:
        xs, ys = [], []
        for size in SIZES:
            b = r.get(pattern.format(size))
            if b is not None and b.get("bytes_per_second"):
                xs.append(size)
                ys.append(b["bytes_per_second"] / 1e9)
        if xs:
            right.plot(xs, ys, marker=marker, color=colour, label=label)
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xticks(list(SIZES), [size_name(s) for s in SIZES])
    right.set_xlabel("message size")
    right.set_ylabel("GB/s (log scale)")
    right.set_title("Throughput by message size (one way)")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)

    ctx = {}
    for c in r.contexts:
        ctx.update(c)
    fig.suptitle(f"patchbay benchmarks, commit {ctx.get('commit', '?')}, "
                 f"{ctx.get('num_cpus', '?')} cores, cross-process sides pinned to cores 0 and 1",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="Google Benchmark JSON files of one run")
    parser.add_argument("--png", help="write the chart here")
    args = parser.parse_args()
    r = Results(args.json)
    if not r.runs:
        sys.exit("no benchmark results in " + ", ".join(args.json))
    print(markdown(r))
    if args.png:
        chart(r, args.png)
        print(f"\nchart: {args.png}", file=sys.stderr)


if __name__ == "__main__":
    main()
