"""Components that fail on purpose, to prove that a failure costs a line, not the call."""

from agent.responder import LocalLM


class FlakyLM(LocalLM):
    """Fails on the calls listed in ``fail_on`` (1-based); otherwise answers ``reply``. Only
    ``stream`` is replaced: the real ``astream`` runs it in its worker thread."""

    def __init__(self, reply="Your order ships tomorrow.", fail_on=(1,)):
        self.reply, self.fail_on, self.calls = reply, set(fail_on), 0

    def stream(self, messages, on_text, stop):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("injected LLM failure")
        for word in self.reply.split(" "):
            on_text(word + " ")
        return self.reply


class FlakyVoice:
    """A real voice that raises on any sentence containing ``trigger``."""

    def __init__(self, voice, trigger="explode"):
        self.voice, self.trigger, self.name = voice, trigger, voice.name

    def synthesize(self, text):
        if self.trigger in text:
            raise RuntimeError("injected TTS failure")
        return self.voice.synthesize(text)
