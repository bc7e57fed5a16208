"""Drive headless Chromium through the Chrome DevTools Protocol, over aiohttp's websocket.

Just what the UI tests need: open a page, evaluate JavaScript, wait for a condition,
take a screenshot. Debian's `chromium` package is the browser.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import aiohttp

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """A headless Chromium process and a websocket to its one page."""

    def __init__(self, process: subprocess.Popen[bytes], session: aiohttp.ClientSession,
                 socket: aiohttp.ClientWebSocketResponse) -> None:  # fmt: skip
        self._process = process
        self._session = session
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.console: list[str] = []
        self.dialogs: list[str] = []
        """Messages of alert/confirm dialogs the page opened (each dismissed)."""
        self._tasks: set[asyncio.Future[Any]] = set()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def launch(cls, executable: str, profile: Path, *, width: int = 1400,
                     height: int = 1000) -> Browser:  # fmt: skip
        process = subprocess.Popen(  # noqa: ASYNC220 (started once; its pipe read in a thread)
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        port = await asyncio.to_thread(_devtools_port, process)
        session = aiohttp.ClientSession()
        try:
            deadline = time.monotonic() + 30
            while True:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            socket = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        except BaseException:
            await session.close()
            process.kill()
            raise
        browser = cls(process, session, socket)
        await browser.send("Page.enable")
        await browser.send("Runtime.enable")
        return browser

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", "")) for a in args))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(data["params"].get("exceptionDetails", {}))[:500])
            elif data.get("method") == "Page.javascriptDialogOpening":
                self.dialogs.append(data["params"].get("message", ""))
                dismiss = asyncio.ensure_future(
                    self.send("Page.handleJavaScriptDialog", {"accept": False})
                )
                self._tasks.add(dismiss)
                dismiss.add_done_callback(self._tasks.discard)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._socket.send_str(
            json.dumps({"id": ident, "method": method, "params": params or {}})
        )
        return await asyncio.wait_for(future, 30)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        out = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression!r} threw: {out['exceptionDetails']}")
        return out.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> bool:
        """Poll `expression` until it is truthy (in JavaScript's sense)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.evaluate(f"!!({expression})")
            except RuntimeError:
                value = None
            if value:
                return True
            if time.monotonic() > deadline:
                text = await self.evaluate("document.body ? document.body.innerText : ''")
                raise AssertionError(
                    f"timed out waiting for {expression}\npage text:\n{str(text)[:3000]}\n"
                    f"console: {self.console[-10:]}"
                )
            await asyncio.sleep(0.15)

    async def click(self, selector: str) -> None:
        await self.wait_for(f"document.querySelector({json.dumps(selector)})")
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def fill(self, selector: str, value: str) -> None:
        await self.wait_for(f"document.querySelector({json.dumps(selector)})")
        await self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            f" el.value = {json.dumps(value)};"
            " el.dispatchEvent(new Event('input', {bubbles: true}));"
            " el.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )

    async def screenshot(self, path: Path) -> None:
        out = await self.send("Page.captureScreenshot", {"format": "png"})
        await asyncio.to_thread(_write, path, base64.b64decode(out["data"]))

    async def close(self) -> None:
        self._reader.cancel()
        await self._socket.close()
        await self._session.close()
        self._process.terminate()
        try:
            await asyncio.to_thread(self._process.wait, 10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        if self._process.stderr is not None:
            self._process.stderr.close()


def _devtools_port(process: subprocess.Popen[bytes]) -> int:
    assert process.stderr is not None
    seen = []
    for raw in process.stderr:
        line = raw.decode(errors="replace")
        seen.append(line)
        found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if found:
            # Keep reading, so that the browser never blocks on a full pipe.
            threading.Thread(target=_drain, args=(process.stderr,), daemon=True).start()
            return int(found.group(1))
    raise RuntimeError("chromium exited before it listened:\n" + "".join(seen[-20:]))


def _drain(stream: IO[bytes]) -> None:
    for _ in stream:
        pass


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
