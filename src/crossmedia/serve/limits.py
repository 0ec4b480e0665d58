"""Request limits of the search service: what a client may ask for, how big an upload may be,
how long a request may take and how many may run or wait at once. Plain data, so the core
(and tests) can import it without the ``serve`` extra."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import ConfigError

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """Per-request limits; every violation is a 4xx JSON error naming the field."""

    max_query_chars: int = 500  #: text query length
    max_k: int = 100  #: results per search
    max_rerank: int = 1000  #: candidates for the fine-grained rerank
    max_upload_bytes: int = 8 * 1024 * 1024  #: request body of an image upload
    max_image_side: int = 4096  #: width and height of an uploaded image, in pixels
    max_image_pixels: int = 16_000_000  #: width × height (decompression-bomb guard)
    max_item_id_chars: int = 200  #: item ids in URLs
    request_timeout_s: float = 30.0  #: waiting + computing; past it the client gets 504
    max_concurrent: int = 4  #: searches computing at once (threads)
    max_queued: int = 512  #: requests waiting for a compute slot; past it the client gets 503
    header_timeout_s: float = 10.0  #: a request's headers must arrive within this (else the connection is closed)
    body_timeout_s: float = 60.0  #: a request's body must arrive within this after its headers
    max_connections: int = 1024  #: open connections per process; past it a new one gets 503 and is closed
    reload_poll_s: float = 1.0  #: how often the index folder is checked for a new version

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"limits.{f.name}: expected a positive number, got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Limits":
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"limits: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        return cls(**d)
