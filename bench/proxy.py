"""A loopback proxy in front of moto: adds latency to every request, throttles IAM and STS above a
request rate as IAM does (a token bucket per service, or per service and account, `Throttling`/`Rate
exceeded`), and records every request (start, end, action, status, the account whose credentials
signed it) so that the number of sequential waves a run takes and how many requests were in flight
at once are measured from what went over the wire.

Standard library only. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import heapq
import http.client
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

THROTTLED_BODY = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
)

# IAM actions moto 5.2.5 does not implement (it answers HTTP 500). Real IAM answers them; for a
# user with none of these credentials, with an empty list. The proxy gives that answer itself while
# `fill_gaps` is on, so that the SDKs' retries of an emulator gap do not count as a responder's time.
GAPS = {
    "ListServiceSpecificCredentials": (
        b'<ListServiceSpecificCredentialsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        b"<ListServiceSpecificCredentialsResult><ServiceSpecificCredentials/></ListServiceSpecificCredentialsResult>"
        b"<ResponseMetadata><RequestId>bench-gap</RequestId></ResponseMetadata></ListServiceSpecificCredentialsResponse>"
    ),
}

# The form fields kept from an IAM/STS request, to tell which principal and which policy a call is about.
KEPT_FIELDS = ("UserName", "RoleName", "PolicyName", "PolicyArn", "AccessKeyId", "Status", "GroupName", "RoleArn")

_KEY = re.compile(r"Credential=([A-Z0-9]+)/")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ISSUED_KEY = re.compile(rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>")
# Headers that belong to one hop, not forwarded either way.
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
        "upgrade", "expect", "content-length"}


@dataclass
class Record:
    """One request as the proxy saw it."""

    start: float  # time.perf_counter() when the request had arrived, before the added latency
    end: float  # when the response had been written back
    service: str  # iam, sts, s3, ...
    action: str  # IAM/STS `Action`, or "S3 METHOD /path"
    status: int
    throttled: bool
    fields: dict = field(default_factory=dict)
    filled: bool = False  # answered by the proxy for an action the emulator lacks (GAPS)
    size: int = 0  # request body bytes
    account: str = ""  # the account of the credentials that signed it ("" when the proxy cannot tell)


class TokenBucket:
    """`rate` tokens a second, at most `burst` banked; one token per request."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.perf_counter()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.perf_counter()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that went away (a process stopped mid-request) is not an error of the bench.
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
    # Tourniquet opens dozens of connections at once; the default backlog (5) would drop SYNs and
    # add the kernel's 1 s retransmission to some requests.
    request_queue_size = 1024
    allow_reuse_address = True


