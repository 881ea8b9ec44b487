"""``python -m asr``: build data (and, as they land, evaluate and transcribe).

Examples::

    python -m asr data build --out data/asr --hours train=100,dev=1,test=2
    python -m asr data build --out /tmp/tiny --hours train=0.02,test=0.01 --sentences 2000
    python -m asr data stats --out data/asr
    python -m asr data speed --families piper,espeak
    python -m asr data timings --sentences 25
    python -m asr eval --manifest data/asr/test.jsonl --recognizer faster-whisper --out runs/eval
    python -m asr eval --manifest data/asr/test.jsonl --recognizer whisper-local-agreement \
        --chunk-ms 640,960 --limit 150 --concurrency --out runs/eval-la
    python -m asr bench-memory --recognizer trade --minutes 30 --chunk-ms 640 --out runs/bench-memory
    python -m asr transcribe call.wav --recognizer whisper-local-agreement --chunk-ms 640 --json
    python -m asr train --config asr/recipes/trade/configs/whisper.json --out exp/trade-whisper
    python -m asr eval --manifest data/asr/test.jsonl --recognizer trade --chunk-ms 320,640,960 \
        --option beam=4 --out runs/trade
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.data.text import per_split
from asr.vad import PAUSE_MS, STOP_MS


def recognizer_option(text: str) -> tuple[str, object]:
    """argparse type for ``--option key=value``; the value is JSON if it parses, else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected key=value (e.g. beam=4), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="synthetic speech corpora").add_subparsers(dest="action", required=True)
    b = data.add_parser("build", help="synthesise text, audio and manifests (resumable: rerun to continue)")
    b.add_argument("--out", type=Path, required=True, help="output folder (kept out of git)")
    b.add_argument("--hours", type=per_split(float), default={"train": 1.0, "dev": 0.1, "test": 0.2},
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
    sp = data.add_parser("speed", help="synthesis speed (× real time) of the training voices")
    sp.add_argument("--families", default="piper,espeak", help="voice families, e.g. piper,espeak,festival")
    sp.add_argument("--utterances", type=int, default=200)
    sp.add_argument("--workers", type=int, default=2)
    e = sub.add_parser("eval", help="WER, emission latency, RTF and peak RSS of a recognizer on manifests")
    e.add_argument("--manifest", type=Path, nargs="+", help="one or more manifest JSONL files")
    e.add_argument("--recognizer", default="faster-whisper", help="a registered recognizer name")
    e.add_argument("--chunk-ms", default="", help="streaming chunk sizes, e.g. 320,640,960 (streaming recognizers)")
    e.add_argument("--limit", type=int, default=None, help="first N utterances of each manifest")
    e.add_argument("--by-voice", type=Path, metavar="UTTERANCES_JSONL",
                   help="instead of evaluating: WER per voice from a run's <manifest>-<chunk>.utterances.jsonl")
    e.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                   help="instead of evaluating: two runs' sentence-end arrival on the same utterances, paired, "
                        "from their *.utterances.jsonl files (e.g. a change against its parent, run interleaved)")
    e.add_argument("--concurrency", action="store_true",
                   help="also find how many live streams keep up on this machine (streaming only, ~20 s per try)")
    e.add_argument("--join", type=int, default=1, metavar="N",
                   help="play N consecutive utterances as one stream, 0.5 s apart (long-stream test: compare "
                        "with --join 1 on the same --limit)")
    e.add_argument("--lead-silence", type=float, default=0.0, metavar="S",
                   help="start every stream with S seconds of silence (a stream opened before the caller "
                        "speaks: compare with 0 on the same --limit)")
    e.add_argument("--vad", nargs="?", type=int, const=STOP_MS, default=None, metavar="STOP_MS",
                   help="hear each stream as the agent hears a call: Silero VAD opens one recognizer stream per "
                        "stretch of speech and closes it after STOP_MS of silence (default "
                        f"{STOP_MS}, the agent's; asr.utterances; streaming recognizers with --chunk-ms). The "
                        "table then also gives when the VAD heard the end of speech, which no sentence end beats")
    e.add_argument("--vad-pause", type=int, default=None, metavar="MS",
                   help="with --vad: the stream also decodes what it has at each MS of silence (under STOP_MS), "
                        "so its sentence-end marks come out before the stop, as the agent does with "
                        f"vad.pause_ms=MS (default {PAUSE_MS}, the agent's; 0: at the stop only, as every --vad "
                        "run before 2026-12-06)")
    e.add_argument("--out", type=Path, help="folder for results.json and results.md")
    e.add_argument("--option", type=recognizer_option, action="append", default=[], metavar="KEY=VALUE",
                    help="recognizer option, repeatable: checkpoint=DIR, beam=4, blank_penalty=0.5, "
                         "fusion_weight=0.5 (trade); compute_type=int8 (faster-whisper)")
    tr = sub.add_parser("transcribe", help="transcribe one audio file, showing partials live, ending with "
                                           "the text (or JSON with --json)")
    tr.add_argument("audio", type=Path, help="any file libsndfile reads (WAV, FLAC, OGG); resampled to 16 kHz mono")
    tr.add_argument("--recognizer", default="whisper-local-agreement", help="a registered recognizer name")
    tr.add_argument("--chunk-ms", type=int, default=None, help="streaming chunk size (streaming recognizers)")
    tr.add_argument("--realtime", action="store_true", help="feed the audio at real-time pace, as a live call")
    tr.add_argument("--json", action="store_true",
                    help="print JSON: text, words with audio and emission times, sentence-end events")
    tr.add_argument("--quiet", action="store_true", help="no live display on stderr")
    tr.add_argument("--option", type=recognizer_option, action="append", default=[], metavar="KEY=VALUE",
                    help="recognizer option, repeatable: checkpoint=DIR, beam=4, blank_penalty=0.5, "
                         "fusion_weight=0.5 (trade); compute_type=int8 (faster-whisper)")
    bm = sub.add_parser("bench-memory", help="memory of a streaming recognizer over a long stream of real speech")
    bm.add_argument("--manifest", type=Path, default=Path("data/asr/test.jsonl"), help="speech to loop")
    bm.add_argument("--recognizer", default="trade",
                    help="a streaming recognizer, or `encoder` for the streaming Whisper encoder alone")
    bm.add_argument("--minutes", type=float, default=30.0)
    bm.add_argument("--chunk-ms", type=int, default=640)
    bm.add_argument("--option", type=recognizer_option, action="append", default=[], metavar="KEY=VALUE",
                    help="recognizer option, repeatable (as for eval)")
    bm.add_argument("--out", type=Path, default=Path("runs/bench-memory"), help="memory.json and memory.png")
    trn = sub.add_parser("train", help="train a TRADE recognizer (resumable: rerun the same command)",
                         description="Recipe: asr/recipes/trade/README.md. Writes log.jsonl, loss.png, "
                                     "checkpoint.pt and final/ (the checkpoint `--recognizer trade` loads).")
    trn.add_argument("--config", type=Path, required=True, help="JSON training config (asr/recipes/trade/configs/)")
    trn.add_argument("--out", type=Path, required=True, help="experiment folder (kept out of git)")
    trn.add_argument("--max-minutes", type=float, default=None, help="stop after this long; rerun to resume")
    t = data.add_parser("timings", help="check synthesiser word timings against the audio's energy")
    t.add_argument("--voices", default="piper:joe,espeak:en-us+f2?rate=150,festival:slt,festival:kal,festival:ked")
    t.add_argument("--sentences", type=int, default=25, help="training sentences per voice")
    args = parser.parse_args(argv)

    if args.command == "transcribe":
        from asr.audio import AudioError
        from asr.transcribe import main as transcribe

        try:
            return transcribe(args)
        except (AudioError, ValueError, TypeError) as e:  # TypeError: an option the recognizer lacks
            print(f"error: {e}", file=sys.stderr)
            return 2
    if args.command == "train":
        from pydantic import ValidationError

        from asr.recipes.trade.train import TrainConfig, train

        try:
            cfg = TrainConfig.model_validate_json(args.config.read_text())
        except (OSError, ValidationError) as e:
            print(f"error: bad training config {args.config}: {e}", file=sys.stderr)
            return 2
        print(train(cfg, args.out, args.max_minutes))
        return 0
    if args.command == "bench-memory":
        from asr.eval.memory import run as bench_memory

        result = bench_memory(args.manifest, args.minutes, args.chunk_ms, args.recognizer, args.out, dict(args.option))
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
        return 0
    if args.command == "eval" and args.by_voice:
        from asr.eval.harness import breakdown_by_voice, read_rows

        if not args.by_voice.is_file():
            print(f"error: {args.by_voice} not found: `python -m asr eval ... --out DIR` writes it", file=sys.stderr)
            return 2
        print(breakdown_by_voice(read_rows(args.by_voice)))
        return 0
    if args.command == "eval" and args.compare:
        from asr.eval.harness import compare_sentence_ends, read_rows

        try:
            print(compare_sentence_ends(*map(read_rows, args.compare)))
        except (OSError, ValueError, KeyError) as e:
            print(f"error: cannot compare {args.compare[0]} and {args.compare[1]}: {e!r} (both must be "
                  "*.utterances.jsonl files that `python -m asr eval ... --out DIR` wrote for the same manifest)",
                  file=sys.stderr)
            return 2
        return 0
    if args.command == "eval":
        if not args.manifest or not args.out:
            print("error: eval needs --manifest and --out (or --by-voice FILE)", file=sys.stderr)
            return 2
        if args.join < 1:
            print(f"error: --join takes a count of utterances per stream (≥ 1), got {args.join}", file=sys.stderr)
            return 2
        if not 0 <= args.lead_silence <= 60:
            print(f"error: --lead-silence takes seconds from 0 to 60, got {args.lead_silence}", file=sys.stderr)
            return 2
        from asr.eval.harness import run
        from asr.recognizer import capabilities

        try:
            streaming = capabilities(args.recognizer).streaming
            chunks = [int(c) for c in args.chunk_ms.split(",") if c] or [None]
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if chunks != [None] and not streaming:
            print(f"error: {args.recognizer} is an offline recognizer; --chunk-ms applies to streaming ones",
                  file=sys.stderr)
            return 2
        if args.vad and chunks == [None]:
            print("error: --vad drives a streaming recognizer: give a streaming --recognizer and --chunk-ms",
                  file=sys.stderr)
            return 2
        if args.vad_pause is not None and not args.vad:
            print("error: --vad-pause needs --vad (it says how the VAD-driven stream decodes at pauses)",
                  file=sys.stderr)
            return 2
        pause = PAUSE_MS if args.vad_pause is None else args.vad_pause
        if args.vad and not 0 <= pause < args.vad:
            print(f"error: --vad-pause takes a pause shorter than the VAD's stop ({args.vad} ms), or 0 for none, "
                  f"got {pause}", file=sys.stderr)
            return 2
        from asr.data.manifest import ManifestError

        try:
            run(args.recognizer, args.manifest, args.out, args.limit, chunks, args.concurrency, dict(args.option),
                args.join, args.lead_silence, args.vad, (pause or None) if args.vad else None)
        except (ManifestError, TypeError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print((args.out / "results.md").read_text())
        return 0

    from asr.data.build import BuildConfig, build, corpus_stats, synthesis_speed

    if args.action == "timings":
        from asr.data.text import build_corpus
        from asr.data.timing_check import timing_table

        sentences = [x.spoken for x in build_corpus(300, seed=3, wordnet=False)["train"][: args.sentences]]
        stats = timing_table(args.voices.split(","), sentences)
    elif args.action == "speed":
        stats = synthesis_speed(args.families.split(","), args.utterances, args.workers)
    elif args.action == "build":
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
