"""Cases 8 and 11, and the restart: slow clients must not hold connections (or the server) for
long; a corrupt database must stop `aos serve` at start with a message naming the file; after a
`kill -9` in the middle of everything the server must come back healthy at once and leave every
final run as it was."""

import os
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

from harness import (HEADER_TIMEOUT_ENV, HEADER_TIMEOUT_MS, AosServer, Problems, http_request, jq_step, wait_runs)
from registry import case, group

CLOSE_SLACK_S = 5.0


@case("08-slow-clients", 75)
def slow_clients(ctx, p):
    host, port = ctx.server.host_port
    half = []
    for _ in range(50):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /heal")  # half a request line, then nothing
        half.append(s)
    # Slowloris proper: a header line trickled one byte every 300 ms, never finished.
    trickle = []
    for _ in range(10):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
        trickle.append(s)
    t0 = time.time()
    closed_at = {}
    stop = threading.Event()

    def trickler():
        while not stop.wait(0.3):
            for i, s in enumerate(trickle):
                if ("t", i) in closed_at:
                    continue
                try:
                    s.sendall(b"a")
                except OSError:
                    closed_at[("t", i)] = time.time() - t0

    th = threading.Thread(target=trickler, daemon=True)
    th.start()
    worst, bad = 0.0, []
    deadline = t0 + HEADER_TIMEOUT_MS / 1000 + CLOSE_SLACK_S
    while time.time() < deadline and len(closed_at) < len(half) + len(trickle):
        r = http_request(host, port, "GET", "/healthz", timeout=5)
        worst = max(worst, r.elapsed)
        if r.status != 200 or r.elapsed > 1.0:
            bad.append(r.brief(60) if r.status != 200 else f"{r.elapsed:.2f} s")
        for kind, socks in (("h", half), ("t", trickle)):
            for i, s in enumerate(socks):
                if (kind, i) in closed_at:
                    continue
                s.setblocking(False)
                try:
                    data = s.recv(4096)
                    if data == b"" or data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.1 400"):
                        closed_at[(kind, i)] = time.time() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[(kind, i)] = time.time() - t0
        time.sleep(0.2)
    stop.set()
    th.join(2)
    r = ctx.api("admin").get("/api/v1/runs?limit=1")
    p.check(r.status == 200, f"an authenticated request while the slow clients were connected: {r.brief()}")
    p.check(not bad, f"/healthz while 60 slow clients were connected: {len(bad)} bad answers ({bad[:3]}), worst {worst:.2f} s")
    open_half = sum(1 for i in range(len(half)) if ("h", i) not in closed_at)
    open_trickle = sum(1 for i in range(len(trickle)) if ("t", i) not in closed_at)
    p.check(open_half == 0, f"{open_half} of 50 connections that sent half a request line still open {time.time() - t0:.1f} s later "
                            f"(header timeout set to {HEADER_TIMEOUT_MS} ms through {HEADER_TIMEOUT_ENV})")
    p.check(open_trickle == 0, f"{open_trickle} of 10 connections trickling a header byte every 300 ms still open {time.time() - t0:.1f} s later "
                               f"(the header timeout must bound the whole head, not each read)")
    if closed_at:
        p.note(f"connections closed after {min(closed_at.values()):.1f}-{max(closed_at.values()):.1f} s")
    for s in half + trickle:
        s.close()


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@case("11-db-file-modes", 110)
def db_modes(ctx, p):
    d = ctx.server.data_dir
    p.check(stat.S_IMODE(d.stat().st_mode) == 0o700, f"the data dir is mode {oct(stat.S_IMODE(d.stat().st_mode))}, expected 0700")
    seen = []
    for name in ("aos.db", "aos.db-wal", "aos.db-shm", "admin.key", "other.key", "failure-candidates.json"):
        f = d / name
        if f.exists():
            seen.append(name)
            p.check(private(f), f"{name} is mode {oct(stat.S_IMODE(f.stat().st_mode))}, expected 0600 (no group or other access)")
    p.check("aos.db" in seen, f"no aos.db in {d} (files: {sorted(x.name for x in d.iterdir())})")


