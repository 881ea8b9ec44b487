"""``python -m turn_taking``: labelled dialogues (and, as it lands, detector evaluation).

Examples::

    python -m turn_taking data build --out data/dialogues --dialogues dev=200,test=1000
    python -m turn_taking data build --out /tmp/d --dialogues test=5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asr.data.text import per_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m turn_taking", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="labelled turn-taking dialogues").add_subparsers(dest="action", required=True)
    b = data.add_parser("build", help="synthesise dialogues with hold/eot silences, backchannels and "
                                      "barge-ins (resumable: rerun to continue)")
    b.add_argument("--out", type=Path, required=True, help="output folder (kept out of git)")
    b.add_argument("--dialogues", type=per_split(int), default={"dev": 20, "test": 100},
                   help="dialogues per split, e.g. dev=200,test=1000")
    b.add_argument("--text", type=Path, default=None,
                   help="an asr text corpus folder (python -m asr data build's <out>/text) for caller "
                        "statements; default: build a template corpus here")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from turn_taking.data.build import build

    print(json.dumps(build(args.out, args.dialogues, args.seed, args.workers, args.text), indent=2))
    return 0
