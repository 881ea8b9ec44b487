"""Run a pipecat voice agent built on our recognizer and turn-taking over a recorded caller.

Usage:
    python -m integrations.pipecat --wav caller.wav [--out runs/pipecat] [--detector adaptive]

The WAV (any rate, mono or stereo; leave a few seconds between the caller's turns: a
recording does not wait for the bot) is played in real time into a pipecat pipeline:
pipecat's Silero VAD → our streaming recognizer (TradeSTTService) → pipecat's user aggregator
ended by our detector (TradeTurnStopStrategy) → the bundled SmolLM2 (LocalLLMService) →
pipecat's Piper service on the bundled voice. The transcript is shown as the call runs;
OUT/call.wav (caller left, bot right) and OUT/transcript.jsonl are written at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from integrations.wav_call import run_from_command_line
from turn_taking.detectors import DETECTORS

PROG = "python -m integrations.pipecat"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wav", type=Path, required=True, help="the caller's side of a call (WAV, FLAC, …)")
    p.add_argument("--out", type=Path, default=Path("runs/pipecat"), help="output directory (default runs/pipecat)")
    p.add_argument("--detector", choices=sorted(DETECTORS), default="adaptive",
                   help="end-of-turn detector (turn_taking/RESULTS.md compares them); default adaptive")
    p.add_argument("--chunk-ms", type=int, choices=(320, 640, 960), default=640,
                   help="recognizer chunk: smaller is faster, larger more accurate (asr/RESULTS.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def run(pcm16, sample_rate, on_line):
        from integrations.pipecat.call import run_wav_call
        from integrations.pipecat.stt import TradeSTTService

        return run_wav_call(pcm16, sample_rate, detector=args.detector, on_line=on_line,
                            stt=TradeSTTService(recognizer_options={"chunk_ms": args.chunk_ms}))

    return run_from_command_line(PROG, args.wav, args.out, run)


if __name__ == "__main__":
    sys.exit(main())
