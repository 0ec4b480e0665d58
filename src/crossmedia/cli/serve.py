"""``crossmedia serve INDEX``: the search API and web page (the ``serve`` extra)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..errors import UserError


@click.command("serve")
@click.argument("index_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Server processes (each loads the index; the arrays are memory-mapped and shared by the OS).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="Torch threads per process.")
@click.option("--max-concurrent", default=None, type=click.IntRange(min=1), help="Searches computing at once per process.")
@click.option("--timeout", "timeout_s", default=None, type=click.FloatRange(min=0.1), help="Request deadline in seconds.")
@click.option("--max-upload-mb", default=None, type=click.FloatRange(min=0.01), help="Largest image upload in MiB.")
@click.option("--header-timeout", "header_timeout_s", default=None, type=click.FloatRange(min=0.1, max=3600),
              help="Close a connection whose request headers take longer (seconds; default 10).")
@click.option("--body-timeout", "body_timeout_s", default=None, type=click.FloatRange(min=0.1, max=3600),
              help="Close a connection whose request body takes longer (seconds; default 60).")
@click.option("--max-connections", default=None, type=click.IntRange(1, 1_000_000),
              help="Open connections per process (default 1024); past it: 503.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Host header accepted (repeatable; '*.example.org' for subdomains, '*' for any). Default: no "
                   "check on a loopback address; this machine's names and addresses otherwise.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check of the index files at start.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve_cmd(index_dir, host, port, workers, threads, max_concurrent, timeout_s, max_upload_mb, header_timeout_s,
              body_timeout_s, max_connections, allowed_hosts, no_verify, log_level):
    """Serve INDEX (built with `crossmedia index build`): JSON API under /api, the search page at /,
    the OpenAPI schema at /openapi.json (browsable at /docs). New versions of INDEX (`crossmedia
    index add/remove`) are picked up within a second; SIGHUP or `POST /admin/reload` (from this
    machine) reload at once."""
    try:
        import uvicorn

        from ..serve.app import ENV_HOSTS, ENV_INDEX, ENV_LIMITS, create_app
        from ..serve.connections import GuardedHttpTools
    except ModuleNotFoundError as e:
        raise UserError(f"crossmedia serve needs the 'serve' extra ({e.name} is missing): "
                        "pip install 'crossmedia[serve]'") from None
    from ..search import Index
    from ..serve import Limits

    overrides = {}
    if max_concurrent is not None:
        overrides["max_concurrent"] = max_concurrent
    if timeout_s is not None:
        overrides["request_timeout_s"] = timeout_s
    if max_upload_mb is not None:
        overrides["max_upload_bytes"] = int(max_upload_mb * 1024 * 1024)
    for key, value in (("header_timeout_s", header_timeout_s), ("body_timeout_s", body_timeout_s),
                       ("max_connections", max_connections)):
        if value is not None:
            overrides[key] = value
    limits = Limits.from_dict(overrides)
    hosts = list(allowed_hosts) or (None if _is_loopback(host) else _own_names(host))
    ix = Index.load(index_dir, verify=not no_verify)  # fail here, with one line, on a bad index
    click.echo(f"serving {len(ix)} items ({ix.model_name}, {ix.code_kind} codes) from {ix.path} (version "
               f"{ix.version or '-'}) on http://{host}:{port}/ with {workers} worker(s)", err=True)
    if hosts is not None:
        click.echo(f"accepting Host: {', '.join(hosts)} (--allowed-host to change)", err=True)
    if workers == 1:
        import torch

        torch.set_num_threads(threads)
        uvicorn.run(create_app(ix, limits=limits, allowed_hosts=hosts), host=host, port=port, log_level=log_level,
                    timeout_graceful_shutdown=5, http=GuardedHttpTools.with_limits(limits))
    else:
        os.environ[ENV_INDEX] = str(Path(index_dir).resolve())
        os.environ[ENV_LIMITS] = json.dumps(limits.to_dict())
        os.environ[ENV_HOSTS] = json.dumps(hosts) if hosts is not None else ""
        os.environ["CROSSMEDIA_SERVE_THREADS"] = str(threads)
        uvicorn.run("crossmedia.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, timeout_graceful_shutdown=5,
                    http="crossmedia.serve.connections:GuardedHttpTools")


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _own_names(host: str) -> list[str]:
    """Host names a client on the network may use for this machine: the bound address (unless a
    wildcard), the host name, its FQDN and their addresses, and the loopback names."""
    import socket

    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}
    if host not in ("0.0.0.0", "::", ""):
        names.add(host)
    for n in list(names):
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(n, None))
        except OSError:
            pass
    return sorted(n.lower() for n in names if n)
