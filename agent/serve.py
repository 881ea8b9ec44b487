"""``python -m agent serve``: talk to the agent from a browser over WebRTC.

    GET  /        the call page (agent/web/call.html): microphone, live transcript, turn indicators
    GET  /config  what the page needs to connect (ICE servers)
    POST /offer   {"sdp", "type": "offer"} → {"sdp", "type": "answer", "call_id"}

The models load once, before the server listens; every call then runs the same agent graph as a
simulated call, with ``BrowserCaller`` as its input and ``BotAudioTrack`` fed by its output.
The graph starts when the peer connection is up, so the greeting is heard from its first word.
Turn events (``agent.turn_events``) go to the page over the data channel the page opened. A
call ends when the browser hangs up or the connection fails, and leaves
``<out>/<call_id>/`` with ``events.jsonl``, ``turn_events.jsonl`` and ``call.wav`` (caller
left, bot right).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import ssl
from importlib.resources import files
from pathlib import Path
from typing import Literal

from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from pydantic import BaseModel, ConfigDict, ValidationError

from agent.call import AgentModels, build_pipeline
from agent.config import AgentConfig, ConfigError, explain
from agent.metrics import EventLog, LiveTranscript
from agent.runner import PipelineTask
from agent.transport import AudioOutput, CallRecorder
from agent.turn_events import EventStamper, TurnEvent, TurnEventObserver, new_call_id
from agent.webrtc import BotAudioTrack, BrowserCaller

log = logging.getLogger(__name__)
PAGE = files("agent") / "web" / "call.html"


class Offer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sdp: str
    type: Literal["offer"]


class PageEvents:
    """Turn events to the page's data channel (held until it opens), and kept for the call's log."""

    def __init__(self, call_id: str):
        self.stamp = EventStamper(call_id)
        self.events: list[TurnEvent] = []
        self._channel = None
        self._sent = 0

    def attach(self, channel):
        self._channel = channel
        channel.on("open", self._flush)
        self._flush()

    def emit(self, kind: str, media_time_s: float, **fields) -> TurnEvent:
        event = self.stamp(kind, media_time_s, **fields)
        self.events.append(event)
        self._flush()
        return event

    def _flush(self):
        if self._channel is None or self._channel.readyState != "open":
            return
        for event in self.events[self._sent:]:
            self._channel.send(event.model_dump_json())
        self._sent = len(self.events)

    def save(self, path: Path):
        path.write_text("".join(e.model_dump_json() + "\n" for e in self.events))


class BrowserCall:
    """One browser on the line: its peer connection and, once connected, the agent graph."""

    def __init__(self, server: "CallServer", call_id: str, pc: RTCPeerConnection):
        self.server, self.call_id, self.pc = server, call_id, pc
        self.page = PageEvents(call_id)
        self.bot = BotAudioTrack()
        self.mic = None
        self.task: PipelineTask | None = None
        self.runner: asyncio.Task | None = None
        self.done = asyncio.Event()

    def connected(self):
        if self.runner is None:
            self.runner = asyncio.create_task(self._run(), name=f"call-{self.call_id}")

    async def hang_up(self):
        """The connection is gone: end the graph (if it never started, the call is simply over)."""
        if self.done.is_set():
            return
        if self.task:
            await self.task.cancel("the connection to the browser is gone")
        elif self.runner is None:
            self._finished()
        await self.pc.close()

    def _finished(self):
        self.server.calls.pop(self.call_id, None)
        self.done.set()

    async def _run(self):
        server, say = self.server, self.server.say
        recorder, events = CallRecorder(), EventLog()
        caller = BrowserCaller(self.mic, recorder)
        watching = [events, TurnEventObserver(self.page, server.config.turn.detector)]
        if server.console:
            watching.append(LiveTranscript(server.console))
        say(f"call {self.call_id}: connected")
        try:
            async with server.session(self.call_id) if server.session else contextlib.nullcontext([]) as more:
                self.task = PipelineTask(build_pipeline(server.config, server.models, caller,
                                                        AudioOutput(recorder, sink=self.bot.write)),
                                         observers=[*watching, *more])
                await self.task.run()
        finally:
            out = server.out_dir / self.call_id
            out.mkdir(parents=True, exist_ok=True)
            events.save(out / "events.jsonl")
            self.page.save(out / "turn_events.jsonl")
            recorder.save(out / "call.wav")
            say(f"call {self.call_id}: ended after {caller.received_s:.1f} s of caller audio; wrote {out}/")
            self._finished()
            await self.pc.close()


class CallServer:
    """The web app; ``models`` may arrive after it starts listening (calls are refused until then)."""

    def __init__(self, config: AgentConfig, models: AgentModels | None, out_dir: str | Path, *, max_calls: int = 1,
                 ice_servers: list[str] = (), console=None, session=None):
        """``session(call_id)``: an async context manager yielding more frame observers for one
        call, e.g. an MQTT turn-event publisher (``python -m integrations.mqtt serve``)."""
        self.config, self.models, self.out_dir = config, models, Path(out_dir)
        self.max_calls, self.ice_servers, self.console = max_calls, list(ice_servers), console
        self.session = session
        self.calls: dict[str, BrowserCall] = {}

    def say(self, text: str):
        (self.console.print if self.console else log.info)(text)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/config", self._page_config)
        app.router.add_post("/offer", self._offer)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(), content_type="text/html")

    async def _page_config(self, request: web.Request) -> web.Response:
        return web.json_response({"iceServers": [{"urls": url} for url in self.ice_servers]})

    async def _offer(self, request: web.Request) -> web.Response:
        try:
            offer = Offer.model_validate_json(await request.read())
        except ValidationError as e:
            return _error(400, f"POST /offer wants JSON {{\"sdp\": ..., \"type\": \"offer\"}}: {explain(e)}")
        if self.models is None:
            return _error(503, "the agent is still loading its models; try again in a moment")
        if len(self.calls) >= self.max_calls:
            return _error(503, f"the agent is on {len(self.calls)} call(s) already (--max-calls {self.max_calls}); "
                          "try again when one ends")
        call_id = new_call_id()
        pc = RTCPeerConnection(RTCConfiguration([RTCIceServer(u) for u in self.ice_servers]))
        call = self.calls[call_id] = BrowserCall(self, call_id, pc)
        pc.on("datachannel", call.page.attach)

        @pc.on("track")
        def on_track(track):
            if track.kind == "audio" and call.mic is None:
                call.mic = track

        @pc.on("connectionstatechange")
        async def on_state():
            log.info("call %s: connection %s", call_id, pc.connectionState)
            if pc.connectionState == "connected":
                call.connected()
            elif pc.connectionState in ("failed", "closed"):
                await call.hang_up()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        except ValueError as e:
            await call.hang_up()
            return _error(400, f"the offer's SDP is not usable: {e}")
        if call.mic is None:
            await call.hang_up()
            return _error(400, "the offer has no audio track: the page must send its microphone")
        pc.addTrack(call.bot)
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type,
                                  "call_id": call_id})

    async def _shutdown(self, app):
        calls = list(self.calls.values())
        await asyncio.gather(*(c.hang_up() for c in calls), return_exceptions=True)
        await asyncio.gather(*(c.done.wait() for c in calls))


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=json.dumps({"error": message}), content_type="application/json")


def ssl_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """HTTPS for browsers on other machines (a page off localhost needs it to get a microphone)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise FileNotFoundError("--cert and --key go together: give both, or neither for plain HTTP")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def serve(config: AgentConfig, *, host: str, port: int, out_dir: Path, max_calls: int = 1,
                ice_servers: list[str] = (), tls: ssl.SSLContext | None = None, console=None, session=None):
    """Listen (the page answers at once), load the models, then take calls until cancelled (Ctrl-C)."""
    say = console.print if console else log.info
    server = CallServer(config, None, out_dir, max_calls=max_calls, ice_servers=ice_servers, console=console,
                        session=session)
    runner = web.AppRunner(server.app())
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port, ssl_context=tls).start()
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}): is another server using it? "
                              "choose another with --port") from None
        server.models = await asyncio.to_thread(AgentModels.load, config, say)
        say(f"open {'https' if tls else 'http'}://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}/ "
            "in a browser and press Call (Ctrl-C stops the server)")
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)  # docker stop, systemd
        await stop.wait()
        say("SIGTERM: hanging up and stopping")
    finally:
        await runner.cleanup()
