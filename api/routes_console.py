"""The web console: its static files under ``/console/``, public, with a strict CSP.

The console is plain ES modules, HTML and CSS from `api/console/`, read into memory
when the routes are set up (a small, fixed set: only those files are served, so no
path from a request ever reaches the filesystem). It logs in with ``POST
/auth/login`` and sends the bearer token on every API call itself; its own files
need no token, or the login page could not load. `setup_console` therefore puts a
middleware in front of the others that answers the console's routes directly and
leaves every other request to the usual chain (authentication included).

Every file goes out with a Content-Security-Policy that allows only the console's
own scripts, styles and connections (no inline script or style, no framing), with
``nosniff``, no referrer, and an ETag so a browser revalidates instead of fetching
again. The routes are named ``console.*``; they are not API operations and are not
in `api/openapi.yaml`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

logger = logging.getLogger(__name__)

PREFIX = "/console"
ROOT = Path(__file__).with_name("console")
CSP = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "media-src 'self' blob:", "connect-src 'self'", "worker-src 'self'",
    "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
))
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
}
HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def load_files(root: Path = ROOT) -> dict[str, StaticFile]:
    """Every servable file under `root` by its path relative to it (``app.js``,
    ``i18n/zh.js``); dotfiles and unknown types are left out."""
    found: dict[str, StaticFile] = {}
    for path in sorted(root.rglob("*")):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        kind = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or kind is None or any(p.startswith(".") for p in relative.parts):
            continue
        body = path.read_bytes()
        found[str(relative)] = StaticFile(body, kind, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return found


class Console:
    """The console's handlers over its files."""

    def __init__(self, files: Mapping[str, StaticFile]) -> None:
        if "index.html" not in files:
            raise ValueError("the console has no index.html")
        self.files = dict(files)
        self.handlers = frozenset({self.redirect, self.index, self.file})

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(f"{PREFIX}/")

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._send(request, self.files["index.html"])

    async def file(self, request: web.Request) -> web.StreamResponse:
        found = self.files.get(request.match_info["path"])
        if found is None:
            raise web.HTTPNotFound(headers=HEADERS)
        return self._send(request, found)

    @staticmethod
    def _send(request: web.Request, found: StaticFile) -> web.Response:
        headers = {**HEADERS, hdrs.ETAG: found.etag}
        if found.etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, headers={**headers,
                                                      hdrs.CONTENT_TYPE: found.content_type})


def public_middleware(console: Console) -> Middleware:
    """Answers the console's routes before any other middleware (no token needed)."""

    @web.middleware
    async def console_files(request: web.Request, handler: Handler) -> web.StreamResponse:
        own = request.match_info.handler
        if own in console.handlers:
            return await own(request)
        return await handler(request)

    return console_files


def setup_console(app: web.Application, root: Path = ROOT) -> None:
    """Serve the console at ``/console/`` (files read from `root` now)."""
    console = Console(load_files(root))
    app.router.add_get(PREFIX, console.redirect, name="console.redirect")
    app.router.add_get(f"{PREFIX}/", console.index, name="console.index")
    app.router.add_get(PREFIX + "/{path:.+}", console.file, name="console.file")
    app.middlewares.insert(0, public_middleware(console))
    logger.info("console: %d files from %s", len(console.files), root)
