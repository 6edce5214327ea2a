#!/usr/bin/env python3
"""Lambda init-time benchmark (docs/performance.md).

For each function binary: start it against a local stub of the Lambda runtime API and measure the
time from exec to its first `GET /2018-06-01/runtime/invocation/next` (its init is done and it asks
for work). The baseline is the hello-world `lambda_runtime` binary built in the same run. Reports
the median of N starts per binary and the ratio to the baseline, and the median CPU time the
process had used by then (all its threads, from /proc/<pid>/task/*/schedstat), which a busy
machine inflates far less than the wall time.

usage: tests/bench/lambda_init.py TARGET_LAMBDA_DIR [N] [FUNCTION ...]
  (TARGET_LAMBDA_DIR is cargo lambda's output, e.g. target/lambda, holding <fn>/bootstrap;
  every function of the template unless some are named)
"""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def template_functions():
    """Every function of the deployment: the Makefile's `FUNCTIONS` line, generated from the lists
    of functions (aos_lambda::functions)."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        for line in f:
            if line.startswith("FUNCTIONS = "):
                return line.split("=", 1)[1].split()
    raise SystemExit("the Makefile has no FUNCTIONS line")


FUNCTIONS = template_functions()
BASELINE = "hello-lambda"

first_request = threading.Event()
current = {"pid": None, "cpu_ms": None, "faults": None}


def cpu_ms(pid):
    """CPU time used so far by every thread of `pid`, in ms (schedstat's first field is ns)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        return None
    return total / 1e6


def minor_faults(pid):
    """Minor page faults of `pid` so far (/proc/<pid>/stat, field 10)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return None


class Stub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the runtime API's verb)
        if self.path.endswith("/runtime/invocation/next"):
            if not first_request.is_set() and current["pid"]:
                current["cpu_ms"] = cpu_ms(current["pid"])
                current["faults"] = minor_faults(current["pid"])
            first_request.set()
            # Hold the connection: the function is now idle, waiting for work; we kill it next.
            time.sleep(0.5)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def measure(binary, env, n):
    """(median wall ms, median CPU ms, median minor page faults) from exec to the first request
    for work."""
    times, cpus, faults = [], [], []
    for _ in range(n):
        first_request.clear()
        current["cpu_ms"] = None
        current["faults"] = None
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        current["pid"] = proc.pid
        if not first_request.wait(10):
            proc.kill()
            raise SystemExit(f"{binary} did not ask for work within 10 s")
        times.append((time.perf_counter() - start) * 1000)
        if current["cpu_ms"] is not None:
            cpus.append(current["cpu_ms"])
        if current["faults"] is not None:
            faults.append(current["faults"])
        proc.kill()
        proc.wait()
    median = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    return statistics.median(times), median(cpus), median(faults)


def main():
    lambda_dir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    functions = sys.argv[3:] or FUNCTIONS
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # never contacted during init
        "AOS_TABLE": "bench", "AOS_QUEUE_URLS": "{}",
    })
    base, base_cpu, base_faults = measure(os.path.join(lambda_dir, BASELINE, "bootstrap"), env, n)
    print("| function | size MB | init p50 ms | ratio to hello-world | init CPU p50 ms | CPU ratio | page faults |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    size = os.path.getsize(os.path.join(lambda_dir, BASELINE, "bootstrap")) / 1e6
    print(f"| {BASELINE} (baseline) | {size:.2f} | {base:.1f} | 1.00 | {base_cpu:.1f} | 1.00 | {base_faults:.0f} |")
    for fn in functions:
        path = os.path.join(lambda_dir, fn, "bootstrap")
        t, c, f = measure(path, env, n)
        print(f"| {fn} | {os.path.getsize(path) / 1e6:.2f} | {t:.1f} | {t / base:.2f} | {c:.1f} | {c / base_cpu:.2f} | {f:.0f} |")
    server.shutdown()


if __name__ == "__main__":
    main()
