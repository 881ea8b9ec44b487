"""Command line: calls that publish their turn events, and a recorder for them.

Usage:
    python -m integrations.mqtt demo --broker mqtt://agent@localhost:1883/acme/calls --out runs/demo
    python -m integrations.mqtt call --broker URL --scenario my.yaml --out runs/x [agent options]
    python -m integrations.mqtt serve --broker URL [--port 8080]       # browser calls
    python -m integrations.mqtt record --broker URL --out runs/calls.jsonl [--call-id ID]

``demo``, ``call`` and ``serve`` are ``python -m agent``'s commands plus ``--broker`` (and
``--call-id`` for the simulated ones; each browser call publishes under its own id); every turn
event of a call goes to ``<prefix>/<call_id>/<event>`` (QoS 1). ``record`` writes
the events of every call (or one) to JSONL, each once and in order, until Ctrl-C. Put the
password in the URL or in the MQTT_PASSWORD environment variable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from agent.turn_events import TurnEventObserver, new_call_id
from integrations.mqtt.publisher import MQTTConfig, TurnEventPublisher
from integrations.mqtt.recorder import CallRecorder

PROG = "python -m integrations.mqtt"


def _broker(url: str) -> MQTTConfig:
    try:
        return MQTTConfig.from_url(url)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_mqtt_arguments(sp: argparse.ArgumentParser, command: str = "record"):
    sp.add_argument("--broker", type=_broker, required=True, metavar="URL",
                    help="mqtt://[user[:password]@]host[:port][/prefix] (password also from MQTT_PASSWORD)")
    if command != "serve":  # every browser call has its own id
        sp.add_argument("--call-id", default=None,
                        help="topic level for this call (default: call-<time>-<random>)" if command != "record"
                        else "record only this call (default: every call)")


@contextlib.asynccontextmanager
async def _publishing(args, config, console, call_id: str | None):
    call_id = call_id or args.call_id or new_call_id()
    publisher = TurnEventPublisher(args.broker, call_id)
    await publisher.start()
    console.print(f"publishing turn events to mqtt://{args.broker.host}:{args.broker.port}/"
                  f"{args.broker.prefix}/{call_id}/<event>")
    try:
        yield [TurnEventObserver(publisher, config.turn.detector)]
    finally:
        left = await publisher.close(timeout_s=10)
        console.print(f"{publisher.delivered} turn events acknowledged by the broker"
                      + (f", [red]{left} not delivered[/red]" if left else ""))


async def _record(config: MQTTConfig, out, call_id: str):
    recorder = CallRecorder(config, out, call_id=call_id)
    print(f"recording {config.prefix}/{call_id}/# from {config.host}:{config.port} to {out} (Ctrl-C stops)")
    await recorder.run()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["record"]:
        from agent.cli import main as agent_main

        return agent_main(argv, prog=PROG, add_arguments=_add_mqtt_arguments, session=_publishing)
    p = argparse.ArgumentParser(prog=f"{PROG} record", description="Record calls' turn events to JSONL.")
    _add_mqtt_arguments(p)
    p.add_argument("--out", required=True, help="JSONL file (appended to)")
    args = p.parse_args(argv[1:])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_record(args.broker, args.out, args.call_id or "+"))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
