"""Score a TRADE experiment with the evaluation harness (WER, word and sentence-end latency, RTF).

Usage::

    python -m asr.recipes.trade.decode --exp exp/trade-whisper --limit 150
    python -m asr.recipes.trade.decode --exp exp/trade-whisper --chunk-ms 640 --beam 4 --blank-penalty 0.5
    python -m asr.recipes.trade.decode --checkpoint asr/checkpoints/trade-whisper --out runs/trade --concurrency

The same as ``python -m asr eval --recognizer trade --option checkpoint=DIR ...`` for streaming
chunk sizes, plus the checkpoint's offline (full-context) mode as the first row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.eval.harness import run
from asr.recognizers.trade import BLANK_PENALTY

TEST = [Path("data/asr/test.jsonl"), Path("data/asr/test-noisy.jsonl"), Path("data/asr/test-telephone.jsonl")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--exp", type=Path, help="experiment folder of `python -m asr train` (uses <exp>/final)")
    src.add_argument("--checkpoint", type=Path, help="a checkpoint folder (model.safetensors, config.json, vocab.json)")
    p.add_argument("--manifest", type=Path, nargs="+", default=TEST)
    p.add_argument("--chunk-ms", default="320,640,960", help="streaming chunk sizes")
    p.add_argument("--no-offline", action="store_true", help="skip the full-context row")
    p.add_argument("--limit", type=int, default=None, help="first N utterances of each manifest")
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--blank-penalty", type=float, default=BLANK_PENALTY)
    p.add_argument("--fusion-weight", type=float, default=0.5)
    p.add_argument("--concurrency", action="store_true", help="also count real-time streams (≈20 s per try)")
    p.add_argument("--out", type=Path, help="results folder (default <exp>/decode)")
    args = p.parse_args(argv)
    checkpoint = args.checkpoint or args.exp / "final"
    out = args.out or (args.exp or checkpoint) / "decode"
    options = {"checkpoint": str(checkpoint), "beam": args.beam, "blank_penalty": args.blank_penalty,
               "fusion_weight": args.fusion_weight}
    if not args.no_offline:
        run("trade-offline", args.manifest, out / "offline", args.limit, [None], options=options)
    chunks = [int(c) for c in args.chunk_ms.split(",") if c]
    rows = run("trade", args.manifest, out / "streaming", args.limit, chunks, args.concurrency, options)
    print((out / "streaming" / "results.md").read_text())
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
