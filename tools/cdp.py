"""A small Chrome DevTools Protocol client for headless Chromium (used by ``tools/check_pages.py``).

Starts ``chromium --headless --remote-debugging-port=0`` with the network blocked (only 127.0.0.1 resolves),
reads the browser's websocket address from its stderr and talks to one page over tornado's websocket client
(tornado ships with Jupyter, so nothing extra is installed).  Only what the page check needs: open a URL, set
the viewport, run JavaScript, click at a point, take a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import signal
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from tornado.websocket import websocket_connect

# The flags of an offline reader: no network beyond localhost, nothing that phones home or needs a GPU.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) binary on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(RuntimeError):
    """A DevTools command failed or the browser went away."""


class Browser:
    """One headless Chromium with one page target; use ``async with Browser(path) as b``."""

    def __init__(self, binary: str, timeout: float = 30.0) -> None:
        self.binary, self.timeout = binary, timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._events: list[tuple[str, dict]] = []
        self._waiters: list[tuple[str, asyncio.Future]] = []
        self.console: list[str] = []      # console errors and uncaught exceptions of the current page
        self.on_request = None            # called with the URL of every request (after Network.enable)

    async def __aenter__(self) -> "Browser":
        self._profile = tempfile.TemporaryDirectory(prefix="bertedu-chromium-", ignore_cleanup_errors=True)
        # its own process group, so that closing ends the renderer and helper processes it started too
        self.proc = subprocess.Popen([self.binary, *FLAGS, f"--user-data-dir={self._profile.name}",
                                      "--remote-debugging-port=0", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        url = await asyncio.get_running_loop().run_in_executor(None, self._read_ws_url)
        self.ws = await websocket_connect(url, max_message_size=512 * 1024 * 1024)
        self._reader = asyncio.ensure_future(self._read())
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime"):
            await self.call(f"{domain}.enable")
        return self

    def _read_ws_url(self) -> str:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                # keep reading its log in the background: a full pipe would stall the browser
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                return match.group(1)
        raise CDPError(f"chromium exited (code {self.proc.wait()}) before opening its DevTools port")

    async def __aexit__(self, *exc: Any) -> None:
        self._reader.cancel()
        self.ws.close()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._profile.cleanup()

    async def _read(self) -> None:
        while True:
            msg = await self.ws.read_message()
            if msg is None:
                for fut in self._pending.values():
                    fut.done() or fut.set_exception(CDPError("the browser closed the connection"))
                return
            data = json.loads(msg)
            if "id" in data and data["id"] in self._pending:
                fut = self._pending.pop(data["id"])
                if "error" in data:
                    fut.set_exception(CDPError(f"{data['error'].get('message')} {data['error'].get('data', '')}"))
                else:
                    fut.set_result(data.get("result", {}))
            elif "method" in data:
                self._on_event(data["method"], data.get("params", {}))

    def _on_event(self, method: str, params: dict) -> None:
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.console.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", ""))[:300])
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.console.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                             for a in params.get("args", []))[:300])
        elif method == "Network.requestWillBeSent" and self.on_request:
            self.on_request(params.get("request", {}).get("url", ""))
        for name, fut in list(self._waiters):
            if name == method and not fut.done():
                fut.set_result(params)
                self._waiters.remove((name, fut))

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict:
        """Send one DevTools command (to the browser, or to a session) and wait for its result."""
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        msg = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await self.ws.write_message(json.dumps(msg))
        return await asyncio.wait_for(fut, self.timeout)

    async def call(self, method: str, **params: Any) -> dict:
        """A command to the page."""
        return await self.send(method, self.session, **params)

    async def goto(self, url: str, width: int, height: int = 900, mobile: bool = False) -> None:
        """Open ``url`` in a ``width`` x ``height`` viewport and wait for its load event."""
        await self.viewport(width, height, mobile)
        self.console = []
        loaded = asyncio.get_running_loop().create_future()
        self._waiters.append(("Page.loadEventFired", loaded))
        await self.call("Page.navigate", url=url)
        await asyncio.wait_for(loaded, self.timeout)

    async def viewport(self, width: int, height: int = 900, mobile: bool = False) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=mobile)

    async def js(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate JavaScript in the page (promises are awaited) and return its JSON value."""
        saved, self.timeout = self.timeout, timeout or self.timeout
        try:
            res = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                                  returnByValue=True, timeout=int(self.timeout * 1000))
        finally:
            self.timeout = saved
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise CDPError("page script failed: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        return res.get("result", {}).get("value")

    async def click(self, x: float, y: float) -> None:
        """A real mouse click at viewport coordinates (what a reader does, not element.click())."""
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def screenshot(self, path: Path, clip: dict | None = None, quality: int | None = None) -> None:
        """Save the viewport (or ``clip``, in page coordinates) as PNG, or JPEG when ``quality`` is given."""
        params: dict[str, Any] = {"format": "jpeg" if quality else "png", "captureBeyondViewport": bool(clip)}
        if quality:
            params["quality"] = quality
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = await self.call("Page.captureScreenshot", **params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
