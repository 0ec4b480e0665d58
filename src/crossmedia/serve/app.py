"""The search service: a FastAPI app over one read-only :class:`crossmedia.search.Index`.

Endpoints (all errors are JSON ``{"error": {"code", "message", "status"}}`` with a 4xx code for
client mistakes, 503/504 for overload/timeout):

    POST /api/search/text            {query, k, rerank} → image hits
    POST /api/search/image           multipart ``file`` (+ form k, rerank) → text hits
    GET  /api/items/{id}             text, labels, thumbnail URL
    GET  /api/items/{id}/thumbnail   PNG thumbnail of the item's image
    GET  /api/explain?query=&item=   per-word attention heatmap PNG (``format=json``: the numbers)
    GET  /healthz                    liveness + index summary (version) + limits
    POST /admin/reload               open the index's live version now (loopback clients only)
    GET  /openapi.json, /docs        the schema
    GET  /                           the web page (``static/``)

Searches run on a bounded thread pool (``Limits.max_concurrent``) with a bounded queue
(``max_queued``, else 503) and a deadline (``request_timeout_s``, else 504); the index is
shared read-only by all threads (its model and engines are built once, under its lock, at start).
Request bodies are capped while they stream in (413), uploads are validated by decoding.

The index folder is watched: when a new version goes live (``crossmedia index add/remove/build
--overwrite``) it is opened and warmed in the background while the old one keeps answering,
then swapped in (also on ``POST /admin/reload`` and on SIGHUP). HEAD is answered for every GET
route; with an allow-list, requests naming another ``Host`` get 400. Read timeouts and the
connection cap live in :mod:`crossmedia.serve.connections`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import UserError
from ..search import Index
from .heatmap import render_heatmap
from .images import ImageRejected, decode_upload
from .limits import Limits

__all__ = ["create_app", "ApiError", "STATIC_DIR"]

log = logging.getLogger("crossmedia.serve")
STATIC_DIR = Path(__file__).with_name("static")
THUMB_SIDE = 256
_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class ApiError(Exception):
    """An error answered as structured JSON with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error(status: int, code: str, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "status": status, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


# ---------------------------------------------------------------------------- request/response models
class TextQuery(BaseModel):
    query: str = Field(..., min_length=1, description="Words to search the images for.")
    k: int = Field(10, ge=1, description="Number of results.")
    rerank: int = Field(0, ge=0, description="Rerank this many first-stage candidates with the fine-grained score (0: off).")


class HitOut(BaseModel):
    id: str
    score: float
    rank: int
    modality: str
    text: str | None = Field(None, description="The text the index matched (the model's text field, see text_field).")
    text_field: str | None = Field(None, description="Which item field `text` is: tags, caption, tokens (or features).")
    caption: str | None = Field(None, description="The item's caption as context, when the matched field is another one.")
    labels: list[str] = []
    thumbnail: str | None = None


class SearchOut(BaseModel):
    query: str | None = None
    modality: str
    k: int
    rerank: int
    score_kind: str | None = Field(None, description="What the hits' scores are (higher = closer); changes with rerank.")
    took_ms: float
    hits: list[HitOut]


class ItemOut(BaseModel):
    id: str
    text: str | None = None
    text_field: str | None = None
    caption: str | None = None
    labels: list[str] = []
    thumbnail: str | None = None


class ExplainOut(BaseModel):
    query: str
    item: str
    words: list[str]
    grid: int | None
    attention: list[list[float]]


# ---------------------------------------------------------------------------- body size cap (pure ASGI)
class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Reject request bodies over ``max_bytes``: at once from ``Content-Length``, else while the
    body streams in (chunked uploads), before anything parses it."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        msg = f"request body over the limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    return await _error(400, "bad_request", "malformed Content-Length")(scope, receive, send)
                if too_big:
                    return await _error(413, "too_large", msg)(scope, receive, send)
        seen = 0
        state = {"started": False, "exceeded": False, "replaced": False}

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    state["exceeded"] = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message):
            # once the cap is hit, whatever the app answers (a parser may turn our exception into
            # a 400) is replaced by the 413
            if state["exceeded"]:
                if message["type"] == "http.response.start" and not state["replaced"]:
                    state["replaced"] = True
                    state["started"] = True
                    await _error(413, "too_large", msg)(scope, receive, send)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyTooLarge:
            if not state["started"]:
                await _error(413, "too_large", msg)(scope, receive, send)


