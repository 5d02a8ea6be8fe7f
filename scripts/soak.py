#!/usr/bin/env python3
"""The load of `scripts/soak` (see there): drives one `patina serve` for SOAK_SECONDS with a
mixed load over its Unix socket and loopback TCP, samples the daemon every 10 s, writes a CSV
and prints a verdict. Standard library only. Not part of CI.

Every request loop is bounded (fixed clients, a pause between requests), every connection
goes to the Unix socket or 127.0.0.1, and every response is checked: a status the load did
not ask for is an error.
"""
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

BIN = os.environ["PATINA_BIN"]
HOME = os.environ["PATINA_HOME"]
PROJECT = os.environ["SOAK_PROJECT"]
OUT = os.environ["SOAK_CSV"]
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
WARMUP = int(os.environ.get("SOAK_WARMUP", "60"))
SOCK = os.path.join(HOME, "run", "serve.sock")
# The vault's one secret value, made at run time by scripts/soak (environment only, never
# argv): the guard's load asks the daemon's scan hold to find it.
SECRET = os.environ["SOAK_SECRET"]
# A GitHub-token-shaped string built here (no commit holds one): the guard's token
# detectors conceal it whether or not the hold is there.
TOKEN = "gh" + "p_" + "".join(random.Random(3).choice("ABCDEFabcdef0123456789") for _ in range(36))

stop = threading.Event()
lock = threading.Lock()
# Per window: latencies (ms) per kind, counts per (kind, outcome).
lat = {"scry": [], "health": [], "tcp": [], "guard": [], "hook": []}
counts = {}
errors = []


def count(kind, outcome):
    with lock:
        counts[(kind, outcome)] = counts.get((kind, outcome), 0) + 1


def error(what):
    with lock:
        errors.append(f"{time.strftime('%H:%M:%S')} {what}")


def exchange(raw, tcp_port=None, timeout=10):
    """Sends `raw`, returns (status, body) of the response."""
    if tcp_port is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = SOCK
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = ("127.0.0.1", tcp_port)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


WORDS = ["walrus", "socket", "worker", "index", "quokka", "marigold", "lantern", "deadline",
         "snippet", "vault", "notes", "compaction", "handshake", "the", "pool"]


