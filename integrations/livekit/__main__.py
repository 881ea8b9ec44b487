"""LiveKit Agents with our recognizer and turn-taking: a recorded call without a server, a
worker for real rooms, and tokens to join them.

Usage:
    python -m integrations.livekit wav --wav caller.wav [--out runs/livekit] [--detector adaptive]
    python -m integrations.livekit worker dev            # needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET
    python -m integrations.livekit token --room support --identity caller-1

``wav`` plays a recording of a caller (leave a few seconds between turns: a recording does not
wait for the bot) into a real AgentSession in real time: TradeSTT (Silero VAD, our streaming
recognizer, our end-of-turn detector) → SmolLM2 → Piper. It shows the transcript and writes
OUT/call.wav (caller left, bot right) and OUT/transcript.jsonl. ``worker`` hands its
arguments to LiveKit's agent CLI (dev, start, console). ``token`` prints a join token for a
room (LIVEKIT_API_KEY and LIVEKIT_API_SECRET from the environment), for a client such as
the LiveKit Agents Playground.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from integrations.wav_call import run_from_command_line
from turn_taking.detectors import DETECTORS

PROG = "python -m integrations.livekit"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wav = sub.add_parser("wav", help="a recorded caller through a real AgentSession, no server")
    wav.add_argument("--wav", type=Path, required=True, help="the caller's side of a call (WAV, FLAC, …)")
    wav.add_argument("--out", type=Path, default=Path("runs/livekit"), help="output directory (default runs/livekit)")
    wav.add_argument("--detector", choices=sorted(DETECTORS), default="adaptive",
                     help="end-of-turn detector (turn_taking/RESULTS.md compares them); default adaptive")
    sub.add_parser("worker", help="run the worker for real rooms (LiveKit's CLI: dev, start, console)", add_help=False)
    token = sub.add_parser("token", help="print a join token for a room")
    token.add_argument("--room", required=True)
    token.add_argument("--identity", required=True, help="the participant's identity, e.g. caller-1")
    token.add_argument("--ttl-minutes", type=int, default=60)
    return p


def join_token(room: str, identity: str, ttl_minutes: int = 60) -> str:
    """A JWT that lets ``identity`` join ``room``, signed with LIVEKIT_API_KEY/SECRET."""
    from livekit import api

    key, secret = os.environ.get("LIVEKIT_API_KEY"), os.environ.get("LIVEKIT_API_SECRET")
    if not key or not secret:
        raise SystemExit(f"{PROG} token: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET (from your LiveKit project)")
    return (api.AccessToken(key, secret).with_identity(identity).with_ttl(timedelta(minutes=ttl_minutes))
            .with_grants(api.VideoGrants(room_join=True, room=room)).to_jwt())


def _wav(args) -> int:
    def run(pcm16, sample_rate, on_line):
        from integrations.livekit.call import run_wav_call

        return run_wav_call(pcm16, sample_rate, detector=args.detector, on_line=on_line)

    return run_from_command_line(PROG, args.wav, args.out, run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        from livekit.agents import cli

        from integrations.livekit.worker import server

        sys.argv = [f"{PROG} worker", *argv[1:]]
        cli.run_app(server)
        return 0
    args = _parser().parse_args(argv)
    if args.command == "token":
        print(join_token(args.room, args.identity, args.ttl_minutes))
        return 0
    return _wav(args)


if __name__ == "__main__":
    sys.exit(main())