class HeadAsGet:
    """HEAD answered for every GET route: the GET response's status and headers, no body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class HostCheck:
    """Answer 400 to requests whose ``Host`` header is not in the allow-list (DNS rebinding and
    host-header attacks, when the service listens on a non-loopback address)."""

    def __init__(self, app, allowed: list[str]):
        self.app = app
        self.exact = {h.lower().strip() for h in allowed if not h.startswith("*.")}
        self.suffixes = tuple(h.lower().strip()[1:] for h in allowed if h.startswith("*."))
        self.any = "*" in self.exact

    def ok(self, host: str) -> bool:
        host = host.strip().lower()
        if host.startswith("["):  # [::1]:8000
            host = host[1 : host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.split(":")[0]
        return self.any or host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
        if not host or not self.ok(host):
            return await _error(400, "invalid_host", "Host header not accepted by this server")(scope, receive, send)
        await self.app(scope, receive, send)


class SecurityHeaders:
    """nosniff, no referrer, and a same-origin Content-Security-Policy (not on the /docs pages,
    which load their assets from a CDN). Pure ASGI: cheaper per request than an
    ``@app.middleware("http")`` function."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = not scope.get("path", "").startswith(("/docs", "/redoc"))

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if csp:
                    extra.append((b"content-security-policy", _CSP.encode()))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------- the app
class _Service:
    """The shared state: index (swapped whole on reload), limits, compute pool, thumbnail cache."""

    def __init__(self, index, limits: Limits, warm: bool = True, verify: bool = True, batching=None):
        self.ix, self.limits, self.warm, self.verify = index, limits, warm, verify
        self.batching = batching
        self.batchers = self._batch(index)
        self.pool = ThreadPoolExecutor(limits.max_concurrent, thread_name_prefix="crossmedia-search")
        self.inflight = 0
        self.reloads = 0
        self._failed_version: str | None = None
        self._reload_lock = threading.Lock()
        self._thumbs: OrderedDict[str, bytes] = OrderedDict()
        self._thumb_lock = threading.Lock()

    @property
    def fine(self) -> bool:
        ix = self.ix
        return bool(ix.manifest["model"].get("fine_grained")) and "regions" in ix.arrays

    def _batch(self, ix) -> list:
        """Micro-batch the default engines of ``ix`` (with :attr:`batching`); the batchers."""
        if self.batching is None:
            return []
        from .batching import BatchingEngine

        out = []
        for mod in ("image", "text"):
            out.append(BatchingEngine(ix.engine(mod), self.batching))
            ix.set_engine(mod, out[-1])
        return out

    def reload(self, force: bool = False) -> bool:
        """Open the index folder's live version if it differs from the one served (``force``:
        even if not); the old one answers until the new one is open and warm. True when swapped."""
        from ..search import Index, store

        with self._reload_lock:
            live = store.current_version(self.ix.path)
            if not force and (live is None or live == self.ix.version or live == self._failed_version):
                return False
            try:
                new = Index.load(self.ix.path, verify=self.verify, device=self.ix.device)
                new_batchers = self._batch(new)
                if self.warm:
                    _warm(new)
            except Exception as e:  # noqa: BLE001 - keep serving the old version, say why
                self._failed_version = live
                log.error("index %s: version %s not loaded, still serving %s: %s", self.ix.path, live,
                          self.ix.version, e)
                if force:
                    raise
                return False
            old, self.ix = self.ix, new
            old_batchers, self.batchers = self.batchers, new_batchers
            if old_batchers:  # requests still holding the old version finish within their deadline
                t = threading.Timer(self.limits.request_timeout_s, lambda: [b.close() for b in old_batchers])
                t.daemon = True
                t.start()
            self.reloads += 1
            with self._thumb_lock:
                self._thumbs.clear()
            log.info("index %s: now serving version %s (%d items; was %s, %d items)", new.path, new.version, len(new),
                     old.version, len(old))
            return True

    def maybe_reload(self) -> bool:
        """Reload when the live version changed (cheap when it did not: one small file read)."""
        from ..search import store

        live = store.current_version(self.ix.path)
        if live is None or live == self.ix.version or live == self._failed_version:
            return False
        return self.reload()

    async def run(self, fn, *args):
        """``fn(*args)`` on the compute pool, bounded queue, with the request deadline."""
        lim = self.limits
        if self.inflight >= lim.max_concurrent + lim.max_queued:
            raise ApiError(503, "overloaded", f"server busy ({self.inflight} requests in flight); retry shortly",
                           headers={"Retry-After": "1"})
        self.inflight += 1
        fut = self.pool.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), lim.request_timeout_s)
        except asyncio.TimeoutError:
            fut.cancel()  # drops it if it has not started; a running search finishes in the background
            raise ApiError(504, "timeout", f"request took longer than {lim.request_timeout_s:g} s") from None
        finally:
            self.inflight -= 1

    def hit_out(self, h, ix=None) -> dict:
        it = (ix or self.ix).item(h.id)
        return {"id": h.id, "score": h.score, "rank": h.rank, "modality": h.modality, "text": it.get("text"),
                "text_field": it.get("text_field"), "caption": it.get("caption"),
                "labels": list(it.get("labels") or []), "thumbnail": self.thumb_url(it)}

    @staticmethod
    def thumb_url(it: dict) -> str | None:
        return f"/api/items/{quote(str(it['id']), safe='')}/thumbnail" if it.get("image") else None

    def item(self, item_id: str, ix=None) -> dict:
        try:
            return (ix or self.ix).item(item_id)
        except UserError:
            raise ApiError(404, "not_found", f"no item with id {item_id!r}") from None

    def open_image(self, it: dict):
        from PIL import Image

        path = it.get("image")
        if not path:
            raise ApiError(404, "no_image", f"item {it['id']!r} has no image (the index stores features only)")
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (OSError, ValueError):
            log.warning("item %s: image %s unreadable", it["id"], path)
            raise ApiError(404, "no_image", f"the image of item {it['id']!r} is not available on this server") from None

    def thumbnail(self, it: dict) -> bytes:
        key = str(it["id"])
        with self._thumb_lock:
            if key in self._thumbs:
                self._thumbs.move_to_end(key)
                return self._thumbs[key]
        im = self.open_image(it)
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        data = buf.getvalue()
        with self._thumb_lock:
            self._thumbs[key] = data
            while len(self._thumbs) > 4096:
                self._thumbs.popitem(last=False)
        return data