@group("11-corrupt-storage", 111, ["middle-pages", "header"])
def corrupt_storage(ctx, selected):
    res = {s: Problems() for s in selected}
    base = ctx.tmp / "corrupt-src"
    server = AosServer(ctx.aos_bin, base, ctx.tmp / "logs", "corrupt-src", ctx.server.env)
    ctx.extra_servers.append(server)
    ctx.guarded.append(server)
    try:
        server.start()
        key = (base / "admin.key").read_text().strip()
        ctx.all_keys.append(key)
        from harness import Api
        api = Api(_Shim(server, ctx.scanner), "corrupt-admin", key)
        ids = []
        for i in range(40):
            r = api.submit({"name": f"fill-{i}", "steps": [jq_step("a", "length", {"pad": "p" * 8000, "i": i})]}, {})
            if r.status == 202:
                ids.append(r.json["run_id"])
        wait_runs(api, ids, 30)
        for name in ("aos.db", "aos.db-wal", "aos.db-shm"):
            f = base / name
            if f.exists() and not private(f):
                for s in res.values():
                    s.fail(f"{name} (while running) is mode {oct(stat.S_IMODE(f.stat().st_mode))}, expected 0600")
        server.stop()
    finally:
        ctx.guarded.remove(server)
    for s in res.values():
        s.check(server.proc.returncode == 0, f"the clean stop of the source server ended with {server.exit_description()}")
    db = base / "aos.db"
    size = db.stat().st_size if db.exists() else 0
    for variant in selected:
        p = res[variant]
        if not p.check(size >= 256 * 1024, f"the source database is only {size} bytes; cannot corrupt its middle meaningfully"):
            continue
        ddir = ctx.tmp / f"corrupt-{variant}"
        shutil.copytree(base, ddir)
        target = ddir / "aos.db"
        with open(target, "r+b") as f:
            if variant == "middle-pages":
                f.seek((size // 2) // 4096 * 4096)
                f.write(os.urandom(8192))
            else:
                f.seek(0)
                f.write(os.urandom(100))
        srv = AosServer(ctx.aos_bin, ddir, ctx.tmp / "logs", f"corrupt-{variant}", ctx.server.env)
        ctx.extra_servers.append(srv)
        ctx.guarded.append(srv)
        t0 = time.time()
        try:
            listened = srv.start(timeout=30, expect_listen=False)
            if listened:
                probe = http_request(*srv.host_port, "GET", "/healthz", timeout=5)
                p.fail(f"aos serve started listening on a database with 8 KB of garbage ({'in the middle' if variant == 'middle-pages' else 'over the header'}); "
                       f"/healthz answered {probe.status}; it must refuse to start, naming the file")
                continue
            if not p.check(srv.proc is not None and srv.proc.returncode is not None, "aos serve neither listened nor exited within 30 s"):
                continue
            took = time.time() - t0
            out = srv.log_text()
            p.check(srv.proc.returncode != 0, f"aos serve exited with 0 on a corrupt database")
            p.check("aos.db" in out, f"the refusal does not name the file aos.db: {out.strip()[-400:]!r}")
            p.check(took < 30, f"refusing took {took:.1f} s")
        finally:
            srv.kill9()
            ctx.guarded.remove(srv)
    return res


class _Shim:
    """Enough of a Ctx for an Api aimed at another server."""

    def __init__(self, server, scanner):
        self.server, self.scanner = server, scanner


RESTART_SUBS = ["healthz-within-1s-of-listening", "healthy-for-10s", "final-runs-unchanged", "other-tenant-run-after-restart"]


@group("99-restart-after-kill9", 990, RESTART_SUBS)
def restart(ctx, selected):
    res = {s: Problems() for s in RESTART_SUBS}
    with ctx.server_down_on_purpose():
        ctx.server.kill9()
        ctx.server.start()
        first = None
        while time.time() < ctx.server.listen_at + 5:
            r = http_request(*ctx.server.host_port, "GET", "/healthz", timeout=2)
            if r.status == 200:
                first = time.time() - ctx.server.listen_at
                break
            time.sleep(0.02)
    res["healthz-within-1s-of-listening"].check(first is not None and first <= 1.0,
                                                f"/healthz first answered 200 {first if first is None else round(first, 2)} s after the listener came up")
    p = res["healthy-for-10s"]
    bad, worst, n = [], 0.0, 0
    end = time.time() + 10
    while time.time() < end:
        r = http_request(*ctx.server.host_port, "GET", "/healthz", timeout=5)
        n += 1
        worst = max(worst, r.elapsed)
        if r.status != 200 or r.elapsed > 1.0:
            bad.append(r.brief(60) if r.status != 200 else f"{r.elapsed:.2f} s")
        if not ctx.server.alive():
            bad.append(f"aos serve exited ({ctx.server.exit_description()})")
            break
        time.sleep(0.2)
    p.check(not bad, f"{len(bad)} of {n} /healthz polls failed or took over 1 s in the 10 s after the restart: {bad[:4]} (worst {worst:.2f} s)")
    p.note(f"{n} polls, worst {worst:.3f} s")
    p = res["final-runs-unchanged"]
    finals = list(ctx.state["final_runs"])
    if not finals:
        p.note("no final runs were recorded before the restart (no case that records them was selected)")
    for rid, status, step, code, origin in finals:
        r = ctx.api("admin").run(rid)
        if not p.check(r.status == 200 and isinstance(r.json, dict), f"run {rid} ({origin}) after the restart: {r.brief(120)}"):
            continue
        p.check(r.json.get("status") == status, f"run {rid} ({origin}) was {status} before the restart, now {r.json.get('status')}")
        if step:
            now = ((r.json.get("steps") or {}).get(step) or {}).get("error", {}) or {}
            p.check(now.get("code") == code, f"run {rid} ({origin}) step {step} was {code} before the restart, now {now.get('code')}")
    p = res["other-tenant-run-after-restart"]
    api = ctx.api("other")
    ids = []
    for _ in range(3):
        r = api.submit(ctx.benign.plan(), {})
        if p.check(r.status == 202, f"the other tenant's submission after the restart: {r.brief()}"):
            ids.append(r.json["run_id"])
    views = wait_runs(api, ids, 30)
    for rid in ids:
        v = views.get(rid) or {}
        p.check(v.get("status") == "succeeded", f"the other tenant's run {rid} after the restart ended {v.get('status')} ({(v.get('error') or {}).get('code')})")
    return {s: res[s] for s in selected}
