#!/usr/bin/env python3
"""Turns bench/run-benchmarks' results (TSV: scenario, server, metric, value) into
docs/benchmarks.md and the data file its plot is drawn from."""

import argparse
import datetime
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

PLOT_SCENARIOS = ["pingpong_1", "pingpong_50", "pingpong_200", "pingpong_1000", "pipeline16_50"]


def number(value):
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def median(numbers):
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def metrics_overhead(values):
    """The metrics on/off comparison: echod ping-pong (50 connections) without and with the
    metrics endpoint scraped every second, rounds alternating; medians compared."""
    runs = {"off": [], "on": []}
    cpu = {"off": [], "on": []}
    for (scenario, metric), row in sorted(values.items()):
        for state in runs:
            if scenario.startswith(f"metrics_{state}_") and "echod" in row:
                if metric == "requests_per_s":
                    runs[state].append(row["echod"])
                elif metric == "server_cpu_us_per_request":
                    cpu[state].append(row["echod"])
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("markdown")
    parser.add_argument("plot_data")
    for name in ("commit", "cpu", "nproc", "kernel", "duration", "warmup", "smoke", "pinned",
                 "load"):
        parser.add_argument("--" + name, default="")
    args = parser.parse_args()

    values = defaultdict(dict)  # (scenario, metric) -> server -> value
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
                values[(scenario, metric)][server] = float(value)

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
    out.append(f"- echod with 1 worker; baseline_echo is single-threaded; {pinning}")
    out.append(f"- Each run: {args.duration} s measured after {args.warmup} s warmup, client "
               "`echod-client bench` (every echoed byte verified)")
    if not have_echod:
        out.append("- **echod was not built: its column is empty**")
    out.append("")
    out.append("| Scenario | Unit | echod | baseline_echo | echod / baseline |")
    out.append("|---|---|--:|--:|--:|")
    for scenario, metric, label, unit, higher_better in ROWS:
        row = values.get((scenario, metric), {})
        echod, baseline = row.get("echod"), row.get("baseline")
        ratio = f"{echod / baseline:.2f}" if echod is not None and baseline else "—"
        better = "higher is better" if higher_better else "lower is better"
        out.append(f"| {label} | {unit} ({better}) | {number(echod)} | {number(baseline)} "
                   f"| {ratio} |")
    iperf = values.get(("bulk_64k", "mb_per_s"), {}).get("iperf3")
    if iperf is not None:
        out.append(f"| iperf3 single stream, same CPUs (one way only) | MB/s | | {number(iperf)} "
                   "| |")
    out.append("")
    out.append("Client-detected errors over all runs: "
               + ", ".join(f"{server} {count}" for server, count in sorted(errors.items()))
               + ".\n" if errors else "Client-detected errors over all runs: none.\n")
    if strace:
        out.append("System calls per echoed message by call (strace -c -f, 50 connections "
                   "ping-pong, 2 s):\n")
        out.append("| Call | echod | baseline_echo |")
        out.append("|---|--:|--:|")
        for name, row in sorted(strace.items(), key=lambda item: -max(item[1].values())):
            out.append(f"| {name} | {number(row.get('echod'))} | {number(row.get('baseline'))} |")
        out.append("")
    churn = {metric: value.get("echod") for (scenario, metric), value in values.items()
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
    with open(args.markdown, "w") as markdown:
        markdown.write("\n".join(out))

    with open(args.plot_data, "w") as plot:
        for scenario in PLOT_SCENARIOS:
            rps = values.get((scenario, "requests_per_s"), {})
            p99 = values.get((scenario, "p99_us"), {})
            plot.write(f"{scenario} {rps.get('echod', 0)} {rps.get('baseline', 0)} "
                       f"{p99.get('echod', 0)} {p99.get('baseline', 0)}\n")


if __name__ == "__main__":
    main()
