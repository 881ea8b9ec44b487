"""The agent's local LLM (bundled SmolLM2-135M-Instruct) as a LiveKit Agents LLM plugin.

    session = AgentSession(llm=LocalLLM(), ...)

``chat`` streams the answer as ``ChatChunk``s, generated in a worker thread by
``agent.responder.LocalLM``; closing the stream (an interruption) stops the generation within
one token. The agent's ``instructions`` arrive as the chat context's system message; without
them the agent's customer-service prompt is used. Only the last ``max_history_messages``
turns are sent, as the small model needs. Tools are not supported: the model cannot call them.
"""

from __future__ import annotations

import asyncio
import uuid

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from agent.config import LLMConfig
from agent.responder import LocalLM, chat_prompt


class LocalLLM(llm.LLM):
    def __init__(self, *, config: LLMConfig = LLMConfig(), lm: LocalLM | None = None):
        super().__init__()
        self.config, self._lm = config, lm
        self._loading = asyncio.Lock()

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def provider(self) -> str:
        return "local"

    async def lm(self) -> LocalLM:
        async with self._loading:
            if self._lm is None:
                self._lm = await asyncio.to_thread(LocalLM, self.config)
        return self._lm

    def messages(self, chat_ctx: llm.ChatContext) -> list[dict]:
        """The chat the model sees: one system prompt and the recent user/assistant turns."""
        chat = []
        for item in chat_ctx.items:
            if item.type == "message" and item.text_content:
                role = "system" if item.role in ("system", "developer") else item.role
                chat.append({"role": role, "content": item.text_content})
        return chat_prompt(chat, self.config)

    def chat(self, *, chat_ctx: llm.ChatContext, tools=None, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
             **_) -> LocalLLMStream:
        return LocalLLMStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class LocalLLMStream(llm.LLMStream):
    async def _run(self) -> None:
        owner: LocalLLM = self._llm  # type: ignore[assignment]
        request_id = uuid.uuid4().hex[:12]
        lm = await owner.lm()
        async for delta in lm.astream(owner.messages(self._chat_ctx)):
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant",
                                                                                          content=delta)))
