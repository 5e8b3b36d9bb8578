"""A loopback HTTP proxy that breaks responses on purpose, for the fault-injection tests.

Between an fsbbt client and a real ``fsbbt teacher serve`` it forwards each request and
then, chosen by a seeded random generator, passes the answer on, drops it (closes the
connection after the server did the work), delays it past the client's timeout,
truncates its body, or sends the request to the server twice. Every fault it injects is
counted, so a test can say how many it survived.
"""

from __future__ import annotations

import random
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import responses

import httpx

FAULTS = ("drop", "delay", "truncate", "duplicate")
# hop-by-hop headers a proxy must not forward (RFC 9110 §7.6.1), and those httpx sets itself
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class FaultPlan:
    """Which fault each request gets: ``rate`` of requests get one, drawn from ``faults``."""

    rate: float
    seed: int = 0
    faults: tuple[str, ...] = FAULTS
    delay_s: float = 1.5
    injected: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def next_fault(self, path: str) -> str | None:
        """The fault for the next request to ``path`` (only predictions are broken)."""
        if not path.startswith("/v1/predict"):
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            fault = self._random.choice(self.faults)
            self.injected[fault] += 1
            return fault


def _read_request(reader) -> tuple[str, str, dict[str, str], bytes] | None:  # type: ignore[no-untyped-def]
    """One HTTP/1.1 request from a buffered socket reader, or None at end of stream."""
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, value = header.decode("latin-1").split(":", 1)
        headers[name.strip()] = value.strip()
    length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
    return method, path, headers, reader.read(length) if length else b""


def _response_bytes(response: httpx.Response) -> tuple[bytes, bytes]:
    """Status line with headers, and the body, of an upstream answer."""
    head = [f"HTTP/1.1 {response.status_code} {responses.get(response.status_code, '')}"]
    head += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in _NOT_FORWARDED]
    head.append(f"Content-Length: {len(response.content)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"), response.content


class _Handler(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        upstream = httpx.Client(base_url=self.server.upstream, timeout=60)
        try:
            while (request := _read_request(self.rfile)) is not None:
                method, path, headers, body = request
                forwarded = {k: v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}
                fault = self.server.plan.next_fault(path)
                answer = upstream.request(method, path, content=body, headers=forwarded)
                if fault == "duplicate":  # the network delivered the request twice
                    answer = upstream.request(method, path, content=body, headers=forwarded)
                head, content = _response_bytes(answer)
                if fault == "drop":
                    return  # the server did the work; the client never hears of it
                if fault == "delay":
                    time.sleep(self.server.plan.delay_s)
                if fault == "truncate":
                    self.wfile.write(head + content[: len(content) // 2])
                    return
                self.wfile.write(head + content)
                self.wfile.flush()
        except (ConnectionError, OSError):
            return  # the client gave up on this connection (its timeout): nothing to answer
        finally:
            upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.plan = plan


@contextmanager
def faulty_proxy(upstream: str, plan: FaultPlan) -> Iterator[str]:
    """A proxy to ``upstream`` injecting ``plan``'s faults, as its base URL, while in use."""
    proxy = _ProxyServer(upstream, plan)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = proxy.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        proxy.shutdown()
        proxy.server_close()


def wait_for_port(host: str, port: int, timeout_s: float = 30) -> None:
    """Block until something listens on ``host:port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port}")
