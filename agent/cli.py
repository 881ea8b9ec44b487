"""Command line: run simulated customer-service calls against the agent, or talk to it.

Usage:
    python -m agent demo [--out runs/demo]
    python -m agent call --scenario agent/scenarios/demo.yaml --out runs/call1
    python -m agent call --scenario my.yaml --config my.yaml --set turn.detector_options.unknown_ms=600 --out runs/x
    python -m agent serve [--port 8080]      # then open http://localhost:8080 and press Call
    python -m agent bench --voice festival:slt --variant baseline:stt.recognizer=faster-whisper \
        --variant default --out runs/bench

Every simulated call writes events.jsonl, call.wav (caller left, bot right) and metrics.json,
shows a live transcript, and ends with a latency table. ``serve`` takes browser calls over
WebRTC and writes each to its own directory. Bad input (missing or corrupt files, unknown
voices, malformed scenarios or configs) prints one line saying what to fix and exits with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import ssl
import sys
from importlib.resources import files
from pathlib import Path

EXIT_BAD_INPUT = 2
DEMO_SCENARIO = files("agent") / "scenarios" / "demo.yaml"
# the VAD-segmented Whisper with a 600 ms timer, and the default (TRADE turns, Whisper words)
DEFAULT_VARIANTS = ["baseline:stt.recognizer=faster-whisper", "default"]


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of calls, 1 or more")
    return int(text)


def _parser(prog: str, add_arguments) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0],
        epilog=f"Example: {prog} call --scenario agent/scenarios/demo.yaml --out runs/demo "
               "--set vad.stop_ms=150", formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, extended: bool = True):
        sp.add_argument("--config", type=Path, help="agent config YAML (sections vad, stt, turn, llm, tts)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set llm.max_new_tokens=32 (repeatable)")
        sp.add_argument("-v", "--verbose", action="store_true", help="log every component's details")
        if add_arguments and extended:
            add_arguments(sp, sp.prog.split()[-1])

    call = sub.add_parser("call", help="run a scripted call (see agent/scenarios/*.yaml for the format)",
                          description="Stream a scripted caller into the agent in real time and measure it.")
    call.add_argument("--scenario", type=Path, required=True, help="scenario YAML: caller turns, voices, timing")
    call.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    common(call)
    demo = sub.add_parser("demo", help="run the bundled customer-service call (the README's main command)",
                          description="Run the bundled 5-turn customer-service call on the embedded models.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory (default runs/demo)")
    common(demo)
    serve = sub.add_parser("serve", help="talk to the agent from a browser (WebRTC)",
                           description="Serve a call page and a WebRTC endpoint: open the page, press Call "
                           "and speak. A page on another machine needs HTTPS (--cert/--key) to use the "
                           "microphone; or forward the port: ssh -L 8080:localhost:8080 HOST.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--out", type=Path, default=Path("runs/serve"),
                       help="each call writes <out>/<call id>/ (default runs/serve)")
    serve.add_argument("--max-calls", type=_at_least_one, default=1, help="calls at once; more get 'busy' (default 1)")
    serve.add_argument("--ice-server", dest="ice_servers", action="append", default=[], metavar="URL",
                       help="STUN/TURN server for both ends, e.g. stun:stun.l.google.com:19302 (repeatable; "
                       "not needed on localhost or a LAN)")
    serve.add_argument("--cert", type=Path, help="TLS certificate (PEM) to serve HTTPS")
    serve.add_argument("--key", type=Path, help="TLS private key (PEM) for --cert")
    common(serve)
    bench = sub.add_parser("bench", help="compare configurations on the same simulated calls",
                           description="Run the same simulated calls under several configurations and "
                           "compare cut-offs, unanswered turns, end-of-turn delay, voice-to-voice time and "
                           "the WER of the turns as understood.")
    bench.add_argument("--scenario", dest="scenarios", type=Path, action="append",
                       help="scenario YAML (repeatable; default: the bundled demo call)")
    bench.add_argument("--voice", dest="voices", action="append", default=[], metavar="VOICE",
                       help="play every scenario in this caller voice, e.g. festival:slt or espeak:en-us+m3 "
                       "(repeatable; default: each scenario's own voice)")
    bench.add_argument("--variant", dest="variants", action="append", metavar="NAME[:KEY=VALUE,...]",
                       help="a configuration to compare: a name and overrides of --config/--set "
                       f"(repeatable; default: {' and '.join(DEFAULT_VARIANTS)})")
    bench.add_argument("--repeats", type=_at_least_one, default=1, help="times each call runs (default 1)")
    bench.add_argument("--out", type=Path, default=Path("runs/bench"),
                       help="bench.md, bench.json and every call's outputs (default runs/bench)")
    common(bench, extended=False)  # an integration's session watches one call at a time
    return p


async def _bench(args, console):
    from agent.bench import Variant, markdown_table, run_bench
    from agent.config import ConfigError, load_config
    from agent.scenario import load_scenario
    from asr.voices import load_voice

    try:
        variants = [Variant.parse(v) for v in args.variants or DEFAULT_VARIANTS]
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if len({v.name for v in variants}) < len(variants):
        raise ConfigError("two variants share a name: give each its own")
    configs = {v.name: load_config(args.config, args.overrides + v.overrides) for v in variants}
    scenarios = [load_scenario(path) for path in args.scenarios or [Path(str(DEMO_SCENARIO))]]
    for voice in args.voices:
        load_voice(voice)  # an unknown voice fails now, not after the first calls
    summary = await run_bench(scenarios, args.voices, variants, configs, args.out, repeats=args.repeats,
                              say=console.print)
    console.print(markdown_table(summary, variants), markup=False)


async def _serve(config, args, console, session):
    from agent.serve import serve, ssl_context

    await serve(config, host=args.host, port=args.port, out_dir=args.out, max_calls=args.max_calls,
                ice_servers=args.ice_servers, tls=ssl_context(args.cert, args.key), console=console,
                session=session and (lambda call_id: session(args, config, console, call_id)))


async def _run(scenario, config, args, console, session):
    from agent.call import run_call

    async with session(args, config, console, None) if session else contextlib.nullcontext([]) as observers:
        return await run_call(scenario, config, args.out, console=console, observers=observers)


def main(argv: list[str] | None = None, *, prog: str = "python -m agent", add_arguments=None,
         session=None) -> int:
    """The agent's command line. Integrations extend it without the agent knowing them:
    ``add_arguments(subparser, command)`` adds their options to ``call``, ``demo`` and ``serve``,
    and ``session(args, config, console, call_id)`` is an async context manager that yields extra
    frame observers for one call (``integrations.mqtt``); ``call_id`` is the browser call's id
    under ``serve`` and None for a simulated call."""
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
        if args.command == "serve":
            asyncio.run(_serve(config, args, console, session))
            return 0
        if args.command == "bench":
            asyncio.run(_bench(args, console))
            return 0
        scenario = load_scenario(args.scenario if args.command == "call" else Path(str(DEMO_SCENARIO)))
        report = asyncio.run(_run(scenario, config, args, console, session))
    except (ConfigError, ScenarioError, AudioError, VoiceError, FileNotFoundError, ssl.SSLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("server stopped" if args.command == "serve" else "interrupted", file=sys.stderr)
        return 0 if args.command == "serve" else 130
    console.print(latency_table(report))
    console.print(f"wrote {args.out}/events.jsonl, call.wav, metrics.json")
    return 0