class LatencyProxy:
    """The proxy. `start()` serves on a free loopback port in background threads."""

    def __init__(self, upstream_port: int, latency_ms: float = 60.0, accounts: dict[str, str] | None = None):
        self.upstream_port = upstream_port
        # The account of a long-term access key, told to moto (`x-moto-account-id`), which serves
        # several accounts: other keys (a member role's session) are moto's to place.
        self.accounts = accounts or {}
        self.latency = latency_ms / 1000.0
        self.records: list[Record] = []
        self.lock = threading.Lock()
        # Session keys moto issued through AssumeRole, and the account of the role each was for.
        self.sessions: dict[str, str] = {}
        # Whether a session key's requests tell moto their account too (`x-moto-account-id`), as the
        # long-term key's do. Without it moto finds the account by scanning every account's IAM
        # backend in every partition for the key, creating the partitions' backends (each loading
        # AWS's managed policies) as it goes: seconds per account on its first request, an emulator
        # cost that grows with the accounts and that AWS does not have.
        self.tell_session_accounts = False
        # Throttling: (rate, burst) for IAM and STS, or None; one bucket per service, or per service
        # and account (`per_account`), made on first use.
        self.bucket_spec: tuple[float, float] | None = None
        self.per_account = False
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.server: _Server | None = None
        self.fill_gaps = True
        # IAM's answer to a state moto does not enforce (a quota): (action, {field: value}, error
        # code, message); a request of that action whose fields match gets HTTP 409 with that error.
        self.limits: list[tuple[str, dict, str, str]] = []

    # --- configuration -------------------------------------------------------------------------
    def throttle(self, rate: float | None, burst: float | None = None, per_account: bool = False) -> None:
        """Throttle IAM and STS (each its own bucket) above `rate` requests a second; None: never.
        `per_account`: a bucket per service and per account (the account of the credentials that
        sign the request), as IAM's and STS's rates are; otherwise one bucket per service for every
        account at once."""
        with self.lock:
            self.buckets = {}
            self.bucket_spec = (rate, burst or rate) if rate else None
            self.per_account = per_account

    def bucket_for(self, service: str, account: str) -> TokenBucket | None:
        spec = self.bucket_spec
        if spec is None or service not in ("iam", "sts"):
            return None
        key = (service, account if self.per_account else "")
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(*spec)
            return bucket

    def account_of(self, headers) -> str:
        """The account of the access key that signed a request: a long-term key's from `accounts`,
        a session key's from the AssumeRole that issued it through this proxy."""
        key = _KEY.search(headers.get("Authorization", "") or "")
        if not key:
            return ""
        return self.accounts.get(key.group(1)) or self.sessions.get(key.group(1), "")

    def learn_session(self, fields: dict, payload: bytes) -> None:
        """After a successful AssumeRole: its new key belongs to the role's account."""
        issued = _ISSUED_KEY.search(payload)
        parts = fields.get("RoleArn", "").split(":")
        if issued and len(parts) > 4 and parts[4]:
            with self.lock:
                self.sessions[issued.group(1).decode()] = parts[4]

    def limit_for(self, service: str, action: str, fields: dict) -> bytes | None:
        """The error body IAM would answer for this request under `limits`, or None."""
        for name, match, code, message in self.limits if service == "iam" else ():
            if name == action and all(fields.get(k) == v for k, v in match.items()):
                return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
                        f"</Message></Error><RequestId>bench-limit</RequestId></ErrorResponse>").encode()
        return None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "LatencyProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                # No Nagle: with it, a response written in two segments waits for the client's
                # delayed ACK (40 ms on Linux), which would be counted against the responder.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self):
                start = time.perf_counter()
                body = self._body()
                service, action, fields = classify(self.command, self.path, self.headers, body)
                account = proxy.account_of(self.headers)
                bucket = proxy.bucket_for(service, account)
                throttled = bucket is not None and not bucket.take()
                time.sleep(proxy.latency)
                filled = False
                if throttled:
                    status, headers, payload = 400, [("Content-Type", "text/xml")], THROTTLED_BODY
                elif (limit := proxy.limit_for(service, action, fields)) is not None:
                    status, headers, payload = 409, [("Content-Type", "text/xml")], limit
                elif proxy.fill_gaps and service == "iam" and action in GAPS:
                    status, headers, payload = 200, [("Content-Type", "text/xml")], GAPS[action]
                    filled = True
                else:
                    status, headers, payload = self._upstream(body)
                    if service == "sts" and action == "AssumeRole" and status == 200:
                        proxy.learn_session(fields, payload)
                # The whole response in one write (see setup()).
                head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"]
                head += [f"{n}: {v}\r\n" for n, v in headers if n.lower() not in _HOP]
                head.append(f"Content-Length: {len(payload)}\r\n\r\n")
                data = "".join(head).encode("latin-1")
                self.wfile.write(data + (payload if self.command != "HEAD" else b""))
                self.wfile.flush()
                end = time.perf_counter()
                with proxy.lock:
                    proxy.records.append(Record(start, end, service, action, status, throttled, fields, filled,
                                                len(body), account))

            def _upstream(self, body: bytes):
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                key = _KEY.search(self.headers.get("Authorization", "") or "")
                if key and key.group(1) in proxy.accounts:
                    headers["x-moto-account-id"] = proxy.accounts[key.group(1)]
                elif key and proxy.tell_session_accounts and key.group(1) in proxy.sessions:
                    headers["x-moto-account-id"] = proxy.sessions[key.group(1)]
                for attempt in range(2):
                    conn = getattr(self, "_conn", None)
                    if conn is None:
                        conn = self._conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        response = conn.getresponse()
                        payload = response.read()
                        if response.will_close:
                            conn.close()
                            self._conn = None
                        return response.status, response.getheaders(), payload
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        self._conn = None
                        if attempt:
                            raise
                raise AssertionError("unreachable")

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name="proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # --- records ---------------------------------------------------------------------------------
    def mark(self) -> int:
        """The index of the next record: records from here on belong to the run about to start."""
        with self.lock:
            return len(self.records)

    def since(self, mark: int) -> list[Record]:
        with self.lock:
            return list(self.records[mark:])


def classify(method: str, path: str, headers, body: bytes) -> tuple[str, str, dict]:
    """(service, action, kept fields) of a request."""
    scope = _SCOPE.search(headers.get("Authorization", "") or "")
    service = scope.group(1) if scope else ""
    content_type = headers.get("Content-Type", "") or ""
    target = headers.get("X-Amz-Target", "") or ""
    if target:
        # The JSON protocols (SQS's, among others): the action is the target's operation.
        return service or "?", target.rsplit(".", 1)[-1], {}
    if method == "POST" and (service in ("iam", "sts") or "x-www-form-urlencoded" in content_type):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = form.get("Action", ["?"])[0]
        fields = {k: form[k][0] for k in KEPT_FIELDS if k in form}
        return service or "iam", action, fields
    route = urllib.parse.urlsplit(path).path
    return service or "s3", f"S3 {method} {route}", {}


# --- what the records show -------------------------------------------------------------------------

def depths(records: list[Record]) -> list[int]:
    """For each record, the length of the longest chain of requests ending with it, where each
    request of the chain started after the previous one had ended (its wave, counted from 1)."""
    order = sorted(range(len(records)), key=lambda i: records[i].start)
    ended: list[tuple[float, int]] = []  # heap of (end, depth) of requests not yet known finished
    best = 0  # deepest chain among requests that ended before the current start
    out = [0] * len(records)
    for i in order:
        r = records[i]
        while ended and ended[0][0] <= r.start:
            best = max(best, heapq.heappop(ended)[1])
        out[i] = best + 1
        heapq.heappush(ended, (r.end, out[i]))
    return out


def waves(records: list[Record]) -> int:
    """The critical path: the longest chain of requests each started after the previous ended."""
    return max(depths(records), default=0)


def max_in_flight(records: list[Record]) -> int:
    events = sorted([(r.start, 1) for r in records] + [(r.end, -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, delta in events:
        now += delta
        peak = max(peak, now)
    return peak
