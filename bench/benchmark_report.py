#!/usr/bin/env python3
"""Turns bench/run-benchmarks' results (TSV: scenario, server, metric, value) into
docs/benchmarks.md and the data file its plot is drawn from."""

import argparse
import datetime
import math
from collections import defaultdict

# (scenario, metric, label, unit, higher is better)
ROWS = [
    ("pingpong_1", "requests_per_s", "Ping-pong 512 B, 1 connection", "req/s", True),
    ("pingpong_50", "requests_per_s", "Ping-pong 512 B, 50 connections", "req/s", True),
    ("pingpong_200", "requests_per_s", "Ping-pong 512 B, 200 connections", "req/s", True),
    ("pingpong_1000", "requests_per_s", "Ping-pong 512 B, 1000 connections", "req/s", True),
    ("pipeline16_50", "requests_per_s", "Pipelined (depth 16) 512 B, 50 connections", "req/s", True),
    ("pingpong_1", "p99_us", "p99 latency, ping-pong 1 connection", "us", False),
    ("pingpong_50", "p99_us", "p99 latency, ping-pong 50 connections", "us", False),
    ("pingpong_200", "p99_us", "p99 latency, ping-pong 200 connections", "us", False),
    ("pingpong_1000", "p99_us", "p99 latency, ping-pong 1000 connections", "us", False),
    ("pipeline16_50", "p99_us", "p99 latency, pipelined 50 connections", "us", False),
    ("bulk_64k", "mb_per_s", "Bulk 64 KiB messages, 1 connection (each way)", "MB/s", True),
    ("churn", "requests_per_s", "Churn: connect, echo 512 B, close (8 at a time)", "conn/s", True),
    ("idle_1000", "kib_per_connection", "Server RSS per idle connection, 1k connections", "KiB", False),
    ("idle_9000", "kib_per_connection", "Server RSS per idle connection, 9k connections", "KiB", False),
    ("syscalls_50", "syscalls_per_message", "Server syscalls per echoed message, 50 connections",
     "calls", False),
    ("pingpong_50", "server_cpu_us_per_request", "Server CPU per request, ping-pong 50 conns",
     "us", False),
    ("pingpong_200", "server_cpu_us_per_request", "Server CPU per request, ping-pong 200 conns",
     "us", False),
    ("pingpong_1000", "server_cpu_us_per_request", "Server CPU per request, ping-pong 1000 conns",
     "us", False),
    ("pipeline16_50", "server_cpu_us_per_request", "Server CPU per request, pipelined 50 conns",
     "us", False),
    ("churn", "server_cpu_us_per_request", "Server CPU per connection, churn", "us", False),
]

# The rows whose every run is listed.
RUN_ROWS = [("pingpong_1", "requests_per_s"), ("pingpong_50", "requests_per_s"),
            ("pingpong_200", "requests_per_s"), ("pingpong_1000", "requests_per_s"),
            ("pipeline16_50", "requests_per_s"), ("bulk_64k", "mb_per_s"),
            ("churn", "requests_per_s")]

# Server columns: name in the results, heading.
SERVERS = [("echod", "echod"), ("baseline", "baseline_echo"),
           ("oneshot", "baseline_echo --oneshot")]

PLOT_SCENARIOS = ["pingpong_1", "pingpong_50", "pingpong_200", "pingpong_1000", "pipeline16_50"]


def number(value):
    if value is None:
        return "—"
    if math.isnan(value):
        return "failed"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def median(numbers):
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def pick(row, server):
    """The median of a server's runs in one (scenario, metric) row, or None. A failed run is
    recorded as NaN, so that the runs stay in step with the rounds; it is left out here."""
    runs = [run for run in row.get(server, []) if not math.isnan(run)]
    return median(runs) if runs else None


def ratio(row, numerator, denominator):
    """The median of the per-round ratios: the servers' runs of one round are adjacent in time,
    so a drift in the machine's speed cancels out of each ratio."""
    tops, bottoms = row.get(numerator, []), row.get(denominator, [])
    ratios = [top / bottom for top, bottom in zip(tops, bottoms)
              if bottom and not math.isnan(top) and not math.isnan(bottom)]
    return f"{median(ratios):.2f}" if ratios else "—"


