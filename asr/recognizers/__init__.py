"""Built-in recognizers; importing this package registers them."""

from asr.recognizers import faster_whisper  # noqa: F401
