"""A LiveKit Agents worker that answers callers in real rooms with our plugins.

    export LIVEKIT_URL=wss://<project>.livekit.cloud LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=...
    python -m integrations.livekit worker dev          # LiveKit's own CLI: dev | start | console

Each job gets an ``AgentSession`` on ``TradeSTT`` (our recognizer; its detector, from
``TRADE_DETECTOR``, default adaptive, ends the user's turn), the bundled SmolLM2 and Piper
voice. The models load once per worker process (``setup_fnc``), not once per call.
"""

from __future__ import annotations

import os

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, JobProcess

from agent.config import LLMConfig
from integrations.livekit.llm import LocalLLM
from integrations.livekit.stt import TradeSTT
from integrations.livekit.tts import LocalTTS


def _load_models(proc: JobProcess):
    stt = TradeSTT(detector=os.environ.get("TRADE_DETECTOR", "adaptive"))
    stt.prewarm()
    proc.userdata.update(stt=stt, llm=LocalLLM(), tts=LocalTTS())


server = AgentServer(setup_fnc=_load_models, initialize_process_timeout=120)


@server.rtc_session(agent_name="trade-voice-agent")
async def answer_call(ctx: JobContext):
    models = ctx.proc.userdata
    await models["llm"].lm()
    session = AgentSession(stt=models["stt"], llm=models["llm"], tts=models["tts"],
                           turn_handling={"turn_detection": "stt"})
    await session.start(Agent(instructions=LLMConfig().system_prompt), room=ctx.room)
    greeting = LLMConfig().greeting
    if greeting:
        session.say(greeting)
