"""Built-in recognizers; importing this package registers them."""

from asr.recognizers import faster_whisper, local_agreement, trade  # noqa: F401
