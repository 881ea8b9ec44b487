"""Command line: run simulated customer-service calls against the agent.

Usage:
    python -m agent demo [--out runs/demo]
    python -m agent call --scenario agent/scenarios/demo.yaml --out runs/call1
    python -m agent call --scenario my.yaml --config my.yaml --set turn.end_silence_ms=400 --out runs/x

Every run writes events.jsonl, call.wav (caller left, bot right) and metrics.json, shows a
live transcript, and ends with a latency table. Bad input (missing or corrupt files, unknown
voices, malformed scenarios or configs) prints one line saying what to fix and exits with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from importlib.resources import files
from pathlib import Path

EXIT_BAD_INPUT = 2
DEMO_SCENARIO = files("agent") / "scenarios" / "demo.yaml"


def _parser(prog: str, add_arguments) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0],
        epilog=f"Example: {prog} call --scenario agent/scenarios/demo.yaml --out runs/demo "
               "--set vad.stop_ms=150", formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp):
        sp.add_argument("--config", type=Path, help="agent config YAML (sections vad, stt, turn, llm, tts)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set llm.max_new_tokens=32 (repeatable)")
        sp.add_argument("-v", "--verbose", action="store_true", help="log every component's details")
        if add_arguments:
            add_arguments(sp)

    call = sub.add_parser("call", help="run a scripted call (see agent/scenarios/*.yaml for the format)",
                          description="Stream a scripted caller into the agent in real time and measure it.")
    call.add_argument("--scenario", type=Path, required=True, help="scenario YAML: caller turns, voices, timing")
    call.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    common(call)
    demo = sub.add_parser("demo", help="run the bundled customer-service call (the README's main command)",
                          description="Run the bundled 5-turn customer-service call on the embedded models.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default runs/demo)")
    common(demo)
    return p


async def _run(scenario, config, args, console, session):
    from agent.call import run_call

    async with session(args, config, console) if session else contextlib.nullcontext([]) as observers:
        return await run_call(scenario, config, args.out, console=console, observers=observers)


def main(argv: list[str] | None = None, *, prog: str = "python -m agent", add_arguments=None,
         session=None) -> int:
    """The agent's command line. Integrations extend it without the agent knowing them:
    ``add_arguments(subparser)`` adds their options, and ``session(args, config, console)`` is an
    async context manager that yields extra frame observers for the call (``integrations.mqtt``)."""
    args = _parser(prog, add_arguments).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rich.console import Console

    from agent.call import latency_table
    from agent.config import ConfigError, load_config
    from agent.scenario import ScenarioError, load_scenario
    from asr.audio import AudioError
    from asr.voices import VoiceError

    console = Console(highlight=False)
    try:
        config = load_config(args.config, args.overrides)
        scenario = load_scenario(args.scenario if args.command == "call" else Path(str(DEMO_SCENARIO)))
        report = asyncio.run(_run(scenario, config, args, console, session))
    except (ConfigError, ScenarioError, AudioError, VoiceError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    console.print(latency_table(report))
    console.print(f"wrote {args.out}/events.jsonl, call.wav, metrics.json")
    return 0
