"""Headless Chromium (Debian's ``chromium``, installed by ``make sysdeps``) with a WAV file as its
microphone, driven over the DevTools protocol: open a page, evaluate JavaScript in it."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import websockets

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Page:
    def __init__(self, browser: "Chromium", session_id: str):
        self.browser, self.session_id = browser, session_id

    async def evaluate(self, expression: str, *, await_promise: bool = False, user_gesture: bool = False):
        """The expression's value (JSON-able), or an AssertionError carrying the page's exception."""
        reply = await self.browser.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": await_promise,
            "userGesture": user_gesture}, session_id=self.session_id)
        if "exceptionDetails" in reply:
            raise AssertionError(f"page error in {expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float, what: str):
        """Poll until the expression is truthy; its value."""
        async with asyncio.timeout(timeout_s):
            while not (value := await self.evaluate(expression)):
                await asyncio.sleep(0.2)
        assert value, what
        return value


class Chromium:
    """``async with Chromium(tmp_path, mic_wav) as browser: page = await browser.open(url)``."""

    def __init__(self, workdir: Path, mic_wav: Path):
        self.workdir, self.mic_wav = Path(workdir), Path(mic_wav)
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}

    async def __aenter__(self) -> "Chromium":
        if not Path(CHROMIUM).exists():
            pytest.fail("chromium is not installed: run `make sysdeps`")
        profile = self.workdir / "chromium-profile"
        self.proc = subprocess.Popen([
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={self.mic_wav}%noloop",
            "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "chromium.log", "wb"))
        port_file = profile / "DevToolsActivePort"
        async with asyncio.timeout(30):
            while not port_file.exists() or len(port_file.read_text().split()) < 2:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"chromium exited: {(self.workdir / 'chromium.log').read_text()[-2000:]}")
                await asyncio.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        self.ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc):
        self._reader.cancel()
        await self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    async def _read(self):
        async for message in self.ws:
            reply = json.loads(message)
            future = self._waiting.pop(reply.get("id"), None)
            if future and not future.done():
                if "error" in reply:
                    future.set_exception(RuntimeError(f"DevTools: {reply['error']}"))
                else:
                    future.set_result(reply.get("result", {}))

    async def send(self, method: str, params: dict | None = None, *, session_id: str | None = None) -> dict:
        msg_id = next(self._ids)
        future = self._waiting[msg_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {},
                                       **({"sessionId": session_id} if session_id else {})}))
        return await asyncio.wait_for(future, 30)

    async def open(self, url: str) -> Page:
        target = await self.send("Target.createTarget", {"url": url})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        await page.wait_for("document.readyState === 'complete' && !!window.agentCall", 30, f"{url} did not load")
        return page
