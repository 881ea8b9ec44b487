"""Browser calls (``python -m agent serve``): end to end, headless Chromium with a WAV of a caller
as its microphone talks to the page over WebRTC through one full turn on the real bundled
models, publishing the call's turn events to a real mosquitto as ``python -m integrations.mqtt
serve`` does; and the server's answers to offers it cannot take."""

import argparse
import asyncio
import io
import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aioice.ice import get_host_addresses
from aiortc import RTCPeerConnection
from rich.console import Console

from agent.config import AgentConfig
from agent.serve import CallServer
from asr.audio import SAMPLE_RATE, resample
from asr.eval.wer import word_errors
from integrations.mqtt import CallRecorder
from integrations.mqtt.__main__ import _publishing
from tests.broker import mqtt_config, recorded, wait_for
from tests.browser import Chromium

GREETING_S = 8.0  # the caller waits out the bot's greeting, as a person would


def _caller_wav(path, clip):
    """Silence through the greeting, one sentence, then silence while the bot answers (48 kHz,
    what a browser microphone gives)."""
    pad = lambda s: np.zeros(int(SAMPLE_RATE * s), np.float32)  # noqa: E731
    audio = resample(np.concatenate([pad(GREETING_S), clip, pad(40.0)]), SAMPLE_RATE, 48000)
    sf.write(path, audio, 48000, subtype="PCM_16")


async def _talk(models, tmp_path, clip, broker):
    if not get_host_addresses(use_ipv4=True, use_ipv6=True):
        pytest.fail("this machine has no network interface but loopback, and aiortc offers no loopback "
                    "candidates: a WebRTC call cannot connect")
    mqtt = mqtt_config(broker)
    recorder = CallRecorder(mqtt, tmp_path / "mqtt.jsonl")
    recording = asyncio.create_task(recorder.run())
    await asyncio.wait_for(recorder.subscribed.wait(), 10)
    args = argparse.Namespace(broker=mqtt)  # what `python -m integrations.mqtt serve --broker URL` parses
    quiet = Console(file=io.StringIO())
    server = CallServer(AgentConfig(), models, tmp_path / "calls",
                        session=lambda call_id: _publishing(args, AgentConfig(), quiet, call_id))
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    _caller_wav(tmp_path / "caller.wav", clip)
    try:
        async with Chromium(tmp_path, tmp_path / "caller.wav") as browser:
            page = await browser.open(f"http://127.0.0.1:{port}/")
            await page.evaluate("agentCall.start()", user_gesture=True)
            await page.wait_for("agentCall.state === 'connected'", 20, "the call did not connect")
            await page.wait_for("agentCall.events.some(e => e.event === 'bot_reply' && e.seq > "
                                "(agentCall.events.find(e => e.event === 'end_of_utterance') || {seq: 1e9}).seq)",
                                90, "no bot reply after the caller's turn")
            await page.wait_for("agentCall.events.some(e => e.event === 'bot_stopped_speaking' && e.seq > "
                                "agentCall.events.find(e => e.event === 'end_of_utterance').seq)",
                                60, "the bot's reply did not finish playing")
            await asyncio.sleep(0.5)  # the last audio stats
            seen = await page.evaluate("({events: agentCall.events, voiced: agentCall.botVoicedS, "
                                       "lines: agentCall.transcript()})")
            call = next(iter(server.calls.values()))
            await page.evaluate("agentCall.hangUp()")
            await asyncio.wait_for(call.done.wait(), 30)
        await wait_for(lambda: len(recorded(tmp_path / "mqtt.jsonl")) >= len(seen["events"]), 15)
    finally:
        await runner.cleanup()
        recording.cancel()
        await asyncio.gather(recording, return_exceptions=True)
    return seen, tmp_path / "calls" / call.call_id, recorded(tmp_path / "mqtt.jsonl")


