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
import asyncio
import sys
from pathlib import Path

from asr.audio import SAMPLE_RATE, AudioError, load_audio
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
    try:
        audio = load_audio(args.wav)
    except (AudioError, OSError) as e:
        print(f"{PROG}: cannot use {args.wav}: {e}", file=sys.stderr)
        return 2
    from rich.console import Console

    from integrations.pipecat.call import run_wav_call
    from integrations.pipecat.stt import TradeSTTService

    console = Console()
    colour = {"caller": "cyan", "bot": "green"}
    console.print(f"loading models, then playing {args.wav} ({len(audio) / SAMPLE_RATE:.1f} s) in real time…")
    call = asyncio.run(run_wav_call(
        (audio.clip(-1, 1) * 32767).astype("int16"), SAMPLE_RATE, detector=args.detector,
        stt=TradeSTTService(recognizer_options={"chunk_ms": args.chunk_ms}),
        on_line=lambda line: console.print(f"[dim]{line.t_s:6.2f}s[/dim] [{colour[line.who]}]{line.who:>6}[/]: {line.text}")))
    call.save(args.out)
    console.print(f"wrote {args.out / 'call.wav'} (caller left, bot right) and {args.out / 'transcript.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
