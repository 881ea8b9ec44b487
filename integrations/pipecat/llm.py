"""The agent's local LLM (bundled SmolLM2-135M-Instruct) as a pipecat LLM service.

    llm = LocalLLMService()                                  # agent.config.LLMConfig defaults
    llm = LocalLLMService(config=LLMConfig(max_sentences=2))

It answers each ``LLMContextFrame`` from the user aggregator with pipecat's response frames
(``LLMFullResponseStartFrame``, ``LLMTextFrame`` per piece of text, ``LLMFullResponseEndFrame``),
generating in a worker thread with ``agent.responder.LocalLM``. The system prompt is the
service's ``system_instruction`` setting (default: the agent's customer-service prompt); only
the last ``max_history_messages`` of the context are sent, as the small model needs. An
interruption cancels the generation within one token.
"""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    StartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings

from agent.config import LLMConfig
from agent.responder import LocalLM, chat_prompt


def _text(content) -> str:
    """OpenAI-style content (a string or a list of parts) as plain text."""
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


class LocalLLMService(LLMService):
    def __init__(self, *, config: LLMConfig = LLMConfig(), lm: LocalLM | None = None, **kwargs):
        kwargs.setdefault("settings", LLMSettings(
            model=config.model, system_instruction=config.system_prompt, max_tokens=config.max_new_tokens,
            temperature=None, top_p=None, top_k=None, frequency_penalty=None, presence_penalty=None, seed=None,
            filter_incomplete_user_turns=False, user_turn_completion_config=None))  # greedy: no sampling
        super().__init__(**kwargs)
        self.config, self.lm = config, lm

    async def start(self, frame: StartFrame):
        await super().start(frame)
        if self.lm is None:
            self.lm = await asyncio.to_thread(LocalLM, self.config)

    async def messages(self, context: LLMContext) -> list[dict]:
        """The chat the model sees: system instruction and the recent user/assistant turns."""
        params = await self.get_llm_adapter().get_llm_invocation_params(
            context, system_instruction=self._settings.system_instruction, convert_developer_to_user=True)
        chat = [{"role": m["role"], "content": _text(m.get("content"))} for m in params["messages"]
                if m.get("role") in ("system", "user", "assistant")]
        return chat_prompt(chat, self.config)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_processing_metrics()
        await self.start_ttfb_metrics()
        try:
            async for delta in self.lm.astream(await self.messages(frame.context)):
                await self.stop_ttfb_metrics()
                await self._push_llm_text(delta)
        except Exception as e:  # the turn ends without an answer; the pipeline goes on
            await self.push_error(error_msg=f"local LLM failed: {e}", exception=e)
        finally:
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())