def metrics_overhead(values):
    """The metrics on/off comparison: echod ping-pong (50 connections) without and with the
    metrics endpoint scraped every second, rounds alternating; medians compared."""
    runs = {"off": [], "on": []}
    cpu = {"off": [], "on": []}
    for (scenario, metric), row in sorted(values.items()):
        for state in runs:
            if scenario.startswith(f"metrics_{state}_") and "echod" in row:
                kept = [run for run in row["echod"] if not math.isnan(run)]
                if metric == "requests_per_s":
                    runs[state].extend(kept)
                elif metric == "server_cpu_us_per_request":
                    cpu[state].extend(kept)
    if not runs["off"] or not runs["on"]:
        return []
    off, on = median(runs["off"]), median(runs["on"])
    change = (on / off - 1) * 100 if off else 0
    verdict = "within" if abs(change) <= 3 else "**outside**"
    spread = (max(runs["off"]) - min(runs["off"])) / off * 100 if off else 0
    rows = [
        "Metrics endpoint cost (echod, ping-pong 512 B, 50 connections; with metrics on the "
        f"endpoint is scraped every second; {len(runs['off'])} alternating rounds, medians):\n",
        "| Metrics | req/s (median) | server CPU us/request (median) | req/s of each run |",
        "|---|--:|--:|---|",
    ]
    for state, label in (("off", "off"), ("on", "on, scraped every second")):
        cpu_median = median(cpu[state]) if cpu[state] else None
        rows.append(f"| {label} | {number(median(runs[state]))} | {number(cpu_median)} "
                    f"| {', '.join(number(v) for v in runs[state])} |")
    rows += [
        "",
        f"On vs off: {change:+.1f}% ({verdict} the 3% target); the off runs alone spread "
        f"{spread:.0f}% (max − min over median): a difference below that is noise.\n",
    ]
    return rows


