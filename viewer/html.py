"""The browser page: served by the service (``/viewer``) or written as one standalone HTML file.

Both use the same assets in ``viewer/web/`` (``index.html``, ``viewer.css`` and
``viewer.js``, a small WebGL renderer written for this project; nothing is
loaded from a CDN).  The service page links the assets under its static route
and fetches the scene as glTF from the API; the standalone file inlines the
CSS, the script and the scene (the ``.glb`` bytes, base64, in
``<script id="twin-scene" type="application/octet-stream">``), so it opens from
disk without a server or network.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from twin.atomic import atomic_text_file
from viewer.gltf import scene_to_glb
from viewer.scene import Scene

__all__ = ["WEB_DIR", "page_html", "scene_to_html", "write_html"]

#: Folder of the page assets (package data).
WEB_DIR = Path(__file__).resolve().parent / "web"

_CSS_TAG = '<link rel="stylesheet" href="__TWIN_STATIC__/viewer.css">'
_JS_TAG = '<script src="__TWIN_STATIC__/viewer.js"></script>'


def _template() -> str:
    return (WEB_DIR / "index.html").read_text(encoding="utf-8")


def _json_for_script(value: object) -> str:
    """JSON safe inside a ``<script>`` element (no ``</`` sequence)."""
    return json.dumps(value).replace("</", "<\\/")


def page_html(static_url: str, api_url: str) -> str:
    """The service page: assets from ``static_url``, scene and building details from ``api_url``."""
    html = _template().replace("__TWIN_STATIC__", static_url.rstrip("/"))
    config = {"mode": "service", "api": api_url.rstrip("/")}
    return html.replace("__TWIN_CONFIG__", _json_for_script(config)).replace("<!--TWIN_SCENE_DATA-->", "")


def scene_to_html(scene: Scene) -> str:
    """A self-contained HTML page of the scene (styles, script and glTF data inline)."""
    css = (WEB_DIR / "viewer.css").read_text(encoding="utf-8")
    js = (WEB_DIR / "viewer.js").read_text(encoding="utf-8")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("viewer assets must not contain closing script/style tags")
    data = base64.b64encode(scene_to_glb(scene)).decode("ascii")
    html = _template()
    html = html.replace(_CSS_TAG, f"<style>\n{css}</style>").replace(_JS_TAG, f"<script>\n{js}</script>")
    html = html.replace("__TWIN_CONFIG__", _json_for_script({"mode": "standalone"}))
    blob = f'<script id="twin-scene" type="application/octet-stream">{data}</script>'
    return html.replace("<!--TWIN_SCENE_DATA-->", blob)


def write_html(scene: Scene, path: str | os.PathLike) -> Path:
    """Write :func:`scene_to_html` atomically to ``path``."""
    path = Path(path)
    text = scene_to_html(scene)
    with atomic_text_file(path) as fh:
        fh.write(text)
    return path
