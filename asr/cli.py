"""``python -m asr``: build data (and, as they land, evaluate and transcribe).

Examples::

    python -m asr data build --out data/asr --hours train=100,dev=1,test=2
    python -m asr data build --out /tmp/tiny --hours train=0.02,test=0.01 --sentences 2000
    python -m asr data stats --out data/asr
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _hours(text: str) -> dict[str, float]:
    try:
        hours = {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected split=hours,... e.g. train=100,dev=1,test=2, got {text!r}")
    bad = set(hours) - {"train", "dev", "test"}
    if bad or any(h < 0 for h in hours.values()):
        raise argparse.ArgumentTypeError(f"splits are train, dev, test with hours ≥ 0; got {text!r}")
    return hours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="synthetic speech corpora").add_subparsers(dest="action", required=True)
    b = data.add_parser("build", help="synthesise text, audio and manifests (resumable: rerun to continue)")
    b.add_argument("--out", type=Path, required=True, help="output folder (kept out of git)")
    b.add_argument("--hours", type=_hours, default={"train": 1.0, "dev": 0.1, "test": 0.2},
                   help="clean hours per split, e.g. train=100,dev=1,test=2 (test also gets noisy "
                        "and telephone copies)")
    b.add_argument("--sentences", type=int, default=120_000, help="template sentences in the text corpus")
    b.add_argument("--llm-sentences", type=int, default=0,
                   help="also generate this many sentences with SmolLM2 (≈1 s each on 2 cores)")
    b.add_argument("--augment-p", type=float, default=0.5, help="share of training audio augmented")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--seed", type=int, default=0)
    s = data.add_parser("stats", help="counts and hours of a built corpus")
    s.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from asr.data.build import BuildConfig, build, corpus_stats

    if args.action == "build":
        stats = build(BuildConfig(out=args.out, hours=args.hours, seed=args.seed, sentences=args.sentences,
                                  llm_sentences=args.llm_sentences, augment_p=args.augment_p,
                                  workers=args.workers))
    else:
        if not args.out.exists():
            print(f"error: {args.out} does not exist; build it with `python -m asr data build`", file=sys.stderr)
            return 2
        stats = corpus_stats(args.out)
    print(json.dumps(stats, indent=2))
    return 0
