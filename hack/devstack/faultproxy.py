"""A small HTTP proxy in front of moto that answers a share of AWS calls with faults.

For the reliability tests' throttling storm: a chosen fraction of requests gets a
ThrottlingException in the service's own protocol, and another fraction an HTML 500 page as a
broken proxy or emulator would send; the rest is forwarded to moto unchanged. It counts what
it saw. Bound to 127.0.0.1 on a port chosen at run time; stopped with the test.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from devstack.processes import free_port

HTML_500 = b"<html><body><h1>500 Internal Server Error</h1></body></html>"


@dataclass
class FaultCounts:
    forwarded: int = 0
    throttled: int = 0
    html_500: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return self.forwarded + self.throttled + self.html_500


class FaultProxy:
    def __init__(self, upstream: str, throttle: float, html_500: float, seed: int = 7) -> None:
        self.upstream = urlsplit(upstream)
        self.throttle = throttle
        self.html_500 = html_500
        self.counts = FaultCounts()
        self._random = random.Random(seed)
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _roll(self) -> str:
        with self.counts.lock:
            draw = self._random.random()
            if draw < self.throttle:
                self.counts.throttled += 1
                return "throttle"
            if draw < self.throttle + self.html_500:
                self.counts.html_500 += 1
                return "html"
            self.counts.forwarded += 1
            return "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:  # quiet: tests read counts instead
                return

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def do_HEAD(self) -> None:
                self._serve()

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                verdict = proxy._roll()
                if verdict == "throttle":
                    self._throttle()
                elif verdict == "html":
                    self._reply(500, "text/html", HTML_500)
                else:
                    self._forward(body)

            def _throttle(self) -> None:
                # JSON protocols (ECR, ECS, SSM) name the service in X-Amz-Target; the query
                # protocol (CloudFormation, IAM, STS) and S3's REST-XML want XML.
                if self.headers.get("X-Amz-Target"):
                    payload = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                    self._reply(400, "application/x-amz-json-1.1", json.dumps(payload).encode())
                    return
                xml = (
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    "<Message>Rate exceeded</Message></Error></ErrorResponse>"
                )
                self._reply(400, "text/xml", xml.encode())

            def _reply(self, status: int, content_type: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream.netloc
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

        return Handler