@pytest.mark.models
def test_browser_call_through_one_turn(models, speech, tmp_path, broker):
    clips, lines = speech
    seen, out, published = asyncio.run(_talk(models, tmp_path, clips[0], broker))
    events, page_lines = seen["events"], seen["lines"]
    kinds = [e["event"] for e in events]
    eou = next(e for e in events if e["event"] == "end_of_utterance")
    reply = next(e for e in events if e["event"] == "bot_reply" and e["seq"] > eou["seq"])

    # the caller's words reached the agent through the browser's microphone and WebRTC
    assert word_errors(lines[0], eou["text"]).wer < 0.4, eou["text"]
    assert "speech_started" in kinds
    # the page shows the transcript: the caller's final words, the end of the turn, the bot's reply
    assert f"caller: {eou['text']}" in page_lines or any(
        line.startswith("caller: ") and line[8:] in eou["text"] for line in page_lines), page_lines
    assert any(line.startswith("mark: end of your turn") for line in page_lines), page_lines
    assert f"bot: {reply['text']}" in page_lines, page_lines
    # the reply's audio arrived in the browser: voiced audio beyond what had come by the turn's end
    assert seen["voiced"] - eou["botVoicedS"] >= 0.5, (seen["voiced"], eou["botVoicedS"])
    assert eou["botVoicedS"] >= 1.0, "the greeting was not heard"

    # the server kept the call: the stereo recording and the same turn events the page got
    saved = [json.loads(row) for row in (out / "turn_events.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in saved][:len(events)] == [e["seq"] for e in events]
    audio, sr = sf.read(out / "call.wav")
    assert sr == SAMPLE_RATE and audio.shape[1] == 2
    assert np.abs(audio[:, 0]).max() > 0.05 and np.abs(audio[:, 1]).max() > 0.05
    assert (out / "events.jsonl").exists()
    # and published them over MQTT under the browser call's id, as the page saw them
    assert {e["call_id"] for e in published} == {out.name}
    assert [(e["event"], e.get("text")) for e in published][:len(events)] == [(e["event"], e.get("text"))
                                                                               for e in events]


async def _offer(with_audio: bool) -> dict:
    pc = RTCPeerConnection()
    pc.createDataChannel("turn-events")
    if with_audio:
        pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
    await pc.close()
    return offer


async def test_offers_the_server_cannot_take_get_a_clear_error(tmp_path):
    server = CallServer(AgentConfig(), None, tmp_path, max_calls=1)
    async with TestClient(TestServer(server.app())) as client:
        page = await client.get("/")
        assert page.status == 200 and "agentCall" in await page.text()
        loading = await client.post("/offer", json=await _offer(True))
        assert loading.status == 503 and "loading its models" in (await loading.json())["error"]

        server.models = object()  # an offer is answered before any model runs
        for body, status, says in [
                (b"{not json", 400, "wants JSON"), (json.dumps({"sdp": "v=0"}), 400, "type"),
                (json.dumps({"sdp": "v=0", "type": "answer"}), 400, "type"),
                (json.dumps({"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}), 400,
                 "not usable"),
                (json.dumps(await _offer(False)), 400, "no audio track")]:
            reply = await client.post("/offer", data=body)
            assert reply.status == status and says in (await reply.json())["error"], await reply.text()
        assert not server.calls

        first = await client.post("/offer", json=await _offer(True))
        answer = await first.json()
        assert first.status == 200 and answer["type"] == "answer" and "m=audio" in answer["sdp"]
        busy = await client.post("/offer", json=await _offer(True))
        assert busy.status == 503 and "--max-calls 1" in (await busy.json())["error"]
        await server.calls[answer["call_id"]].hang_up()  # never connected: nothing to save
        assert not server.calls


def test_serve_command_bad_input_exits_2_and_says_what_to_do(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    serve = [sys.executable, "-m", "agent", "serve", "--out", str(tmp_path)]
    for args, says in [(["--port", str(port)], "cannot listen"), (["--cert", "cert.pem"], "--cert and --key"),
                       (["--max-calls", "0"], "1 or more")]:
        done = subprocess.run(serve + args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and says in done.stderr, done.stderr
    taken.close()
