"""A minimal Lambda Runtime API on loopback, and a function process run under it.

GET  /2018-06-01/runtime/invocation/next      hands out the next queued event (blocks until one is queued)
POST /2018-06-01/runtime/invocation/{id}/response|error   records the result
POST /2018-06-01/runtime/init/error            records an init error

Every time is time.perf_counter(), the clock the proxy records with.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    request_id: str
    event: dict
    sent: float = 0.0  # when the event was written to the function's poll
    done: float = 0.0  # when its response (or error) arrived
    ok: bool = False
    result: object = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that went away (a process stopped mid-request) is not an error of the bench.
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
    allow_reuse_address = True


class RuntimeStub:
    def __init__(self):
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.by_id: dict[str, Invocation] = {}
        self.finished: queue.Queue[Invocation] = queue.Queue()
        self.first_poll: float | None = None
        self.polled = threading.Event()
        self.init_error: object = None
        self.closed = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _reply(self, status: int, body: bytes, headers: dict | None = None):
                # One write, no Nagle: nothing waits for a delayed ACK.
                head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"]
                head += [f"{k}: {v}\r\n" for k, v in (headers or {}).items()]
                head.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                self.wfile.write("".join(head).encode("latin-1") + body)
                self.wfile.flush()

            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    return self._reply(404, b"{}")
                if stub.first_poll is None:
                    stub.first_poll = time.perf_counter()
                    stub.polled.set()
                while not stub.closed.is_set():
                    try:
                        inv = stub.pending.get(timeout=0.2)
                        break
                    except queue.Empty:
                        continue
                else:
                    return
                body = json.dumps(inv.event).encode()
                deadline = int((time.time() + 300) * 1000)
                inv.sent = time.perf_counter()
                self._reply(200, body, {
                    "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:111122223333:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self):
                now = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    stub.init_error = body
                elif len(parts) == 3 and parts[0] == "invocation" and parts[1] in stub.by_id:
                    inv = stub.by_id[parts[1]]
                    inv.done, inv.ok, inv.result = now, parts[2] == "response", body
                    stub.finished.put(inv)
                self._reply(202, b'{"status":"OK"}')

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def queue_event(self, event: dict) -> Invocation:
        inv = Invocation(str(uuid.uuid4()), event)
        self.by_id[inv.request_id] = inv
        self.pending.put(inv)
        return inv

    def close(self):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def vm_hwm_kb(pid: int, field: str = "VmHWM") -> int | None:
    """Peak resident set size of a live process (VmHWM; VmRSS: the current one), in kB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's current RSS every `period` seconds: [(perf_counter, kB)]."""

    def __init__(self, pid: int, period: float = 0.02):
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

        def run():
            while not self.stop.is_set():
                kb = vm_hwm_kb(pid, "VmRSS")
                if kb is not None:
                    self.samples.append((time.perf_counter(), kb))
                self.stop.wait(period)
        self.thread = threading.Thread(target=run, name="rss", daemon=True)
        self.thread.start()

    def close(self) -> list[tuple[float, int]]:
        self.stop.set()
        self.thread.join()
        return self.samples


class FunctionProcess:
    """A function process (a Tourniquet binary, or the Python baseline) under its own stub."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: str, name: str = "bench"):
        self.stub = RuntimeStub()
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_LAMBDA_RUNTIME_API": self.stub.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        }
        full.update(env)
        self.log = open(log_path, "ab")
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=full, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_first_poll(self, timeout: float = 30.0) -> float | None:
        """Seconds from spawn to the first poll of the Runtime API."""
        deadline = time.perf_counter() + timeout
        while not self.stub.polled.wait(0.05) and time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                return None
        return None if self.stub.first_poll is None else self.stub.first_poll - self.spawned

    def invoke(self, event: dict, timeout: float = 300.0, until=None) -> Invocation:
        """Queues `event` and waits for its result (or the timeout, or the process's exit, or
        `until()` turning true: checked four times a second, the invocation is then left running
        and answered `Bench.Stopped`)."""
        inv = self.stub.queue_event(event)
        deadline = time.perf_counter() + timeout
        next_check = time.perf_counter() + 0.25
        while time.perf_counter() < deadline:
            try:
                got = self.stub.finished.get(timeout=0.05)
                if got is inv:
                    return inv
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
            if until is not None and time.perf_counter() >= next_check:
                next_check = time.perf_counter() + 0.25
                if until():
                    inv.result = {"errorType": "Bench.Stopped", "errorMessage": "stopped once contained"}
                    return inv
        inv.result = {"errorType": "Bench.Timeout" if self.proc.poll() is None else "Runtime.ExitError",
                      "errorMessage": f"no answer (exit code {self.proc.poll()})"}
        return inv

    def peak_rss_kb(self) -> int | None:
        return vm_hwm_kb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stub.close()
        self.log.close()