def scry_client(seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        q = " ".join(rnd.sample(WORDS, rnd.randint(1, 3)))
        body = json.dumps({"query": q, "limit": rnd.choice([5, 10, 50])}).encode()
        raw = (b"POST /api/scry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        t = time.monotonic()
        try:
            status, resp = exchange(raw)
        except OSError as e:
            error(f"scry: {e}")
            continue
        ms = (time.monotonic() - t) * 1000
        if status == 200 and b'"results"' in resp:
            with lock:
                lat["scry"].append(ms)
            count("scry", "ok")
        elif status == 503:
            count("scry", "busy")  # the gate, under the idle and slow connections: allowed
        else:
            error(f"scry: status {status}")
        time.sleep(rnd.uniform(0.005, 0.05))


def health_client():
    while not stop.is_set():
        t = time.monotonic()
        try:
            status, _ = exchange(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        except OSError as e:
            error(f"health: {e}")
            continue
        if status == 200:
            with lock:
                lat["health"].append((time.monotonic() - t) * 1000)
            count("health", "ok")
        elif status == 503:
            count("health", "busy")
        else:
            error(f"health: status {status}")
        time.sleep(0.02)


def idle_client():
    """Connects and sends nothing; the head deadline closes it (408 or a silent close)."""
    while not stop.is_set():
        try:
            status, _ = exchange(b"", timeout=30)
            count("idle", f"closed-{status}")
        except OSError as e:
            error(f"idle: {e}")
        time.sleep(0.1)


def slowloris_client():
    """Sends a head one byte every 0.5 s: the whole-head deadline must cut it off (408)."""
    head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    while not stop.is_set():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(SOCK)
            for b in head:
                s.send(bytes([b]))
                time.sleep(0.5)
                if stop.is_set():
                    break
            if not stop.is_set():
                count("slowloris", "sent-whole-head")
                error("slowloris: a 100 s head was not cut off")
        except (BrokenPipeError, ConnectionResetError):
            count("slowloris", "cut-off")
        except OSError as e:
            error(f"slowloris: {e}")
        finally:
            s.close()


def tcp_bad_token(port):
    rnd = random.Random(7)
    while not stop.is_set():
        token = "".join(rnd.choice("abcdef0123456789") for _ in range(64))
        body = b'{"query":"walrus"}'
        raw = (b"POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (port, token.encode(), len(body))) + body
        t = time.monotonic()
        try:
            status, _ = exchange(raw, tcp_port=port)
        except OSError as e:
            error(f"tcp: {e}")
            continue
        if status in (401, 429):
            with lock:
                lat["tcp"].append((time.monotonic() - t) * 1000)
            count("tcp-bad-token", str(status))
        else:
            error(f"tcp bad token: status {status}")
        time.sleep(0.2)


def guard_scan_client(seed):
    """`POST /guard/scan` (the daemon's scan hold): text with and without the known value.
    While the hold is there (`held`), the value must be found exactly where it is; without it
    (the moments between a `session lock` and the next unlock) nothing may be found."""
    rnd = random.Random(seed)
    while not stop.is_set():
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(5, 400))]
        with_value = rnd.random() < 0.5
        if with_value:
            words.insert(rnd.randrange(len(words) + 1), SECRET)
        text = " ".join(words)
        body = json.dumps({"text": text}).encode()
        raw = (b"POST /guard/scan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        t = time.monotonic()
        try:
            status, resp = exchange(raw)
        except OSError as e:
            error(f"guard scan: {e}")
            continue
        ms = (time.monotonic() - t) * 1000
        if status != 200:
            error(f"guard scan: status {status}")
            continue
        v = json.loads(resp)
        spans = [(f["start"], f["end"]) for f in v.get("findings", [])]
        if SECRET.encode() in resp:
            error("guard scan: the answer holds the value")
        elif v.get("held") and with_value:
            start = text.encode().index(SECRET.encode())
            if (start, start + len(SECRET.encode())) not in spans:
                error(f"guard scan: the held value was not found at {start}: {spans}")
            else:
                count("guard-scan", "found")
        elif v.get("held") and spans:
            error(f"guard scan: findings in text without the value: {spans}")
        elif not v.get("held") and spans:
            error("guard scan: findings without a hold")
        else:
            count("guard-scan", "held-clean" if v.get("held") else "not-held")
        with lock:
            lat["guard"].append(ms)
        time.sleep(rnd.uniform(0.02, 0.1))


def hold_is_there():
    body = b'{"text":"x"}'
    raw = (b"POST /guard/scan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    try:
        status, resp = exchange(raw)
        return status == 200 and json.loads(resp).get("held") is True
    except (OSError, ValueError):
        return False


def guard_hook_client():
    """`patina guard hook --agent claude-code` on a PostToolUse payload whose output holds
    the known value and a token-shaped string, as Claude Code runs it after a tool: exit 0,
    the token always concealed, the value concealed whenever the hold was there before and
    after the call."""
    rnd = random.Random(11)
    while not stop.is_set():
        out = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(10, 2000)))
        out += f"\nAPI_KEY={SECRET}\nGITHUB_TOKEN={TOKEN}\n"
        payload = json.dumps({
            "session_id": "soak", "transcript_path": "/dev/null", "cwd": PROJECT,
            "permission_mode": "default", "hook_event_name": "PostToolUse", "tool_name": "Bash",
            "tool_use_id": "toolu_soak", "tool_input": {"command": "cat build.log"},
            "tool_response": {"stdout": out, "stderr": "", "interrupted": False, "isImage": False},
        }).encode()
        held_before = hold_is_there()
        t = time.monotonic()
        try:
            o = subprocess.run([BIN, "guard", "hook", "--agent", "claude-code"], input=payload,
                               capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            error("guard hook: no answer in 60 s")
            continue
        ms = (time.monotonic() - t) * 1000
        held_after = hold_is_there()
        if o.returncode != 0:
            error(f"guard hook: exit {o.returncode}")
        elif TOKEN.encode() in o.stdout or TOKEN.encode() in o.stderr:
            error("guard hook: a token-shaped string passed")
        elif SECRET.encode() in o.stderr:
            error("guard hook: the value reached stderr")
        elif SECRET.encode() in o.stdout:
            if held_before and held_after:
                error("guard hook: the known value passed while the hold was there")
            else:
                count("guard-hook", "not-held")
        else:
            with lock:
                lat["hook"].append(ms)
            count("guard-hook", "concealed")
        time.sleep(rnd.uniform(0.2, 0.5))


def patina(*args, check=True):
    o = subprocess.run([BIN, *args], capture_output=True, timeout=60)
    if check and o.returncode != 0:
        error(f"patina {' '.join(args)}: exit {o.returncode}: {o.stderr.decode(errors='replace').strip()[:200]}")
    return o


def session_cycles():
    """unlock → lock, and unlock with a 3 s TTL left to expire, in turn."""
    n = 0
    while not stop.is_set():
        n += 1
        if n % 2:
            patina("session", "unlock", "--ttl", "60s")
            time.sleep(2)
            patina("session", "lock")
            count("session", "unlock-lock")
        else:
            patina("session", "unlock", "--ttl", "3s")
            time.sleep(5)
            o = patina("session", "status", "--json", check=False)
            if b'"unlocked":true' in o.stdout.replace(b" ", b""):
                error("session: still unlocked after its TTL")
            count("session", "unlock-expire")
        time.sleep(1)


# The file watcher's re-indexing is exercised by watched_edit() below; this explicit
# re-scrape beside it checks that a scrape command and the watcher coexist.
def rescrape():
    """Edits a note and re-scrapes while the daemon serves, every 20 s."""
    n = 0
    while not stop.wait(20):
        n += 1
        with open(os.path.join(PROJECT, "layer", "soak-edit.md"), "w") as f:
            f.write(f"# Edit {n}\n\nthe walrus edit number {n} at {time.time()}\n")
        patina("scrape", PROJECT)
        count("scrape", "ok")


def watched_edit():
    """Edits files the daemon's watcher must re-index on its own (issue 18): every 5 s a note
    with a new word is written (in place, by atomic rename, or deleted again), and the word
    must become searchable (or stop being) within 10 s, with no `patina scrape`."""
    n = 0
    d = os.path.join(PROJECT, "layer", "watched")
    os.makedirs(d, exist_ok=True)
    while not stop.wait(5):
        n += 1
        word = f"soakfresh{n}x"
        path = os.path.join(d, f"w{n % 7}.md")
        if n % 2:
            with open(path, "w") as f:
                f.write(f"# Watched {n}\n\nthe {word} appears\n")
        else:
            with open(path + ".tmp", "w") as f:
                f.write(f"# Watched {n}\n\nthe {word} appears\n")
            os.replace(path + ".tmp", path)
        body = json.dumps({"query": word, "limit": 5}).encode()
        raw = (b"POST /api/scry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        deadline = time.time() + 10
        while True:
            try:
                status, out = exchange(raw)
                found = status == 200 and word.encode() in out
            except OSError:
                found = False
            if found:
                count("watched-edit", "found")
                break
            if time.time() > deadline or stop.is_set():
                if not stop.is_set():
                    error(f"watcher: {word} not searchable 10 s after the edit")
                break
            time.sleep(0.2)


def proc(pid):
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(st["VmRSS"].split()[0]), int(st["Threads"]), fds


def loadavg():
    """The machine's 1-minute load average: latency moves with it on a shared machine."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    pid = int(open(os.path.join(HOME, "run", "serve.pid")).read().strip())
    port = int(os.environ["SOAK_TCP_PORT"])
    threads = [threading.Thread(target=scry_client, args=(i,)) for i in range(6)]
    threads += [threading.Thread(target=health_client) for _ in range(2)]
    threads += [threading.Thread(target=idle_client) for _ in range(4)]
    threads += [threading.Thread(target=slowloris_client) for _ in range(2)]
    threads += [threading.Thread(target=tcp_bad_token, args=(port,))]
    threads += [threading.Thread(target=session_cycles), threading.Thread(target=rescrape)]
    threads += [threading.Thread(target=guard_scan_client, args=(100 + i,)) for i in range(2)]
    threads += [threading.Thread(target=guard_hook_client)]
    threads += [threading.Thread(target=watched_edit)]
    for t in threads:
        t.daemon = True
        t.start()
    rows = []
    t0 = time.monotonic()
    with open(OUT, "w") as out:
        out.write("t_s,rss_kib,threads,fds,scry_n,scry_p50_ms,scry_p99_ms,scry_max_ms,"
                  "health_n,health_p99_ms,tcp_n,tcp_p99_ms,errors,loadavg_1m,"
                  "guard_n,guard_p99_ms,hook_n,hook_p50_ms,hook_p99_ms\n")
        while time.monotonic() - t0 < SECONDS:
            time.sleep(10)
            with lock:
                win = {k: v[:] for k, v in lat.items()}
                for v in lat.values():
                    v.clear()
                nerr = len(errors)
            rss, nthreads, fds = proc(pid)
            row = (round(time.monotonic() - t0), rss, nthreads, fds, len(win["scry"]),
                   pct(win["scry"], 50), pct(win["scry"], 99), max(win["scry"], default=0),
                   len(win["health"]), pct(win["health"], 99), len(win["tcp"]),
                   pct(win["tcp"], 99), nerr, loadavg(), len(win["guard"]),
                   pct(win["guard"], 99), len(win["hook"]), pct(win["hook"], 50),
                   pct(win["hook"], 99))
            rows.append(row)
            out.write(",".join(f"{x:.2f}" if isinstance(x, float) else str(x) for x in row) + "\n")
            out.flush()
            print(f"t={row[0]:4d}s rss={rss} KiB threads={nthreads} fds={fds} "
                  f"scry n={row[4]} p50={row[5]:.1f} p99={row[6]:.1f} ms guard n={row[14]} "
                  f"hook n={row[16]} p50={row[17]:.0f} ms errors={nerr} load={row[13]}", flush=True)
    stop.set()
    time.sleep(1)

    steady = [r for r in rows if r[0] > WARMUP]
    half = len(steady) // 2
    a, b = steady[:half], steady[half:]
    verdict = []
    verdict.append(("no unexpected errors", len(errors) == 0, f"{len(errors)} errors"))
    rss_a, rss_b = max(r[1] for r in a), max(r[1] for r in b)
    verdict.append(("RSS flat after warm-up (2nd half max <= 1st half max + 10%)",
                    rss_b <= rss_a * 1.10, f"{rss_a} -> {rss_b} KiB"))
    fd_a, fd_b = max(r[3] for r in a), max(r[3] for r in b)
    verdict.append(("open fds flat (2nd half max <= 1st half max + 4)", fd_b <= fd_a + 4,
                    f"{fd_a} -> {fd_b}"))
    th_a, th_b = max(r[2] for r in a), max(r[2] for r in b)
    verdict.append(("no thread growth (2nd half max <= 1st half max)", th_b <= th_a,
                    f"{th_a} -> {th_b}"))
    p99_a = statistics.median(r[6] for r in a)
    p99_b = statistics.median(r[6] for r in b)
    verdict.append(("scry p99 steady (median of 2nd half <= 2x 1st half)", p99_b <= 2 * p99_a,
                    f"{p99_a:.1f} -> {p99_b:.1f} ms"))
    print()
    print("counts:", json.dumps({f"{k[0]}:{k[1]}": v for k, v in sorted(counts.items())}))
    for e in errors[:20]:
        print("error:", e)
    ok = True
    for name, passed, detail in verdict:
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    print("SOAK", "PASSED" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