def kept_sections(path):
    """The "## " sections of the existing report (written by other tools, such as bench/soak's
    "## Soak"): this script writes only what comes before them."""
    try:
        with open(path) as existing:
            text = existing.read()
    except FileNotFoundError:
        return ""
    start = text.find("\n## ")
    return "\n" + text[start + 1:] if start >= 0 else ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("markdown")
    parser.add_argument("plot_data")
    for name in ("commit", "cpu", "nproc", "kernel", "duration", "warmup", "smoke", "pinned",
                 "load", "rounds"):
        parser.add_argument("--" + name, default="")
    args = parser.parse_args()

    values = defaultdict(lambda: defaultdict(list))  # (scenario, metric) -> server -> runs
    errors = defaultdict(int)
    strace = defaultdict(dict)  # syscall -> server -> calls per message
    with open(args.results) as results:
        for line in results:
            scenario, server, metric, value = line.rstrip("\n").split("\t")
            if scenario == "strace":
                strace[metric][server] = float(value)
            elif metric == "errors":
                errors[server] += int(float(value))
            else:
                values[(scenario, metric)][server].append(float(value))

    have_echod = any("echod" in v for v in values.values())
    out = []
    out.append("# echod benchmarks\n")
    out.append(f"Generated by `bench/run-benchmarks` on {datetime.date.today().isoformat()}"
               + (" (**smoke run: 2 s per scenario, not representative**)" if args.smoke == "1"
                  else "") + ".\n")
    out.append(f"- Machine: {args.nproc} CPUs, {args.cpu}; Linux {args.kernel}")
    out.append(f"- Commit: {args.commit}")
    if args.load:
        out.append(f"- Load average (1/5/15 min) at start / end: {args.load}. Anything else "
                   "running on these CPUs skews the figures: compare only runs made on an idle "
                   "machine")
    pinning = ("server pinned to CPU 0, client to CPU 1 (taskset)" if args.pinned != "0"
               else "no CPU pinning (fewer than 2 CPUs)")
    out.append(f"- echod with 1 worker; baseline_echo is single-threaded, edge-triggered and "
               "reading until EAGAIN; `baseline_echo --oneshot` is the same loop registered as "
               f"echod is (EPOLLONESHOT, re-armed after each event); {pinning}")
    out.append(f"- Each run: {args.duration} s measured after {args.warmup} s warmup, client "
               "`echod-client bench` (every echoed byte verified)")
    if args.rounds:
        out.append(f"- Load scenarios: {args.rounds} run(s) per server, the servers taking turns "
                   "run by run; each figure is the median of its runs, each ratio the median of "
                   "the ratios within a round")
    if not have_echod:
        out.append("- **echod was not built: its column is empty**")
    out.append("")
    out.append("| Scenario | Unit | " + " | ".join(heading for _, heading in SERVERS)
               + " | echod / baseline | echod / oneshot |")
    out.append("|---|---|" + "--:|" * (len(SERVERS) + 2))
    for scenario, metric, label, unit, higher_better in ROWS:
        row = values.get((scenario, metric), {})
        better = "higher is better" if higher_better else "lower is better"
        cells = " | ".join(number(pick(row, server)) for server, _ in SERVERS)
        out.append(f"| {label} | {unit} ({better}) | {cells} | {ratio(row, 'echod', 'baseline')} "
                   f"| {ratio(row, 'echod', 'oneshot')} |")
    if args.rounds and args.rounds != "1":
        out.append("")
        out.append("Every run, in order (req/s; MB/s for bulk):\n")
        out.append("| Scenario | " + " | ".join(heading for _, heading in SERVERS) + " |")
        out.append("|---|" + "---|" * len(SERVERS))
        for scenario, metric in RUN_ROWS:
            row = values.get((scenario, metric), {})
            if row:
                out.append(f"| {scenario} | " + " | ".join(
                    ", ".join(number(v) for v in row.get(server, [])) for server, _ in SERVERS)
                    + " |")
    bulk = values.get(("bulk_64k", "mb_per_s"), {})
    iperf = pick(bulk, "iperf3")
    if iperf is not None:
        iperf_runs = sum(not math.isnan(run) for run in bulk["iperf3"])
        out.append("")
        out.append(f"Bulk reference: iperf3 single stream on the same CPUs, {number(iperf)} MB/s "
                   f"one way (median of {iperf_runs} run(s), taking turns with the bulk runs); "
                   f"echod's bulk echo is {ratio(bulk, 'echod', 'iperf3')}× that, each way.")
    out.append("")
    out.append("Client-detected errors over all runs: "
               + ", ".join(f"{server} {count}" for server, count in sorted(errors.items()))
               + ".\n" if errors else "Client-detected errors over all runs: none.\n")
    if strace:
        out.append("System calls per echoed message by call (strace -c -f, 50 connections "
                   "ping-pong, 2 s). strace slows each server call down many times, so a loop "
                   "that reads until EAGAIN often finds the next message already there instead; "
                   "the perf totals in the table above are the figures at full speed:\n")
        out.append("| Call | " + " | ".join(heading for _, heading in SERVERS) + " |")
        out.append("|---|" + "--:|" * len(SERVERS))
        for name, row in sorted(strace.items(), key=lambda item: -max(item[1].values())):
            out.append(f"| {name} | "
                       + " | ".join(number(row.get(server)) for server, _ in SERVERS) + " |")
        out.append("")
    churn = {metric: pick(value, "echod") for (scenario, metric), value in values.items()
             if scenario == "long_churn"}
    if churn.get("connections") is not None:
        out.append(f"Long churn (echod only): {churn['connections']:,.0f} cumulative connections "
                   f"(connect, echo 512 B, close; 8 at a time) at {number(churn.get('requests_per_s'))}"
                   f" conn/s; errors {churn.get('verification_errors', 0):.0f}; echod's open fds "
                   f"{churn.get('fds_before', 0):.0f} before, {churn.get('fds_after', 0):.0f} after; "
                   f"RSS {number(churn.get('rss_kib_before'))} KiB before, "
                   f"{number(churn.get('rss_kib_after'))} KiB after.\n")
    metrics_rows = metrics_overhead(values)
    if metrics_rows:
        out.extend(metrics_rows)
    out.append("Notes: MB/s counts payload bytes echoed back (the same bytes also went out). "
               "Latency runs from a message's first byte sent to its last byte received "
               "(closed loop, so no coordinated-omission correction). RSS per connection is "
               "(VmRSS with N idle connections − VmRSS after one short warm-up echo) / N. "
               "Server CPU is utime+stime "
               "from /proc/PID/stat over the client run (warmup included) divided by the "
               "requests counted. Syscalls per message: perf `raw_syscalls:sys_enter` over the "
               "run ÷ messages.\n")
    out.append("![echod vs baseline_echo](benchmarks.png)\n")
    kept = kept_sections(args.markdown)
    with open(args.markdown, "w") as markdown:
        markdown.write("\n".join(out) + kept)

    with open(args.plot_data, "w") as plot:
        for scenario in PLOT_SCENARIOS:
            rps = values.get((scenario, "requests_per_s"), {})
            p99 = values.get((scenario, "p99_us"), {})
            columns = [pick(rps, server) or 0 for server, _ in SERVERS]
            columns += [pick(p99, server) or 0 for server, _ in SERVERS]
            plot.write(f"{scenario} " + " ".join(str(c) for c in columns) + "\n")


if __name__ == "__main__":
    main()
