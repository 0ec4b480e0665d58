"""Connection-level protection for the HTTP server (uvicorn's httptools protocol, extended):

* a request's headers must arrive within ``Limits.header_timeout_s`` of the connection opening
  (or of the previous response), else the connection is closed — slow-header and silent
  connections cannot hold a socket forever;
* a request's body must arrive within ``Limits.body_timeout_s`` of its headers, else the
  connection is closed (slow-body uploads);
* at most ``Limits.max_connections`` connections are open at once per process; one past the
  cap is answered ``503`` and closed at once;
* request lines other than HTTP/1.0 and HTTP/1.1 are refused (``505``).

``uvicorn.run(..., http=GuardedHttpTools.with_limits(limits))`` in one process; worker
processes import :class:`GuardedHttpTools` by name and read the limits from the environment.
"""

from __future__ import annotations

import json
import logging
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import Limits

__all__ = ["GuardedHttpTools"]

log = logging.getLogger("crossmedia.serve")
ENV_LIMITS = "CROSSMEDIA_SERVE_LIMITS"


def _plain(status: bytes, reason: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b" " + reason + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


class GuardedHttpTools(HttpToolsProtocol):
    limits: Limits | None = None
    _deadline = None  # the armed timer (an asyncio TimerHandle) or None

    @classmethod
    def with_limits(cls, limits: Limits) -> type["GuardedHttpTools"]:
        return type("GuardedHttpTools", (cls,), {"limits": limits})

    @classmethod
    def _limits(cls) -> Limits:
        if cls.limits is None:
            cls.limits = Limits.from_dict(json.loads(os.environ.get(ENV_LIMITS) or "{}"))
        return cls.limits

    # ------------------------------------------------------------------ timers
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        t = self._deadline
        if t is not None:
            t.cancel()
            self._deadline = None

    def _expired(self, what: str) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            log.info("closing connection from %s: %s", self.client, what)
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_plain(b"408", b"Request Timeout", what.encode()))
            self.transport.close()

    # ------------------------------------------------------------------ protocol
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        lim = self._limits()
        if len(self.connections) > lim.max_connections:
            log.warning("refusing a connection: %d open, the cap is %d", len(self.connections) - 1, lim.max_connections)
            transport.write(_plain(b"503", b"Service Unavailable", b"too many open connections; retry shortly"))
            transport.close()
            return
        self._arm(lim.header_timeout_s, f"request headers not received within {lim.header_timeout_s:g} s")

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            lim = self._limits()
            self._arm(lim.header_timeout_s, f"request headers not received within {lim.header_timeout_s:g} s")

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):
            self._disarm()
            self.cycle = None
            self.transport.write(_plain(b"505", b"HTTP Version Not Supported", b"HTTP/1.0 or HTTP/1.1 only"))
            self.transport.close()
            return
        lim = self._limits()
        self._arm(lim.body_timeout_s, f"request body not received within {lim.body_timeout_s:g} s")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if self.cycle is not None:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            # the next request's headers get the same deadline (uvicorn's keep-alive timer, shorter
            # by default, usually closes an idle connection first)
            lim = self._limits()
            self._arm(lim.header_timeout_s, f"request headers not received within {lim.header_timeout_s:g} s")