def _warm(ix) -> None:
    ix.model
    for mod in ("image", "text"):
        ix.engine(mod)


def create_app(index, *, limits: Limits | None = None, warm: bool = True, verify: bool = True,
               allowed_hosts: list[str] | None = None, watch: bool = True, device: str = "cpu",
               batching=None) -> FastAPI:
    """The FastAPI app serving ``index`` (an index folder, or an opened
    :class:`~crossmedia.search.Index`). ``warm`` builds the model and both default engines now
    instead of on the first request. ``allowed_hosts``: the ``Host`` names accepted (None: any;
    ``*.example.org`` matches subdomains). ``watch``: follow new versions of the index folder.
    ``device``: where a folder's default engines scan (an opened index keeps its own; reloaded
    versions open on the same). ``batching`` (a :class:`~crossmedia.serve.batching.BatchConfig`):
    concurrent searches of the default engines are micro-batched (bounded wait)."""
    import os

    limits = limits or Limits()
    ix = Index.load(index, verify=verify, device=device) if isinstance(index, (str, os.PathLike)) else index
    svc = _Service(ix, limits, warm=warm, verify=verify, batching=batching)
    if warm:
        _warm(ix)

    @asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        task = loop.create_task(_watch(svc)) if watch else None
        sighup = False
        try:
            import signal

            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, _reload_logged, svc))
            sighup = True
        except (ValueError, RuntimeError, NotImplementedError, AttributeError):
            pass  # not the main thread (test clients) or no SIGHUP on this platform
        yield
        if task is not None:
            task.cancel()
        if sighup:
            loop.remove_signal_handler(signal.SIGHUP)
        svc.pool.shutdown(wait=False, cancel_futures=True)
        for b in svc.batchers:
            b.close()

    app = FastAPI(title="crossmedia search", version="1", lifespan=lifespan,
                  description="Cross-media (image ⇄ text) search over learned compact codes.")
    app.state.service = svc

    # -------------------------------------------------------------- errors → structured JSON
    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(ImageRejected)
    async def _image_error(request, exc: ImageRejected):
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(UserError)
    async def _user_error(request, exc: UserError):
        return _error(400, "bad_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = list(first.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "form", "header"):
            loc = loc[1:]  # where it came from; the rest names the field
        field = ".".join(str(p) for p in loc)
        msg = f"{field or 'request'}: {first.get('msg', 'invalid')}"
        return _error(422, "invalid_request", msg, field=field or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal", "internal server error")

    # -------------------------------------------------------------- checks shared by endpoints
    def check_query(q: str) -> str:
        if len(q) > limits.max_query_chars:
            raise ApiError(422, "invalid_request", f"query: {len(q)} characters, the limit is {limits.max_query_chars}")
        if not q.strip():
            raise ApiError(422, "invalid_request", "query: empty; give some words to search for")
        return q

    def check_k(k: int, rerank: int) -> None:
        if k > limits.max_k:
            raise ApiError(422, "invalid_request", f"k: {k}, the limit is {limits.max_k}")
        if rerank > limits.max_rerank:
            raise ApiError(422, "invalid_request", f"rerank: {rerank}, the limit is {limits.max_rerank}")
        if rerank and not svc.fine:
            raise ApiError(400, "bad_request", f"rerank: the index's model ({svc.ix.model_name}) has no fine-grained score")

    def check_id(item_id: str) -> str:
        if len(item_id) > limits.max_item_id_chars:
            raise ApiError(422, "invalid_request", f"item: id longer than {limits.max_item_id_chars} characters")
        return item_id

    # -------------------------------------------------------------- API
    @app.get("/healthz", tags=["service"])
    async def healthz():
        """Liveness and a summary of what is served (``version``: the index version, which
        changes when a new one is swapped in)."""
        ix = svc.ix
        return {"status": "ok", "version": ix.version, "items": len(ix), "model": ix.model_name,
                "code_kind": ix.code_kind, "rerank": svc.fine, "explain": svc.fine, "inflight": svc.inflight,
                "reloads": svc.reloads, "limits": limits.to_dict(),
                "device": ix.device, "batches": [list(b.stats) for b in svc.batchers] or None}

    @app.post("/admin/reload", tags=["service"])
    async def admin_reload(request: Request):
        """Open the index folder's live version now and serve it (loopback clients only)."""
        client = request.client.host if request.client else ""
        if not _is_loopback(client):
            raise ApiError(403, "forbidden", "reload is only accepted from the server's own machine")
        try:
            swapped = await asyncio.get_running_loop().run_in_executor(None, svc.reload, True)
        except UserError as e:
            raise ApiError(409, "reload_failed", f"the index's live version could not be opened: {e}") from None
        return {"reloaded": swapped, "version": svc.ix.version, "items": len(svc.ix)}

    @app.post("/api/search/text", response_model=SearchOut, tags=["search"])
    async def search_text(body: TextQuery):
        """Images for a text query, best first."""
        check_query(body.query)
        check_k(body.k, body.rerank)
        t0 = time.perf_counter()

        def work():
            ix = svc.ix  # one version for the whole request
            return [svc.hit_out(h, ix) for h in ix.search_text(body.query, k=body.k, rerank=body.rerank)]

        hits = await svc.run(work)
        return {"query": body.query, "modality": "image", "k": body.k, "rerank": body.rerank,
                "score_kind": ix.score_kind(body.rerank), "took_ms": round(1000 * (time.perf_counter() - t0), 3), "hits": hits}

    @app.post("/api/search/image", response_model=SearchOut, tags=["search"])
    async def search_image(file: UploadFile = File(..., description="An image file (PNG, JPEG, GIF, WebP, BMP)."),
                           k: int = Form(10, ge=1), rerank: int = Form(0, ge=0)):
        """Texts for an uploaded image, best first."""
        check_k(k, rerank)
        data = await file.read(limits.max_upload_bytes + 1)
        t0 = time.perf_counter()

        def work():
            image = decode_upload(data, limits, name=f"file {file.filename!r}" if file.filename else "file")
            ix = svc.ix
            return [svc.hit_out(h, ix) for h in ix.search_image(image, k=k, rerank=rerank)]

        hits = await svc.run(work)
        return {"query": None, "modality": "text", "k": k, "rerank": rerank,
                "score_kind": ix.score_kind(rerank), "took_ms": round(1000 * (time.perf_counter() - t0), 3), "hits": hits}

    @app.get("/api/items/{item_id}", response_model=ItemOut, tags=["items"])
    async def get_item(item_id: str = PathParam(..., max_length=1000)):
        """An item's text, labels and thumbnail URL (null when the index stores no image)."""
        it = svc.item(check_id(item_id))
        return {"id": it["id"], "text": it.get("text"), "text_field": it.get("text_field"), "caption": it.get("caption"),
                "labels": list(it.get("labels") or []), "thumbnail": svc.thumb_url(it)}

    @app.get("/api/items/{item_id}/thumbnail", tags=["items"], response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    async def get_thumbnail(item_id: str = PathParam(..., max_length=1000)):
        """A PNG thumbnail (at most 256 px a side) of the item's image."""
        it = svc.item(check_id(item_id))
        data = await svc.run(svc.thumbnail, it)
        return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/api/explain", tags=["search"], response_class=Response,
             responses={200: {"content": {"image/png": {}, "application/json": {}}}})
    async def explain(query: str = Query(..., min_length=1), item: str = Query(..., min_length=1),
                      format: str = Query("png", pattern="^(png|json)$")):
        """Where each word of a text query attends in a result image: PNG panels (the image, then
        one heatmap per known query word), or with ``format=json`` the attention numbers."""
        check_query(query)
        ix = svc.ix
        it = svc.item(check_id(item), ix)
        if not svc.fine:
            raise ApiError(400, "bad_request", f"explain: the index's model ({ix.model_name}) has no word-region attention")

        def work():
            words, attn, g = ix.explain(query, it["id"])
            if format == "json":
                return {"query": query, "item": it["id"], "words": words, "grid": g,
                        "attention": [[round(float(v), 6) for v in row] for row in attn]}
            try:
                image = svc.open_image(it)
            except ApiError:
                image = None
            return render_heatmap(words, attn, g, image)

        out = await svc.run(work)
        if format == "json":
            return JSONResponse(ExplainOut(**out).model_dump())
        return Response(out, media_type="image/png")

    # -------------------------------------------------------------- the page
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # caps every request body (the upload plus multipart overhead) before anything parses it
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes + 64 * 1024)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    return app


async def _watch(svc: _Service) -> None:
    """Poll the index folder's pointer; open a new live version in a worker thread."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(svc.limits.reload_poll_s)
        try:
            await loop.run_in_executor(None, svc.maybe_reload)
        except Exception:  # noqa: BLE001 - the watcher must survive anything
            log.exception("index watcher")


def _reload_logged(svc: _Service) -> None:
    try:
        svc.reload(force=True)
    except Exception as e:  # noqa: BLE001
        log.error("reload on SIGHUP failed, still serving version %s: %s", svc.ix.version, e)


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")  # starlette's TestClient names itself "testclient"


#: environment variables through which ``crossmedia serve --workers N`` hands its settings to
#: the worker processes (uvicorn imports the app factory by name in each of them)
ENV_INDEX, ENV_LIMITS, ENV_HOSTS = "CROSSMEDIA_SERVE_INDEX", "CROSSMEDIA_SERVE_LIMITS", "CROSSMEDIA_SERVE_HOSTS"
ENV_DEVICE, ENV_BATCH = "CROSSMEDIA_SERVE_DEVICE", "CROSSMEDIA_SERVE_BATCH"


def app_from_env() -> FastAPI:
    """App factory for uvicorn's multi-process mode: index and limits from the environment."""
    import json
    import os

    path = os.environ.get(ENV_INDEX)
    if not path:
        raise RuntimeError(f"{ENV_INDEX} is not set")
    threads = os.environ.get("CROSSMEDIA_SERVE_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    hosts = os.environ.get(ENV_HOSTS)
    batch = json.loads(os.environ.get(ENV_BATCH) or "null")
    from .batching import BatchConfig

    return create_app(path, limits=Limits.from_dict(json.loads(os.environ.get(ENV_LIMITS) or "{}")),
                      allowed_hosts=json.loads(hosts) if hosts else None, device=os.environ.get(ENV_DEVICE) or "cpu",
                      batching=None if batch is None else BatchConfig(**batch))
