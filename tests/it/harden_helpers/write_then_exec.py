"""Write-then-exec handover (issue 16, item 1, second form): the connecting process writes a
whole `POST /session/env` itself, *then* execs the patina binary (`patina mcp`, waiting on
stdin), while a forked child that shares the connection waits to read the answer. Every
request byte carries the connecting pid; if the daemon checks the executable only after
the exec, it sees patina. Writes `STATUS NVALUES` to the result file (never the values).

argv: SOCKET PATINA_BIN PROJECT READY_FILE RESULT_FILE
READY_FILE is created once the connecting pid runs patina (the test then lets the daemon
take the request up).
"""
import json, os, socket, sys, time

sock_path, patina, project, ready, result = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
parent = os.getpid()
body = b"{}"
request = (
    b"POST /session/env HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    + body
)
if os.fork() != 0:
    # The connecting process writes every byte, then becomes `patina mcp`.
    s.sendall(request)
    os.execv(patina, [patina, "mcp", "--project", project])

deadline = time.time() + 20
while time.time() < deadline:
    try:
        if os.path.samefile(f"/proc/{parent}/exe", patina):
            break
    except OSError:
        pass
    time.sleep(0.01)
time.sleep(0.1)
open(ready, "w").close()
s.settimeout(30)
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
head, _, payload = data.partition(b"\r\n\r\n")
status = head.split(b" ")[1].decode() if head else "none"
n = 0
try:
    n = len(json.loads(payload).get("env", {}))
except Exception:
    pass
with open(result, "w") as f:
    f.write(f"{status} {n}\n")
