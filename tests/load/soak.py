#!/usr/bin/env python3
"""A soak of a real `aos serve`: five-step runs at a steady rate for a while, the server's resident
memory (VmRSS) and open file descriptors sampled from /proc, and a verdict.

Runs are submitted on a fixed schedule (run i at start + i/rate, from a small pool of client
threads), so a slow server shows up as lateness rather than as a lower rate. Every few seconds one
sample: VmRSS, the number of entries in /proc/PID/fd, threads, runs submitted and finished. After
the warm-up (the first quarter, at least 30 s), the verdict:
  - memory is flat when the least-squares slope of RSS over the rest is below --max-rss-slope
    (MiB per minute) — a leak of a few KiB per run at this rate would show as several MiB a minute;
  - open files do not grow when the slope of the fd count is below --max-fd-slope per minute and the
    last sample is within --fd-slack of the first sample after the warm-up.
At the end every run must have finished and succeeded, the target must have been called exactly
once per run, and the API must list every run.

    python3 tests/load/soak.py [--seconds 600] [--rate 10] [--every 5]    # AOS_BIN picks the binary
"""

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import Api, Server, Submissions, Target, aos_binary, machine, proc_sample, statuses, wait_finished  # noqa: E402


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return 60 * sxy / sxx if sxx else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=float, default=10, help="runs submitted per second")
    ap.add_argument("--every", type=float, default=5, help="seconds between samples")
    ap.add_argument("--max-rss-slope", type=float, default=2.0, help="MiB per minute after the warm-up")
    ap.add_argument("--max-fd-slope", type=float, default=1.0, help="descriptors per minute after the warm-up")
    ap.add_argument("--fd-slack", type=int, default=8, help="descriptors the last sample may exceed the first after warm-up")
    args = ap.parse_args()

    binary = aos_binary()
    print(f"soak: {args.rate:g} runs/s for {args.seconds:g} s, a sample every {args.every:g} s; {binary}; {machine()}")
    target = Target()
    server = Server(binary)
    api = Api(server)
    subs = Submissions(api, target, "soak")
    stop = threading.Event()

    def schedule(pool: ThreadPoolExecutor, t0: float) -> None:
        i = 0
        while not stop.is_set():
            due = t0 + i / args.rate
            if due - t0 >= args.seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(subs.submit, i)
            i += 1

    samples = []  # (t, rss MiB, fds, threads, submitted, finished calls)
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            scheduler = threading.Thread(target=schedule, args=(pool, t0), daemon=True)
            scheduler.start()
            print(f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'submitted':>9} {'calls':>7}")
            next_sample = t0
            while True:
                now = time.perf_counter()
                if now >= next_sample:
                    rss, fds, threads = proc_sample(server.pid)
                    submitted = subs.count()
                    calls = sum(target.per_run().values())
                    samples.append((now - t0, rss, fds, threads, submitted, calls))
                    print(f"{now - t0:6.0f} {rss:8.1f} {fds:5d} {threads:7d} {submitted:9d} {calls:7d}", flush=True)
                    next_sample += args.every
                if not scheduler.is_alive() and now - t0 >= args.seconds:
                    break
                time.sleep(max(0.0, min(next_sample - time.perf_counter(), 0.5)))
        assert not subs.refused, f"{len(subs.refused)} submissions refused, e.g. {subs.refused[:3]}"

        ids = set(subs.accepted.values())
        listed = wait_finished(api, ids, 300, 1)
        rss, fds, threads = proc_sample(server.pid)
        print(f"after the last run finished: RSS {rss:.1f} MiB, {fds} fds, {threads} threads")

        warm = max(30.0, args.seconds / 4)
        after = [s for s in samples if s[0] >= warm]
        assert len(after) >= 3, "too few samples after the warm-up: run longer or sample more often"
        rss_slope = slope_per_minute([(s[0], s[1]) for s in after])
        fd_slope = slope_per_minute([(s[0], s[2]) for s in after])
        rss_all = [s[1] for s in samples]
        print(f"RSS: {min(rss_all):.1f}–{max(rss_all):.1f} MiB over the soak; after the {warm:.0f} s warm-up "
              f"{after[0][1]:.1f} → {after[-1][1]:.1f} MiB, slope {rss_slope:+.2f} MiB/min (limit {args.max_rss_slope})")
        print(f"fds: after the warm-up {after[0][2]} → {after[-1][2]} (max {max(s[2] for s in after)}), slope {fd_slope:+.2f}/min "
              f"(limit {args.max_fd_slope}, slack {args.fd_slack})")
        ended = statuses(listed, ids)
        calls = target.per_run()
        print(f"runs: {len(ids)} accepted, statuses {ended}, {sum(calls.values())} target calls; submit latency {subs.latency_ms()}")

        problems = []
        if rss_slope >= args.max_rss_slope:
            problems.append(f"memory grows {rss_slope:.2f} MiB/min after the warm-up")
        if fd_slope >= args.max_fd_slope or after[-1][2] > after[0][2] + args.fd_slack:
            problems.append(f"open files grow ({after[0][2]} → {after[-1][2]}, {fd_slope:+.2f}/min)")
        if set(listed) != ids:
            problems.append("the API's list and the accepted runs differ")
        if ended != {"succeeded": len(ids)}:
            problems.append(f"not every run succeeded: {ended}")
        if set(calls) != ids or any(n != 1 for n in calls.values()):
            problems.append("the target was not called exactly once per run")
        if problems:
            print("soak: FAILED — " + "; ".join(problems) + f"\n--- aos serve log (end) ---\n{server.tail()}")
            return 1
        print(f"soak: OK — flat memory ({rss_slope:+.2f} MiB/min), no growth in open files ({fd_slope:+.2f}/min), "
              f"{len(ids)} runs each called once")
        return 0
    except AssertionError as e:
        print(f"soak: FAILED — {e}\n--- aos serve log (end) ---\n{server.tail()}")
        return 1
    finally:
        stop.set()
        server.stop()
        target.stop()


if __name__ == "__main__":
    sys.exit(main())
