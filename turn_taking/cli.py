"""``python -m turn_taking``: labelled dialogues and end-of-turn detector evaluation.

Examples::

    python -m turn_taking data build --out data/dialogues --dialogues dev=200,test=1000
    python -m turn_taking data turns --dialogues data/dialogues/train.jsonl --out data/dialogue-turns
    python -m turn_taking data turns --dialogues data/dialogues/train.jsonl --out data/dialogue-pieces --cut vad
    python -m turn_taking eval --dialogues data/dialogues/test.jsonl --limit 200 \
        --tune data/dialogues/dev.jsonl --tune-limit 100 --out runs/turn-eval
    python -m turn_taking fit-voice --dialogues data/dialogues/train.jsonl --limit 1000 \
        --final-recognizer faster-whisper
    python -m turn_taking fit --dialogues data/dialogues/train.jsonl --limit 1000 \
        --final-recognizer faster-whisper --voice

``eval`` plays each dialogue's caller channel once through Silero VAD, the streaming recognizer
and the peer models (cached under OUT/traces, resumable), then sweeps every detector's settings
over the cached signals: eot-bench cutoff/latency frontiers, TRADE-protocol F1 and a breakdown
by category, in OUT/report.md with OUT/pareto.png.

``fit`` traces training dialogues the same way and fits the learned detector's weights
(``turn_taking/detectors/learned.py``); by default it rewrites the shipped file, whose
"command" field says how it was made. Fit on the way the agent hears the caller: the default
hybrid needs ``--final-recognizer faster-whisper``. ``fit-voice`` first fits the voice-end model
(how finished the caller's voice sounds at a pause, ``turn_taking/voice_end.py``) on the same
dialogues; ``fit --voice`` then weighs it too, as the shipped policy does. ``fit
--cross-voices 1e-4,1e-3,1e-2`` writes nothing: it leaves each training voice out in turn and
prints how each penalty's policy does on the voice it never heard (to choose ``--l2``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from asr.cli import recognizer_option
from asr.data.text import per_split
from asr.vad import STOP_MS
from turn_taking.detectors.learned import EVIDENCE, SHIPPED, VOICE, load_weights
from turn_taking.learn import L2
from turn_taking.trace import LISTENING, REFERENCE
from turn_taking.voice_end import SHIPPED as VOICE_HEAD


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
    t = data.add_parser("turns", help="export the caller turns and backchannels of train/dev dialogues as an "
                                      "ASR training manifest (pauses inside turns carry no mark)")
    t.add_argument("--dialogues", type=Path, required=True, help="labels file, e.g. data/dialogues/train.jsonl")
    t.add_argument("--out", type=Path, required=True, help="output folder: <split>.jsonl and FLAC clips")
    t.add_argument("--limit", type=int, default=None, help="first N dialogues")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--cut", choices=("turn", "vad"), default="turn",
                   help="turn: whole turns and backchannels; vad: each turn cut where the agent's VAD "
                        "ends speech, one example per stream the agent would open")
    e = sub.add_parser("eval", help="evaluate end-of-turn detectors on labelled dialogues")
    e.add_argument("--dialogues", type=Path, required=True, help="labels file of the evaluation split")
    e.add_argument("--tune", type=Path, required=True, help="labels file operating points are chosen on (dev)")
    e.add_argument("--detectors", default="vad,punct,fusion,adaptive,learned,smart_turn,livekit",
                   help="comma-separated detector names")
    e.add_argument("--out", type=Path, required=True, help="output folder (traces are cached here)")
    e.add_argument("--limit", type=int, default=None, help="first N evaluation dialogues")
    e.add_argument("--tune-limit", type=int, default=None, help="first N tuning dialogues")
    e.add_argument("--learned-weights", type=Path, default=None, metavar="JSON",
                   help="weights for the learned detector, from python -m turn_taking fit --out JSON "
                        "(default: the shipped ones)")
    _hearing(e)
    f = sub.add_parser("fit", help="fit the learned end-of-turn policy (detector 'learned') on labelled dialogues, "
                                   "traced as eval traces them")
    f.add_argument("--dialogues", type=Path, required=True, help="labels file of the training split")
    f.add_argument("--limit", type=int, default=None, help="first N dialogues")
    f.add_argument("--traces", type=Path, default=Path("runs/turn-fit"), help="folder the traces are cached in")
    f.add_argument("--out", type=Path, default=SHIPPED, help="weights file (default: the shipped one)")
    f.add_argument("--leave-out", default="", metavar="NAMES",
                   help="comma-separated evidence the fit may not use (their weights stay 0), to measure what it "
                        "is worth; evaluate the result with eval --learned-weights. Evidence: "
                        + ", ".join(EVIDENCE[1:] + VOICE))
    f.add_argument("--voice", action="store_true",
                   help="weigh how finished the caller's voice sounds at each pause too (the voice-end model, fit "
                        "first with fit-voice); each training call's scores come from a head fit on the other voices")
    f.add_argument("--l2", type=float, default=L2, help="the fit's penalty on the weights (default: %(default)s)")
    f.add_argument("--cross-voices", default="", metavar="L2S",
                   help="write nothing: for each comma-separated L2, leave each training voice out in turn, replay "
                        "its calls with weights fit on the other voices' and print the pooled latency at 5 %% and "
                        "10 %% cutoffs, as a caller nobody trained on would meet the policy (to choose --l2)")
    _hearing(f)
    v = sub.add_parser("fit-voice", help="fit the voice-end model's head (how finished the voice sounds at a "
                                         "pause: Whisper tiny.en's encoder, frozen, and a logistic head) on "
                                         "labelled dialogues")
    v.add_argument("--dialogues", type=Path, required=True, help="labels file of the training split")
    v.add_argument("--limit", type=int, default=None, help="first N dialogues")
    v.add_argument("--traces", type=Path, default=Path("runs/turn-fit"),
                   help="folder the traces (for the VAD's pauses) and the encoder's features are cached in")
    v.add_argument("--out", type=Path, default=VOICE_HEAD, help="head file (default: the shipped one)")
    _hearing(v)
    args = parser.parse_args(argv)

    if args.command == "eval":
        from turn_taking.detectors import DETECTORS
        from turn_taking.eval.report import evaluate

        names = [n.strip() for n in args.detectors.split(",") if n.strip()]
        unknown = [n for n in names if n not in DETECTORS]
        if unknown or not names:
            parser.error(f"unknown detector(s) {unknown}: choose from {', '.join(sorted(DETECTORS))}")
        for path in (args.dialogues, args.tune):
            if not path.exists():
                parser.error(f"{path} not found: build dialogues with `python -m turn_taking data build`")
        listening = _listening(parser, args)
        fixed = {}
        if args.learned_weights:
            try:
                load_weights(args.learned_weights)
            except ValueError as err:
                parser.error(str(err))
            fixed["learned"] = {"weights": args.learned_weights}
        evaluate(args.dialogues, args.tune, names, args.out, args.limit, args.tune_limit, args.recognizer,
                 args.chunk_ms, args.workers, dict(args.option), listening, args.final_recognizer, fixed)
        print((args.out / "report.md").read_text())
        return 0

    if args.command in ("fit", "fit-voice"):
        from turn_taking.learn import cross_voices, cross_voices_markdown, fit_on, fit_voice

        if not args.dialogues.exists():
            parser.error(f"{args.dialogues} not found: build dialogues with `python -m turn_taking data build`")
        listening = _listening(parser, args)
        command = shlex.join(["python", "-m", "turn_taking", *(sys.argv[1:] if argv is None else argv)])
        hearing = (args.recognizer, args.chunk_ms, args.workers, dict(args.option), listening, args.final_recognizer)
        try:
            if args.command == "fit-voice":
                about = fit_voice(args.dialogues, args.limit, args.traces, args.out, *hearing, command)
            else:
                evidence = EVIDENCE[1:] + (VOICE if args.voice else ())
                leave_out = [n.strip() for n in args.leave_out.split(",") if n.strip()]
                if unknown := [n for n in leave_out if n not in evidence]:
                    parser.error(f"--leave-out: unknown evidence {unknown}; choose from {', '.join(evidence)}")
                if args.voice and not VOICE_HEAD.exists():
                    parser.error(f"--voice reads the voice-end head, and {VOICE_HEAD} is missing: run fit-voice first")
                if args.l2 < 0:
                    parser.error(f"--l2 takes a non-negative penalty, got {args.l2}")
                if args.cross_voices:
                    l2s = _floats(parser, "--cross-voices", args.cross_voices)
                    rows = cross_voices(args.dialogues, args.limit, args.traces, *hearing, l2s, leave_out, args.voice)
                    print(cross_voices_markdown(rows))
                    return 0
                about = fit_on(args.dialogues, args.limit, args.traces, args.out, *hearing, command, leave_out,
                               args.voice, args.l2)
        except ValueError as e:
            parser.error(str(e))
        print(json.dumps({k: v for k, v in about.items() if k not in ("mean", "scale", "w")}, indent=1))
        return 0

    if args.action == "turns":
        from turn_taking.data.turns_manifest import export

        if not args.dialogues.exists():
            parser.error(f"{args.dialogues} not found: build dialogues with `python -m turn_taking data build`")
        try:
            print(json.dumps(export(args.dialogues, args.out, args.seed, args.limit, args.cut), indent=2))
        except ValueError as e:
            parser.error(str(e))
        return 0
    from turn_taking.data.build import build

    print(json.dumps(build(args.out, args.dialogues, args.seed, args.workers, args.text), indent=2))
    return 0


def _floats(parser: argparse.ArgumentParser, flag: str, text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        parser.error(f"{flag} takes comma-separated non-negative numbers, e.g. 1e-4,1e-3,1e-2; got {text!r}")
    return values


def _hearing(p: argparse.ArgumentParser):
    """How the traced caller is heard: the recognizer and the agent's way of running it."""
    p.add_argument("--recognizer", default="trade",
                   help="streaming recognizer the detectors read; 'reference': a perfect one, the labels' own words "
                        "and punctuation as each word ends (how much of a shortfall is the recognizer's)")
    p.add_argument("--chunk-ms", type=int, default=320)
    p.add_argument("--option", type=recognizer_option, action="append", default=[], metavar="KEY=VALUE",
                   help="recognizer option, repeatable, e.g. checkpoint=exp/trade-whisper-pauses/final "
                        "(traces are cached per option set)")
    p.add_argument("--no-pause-decode", dest="pause_decode", action="store_false",
                   help="trace the recognizer without telling it of the VAD's pauses, so its sentence ends come "
                        "only from whole chunks (as before trace version 2): compare the two on the same dialogues")
    p.add_argument("--vad-pause", type=int, default=LISTENING["pause_ms"], metavar="MS",
                   help="trace the recognizer as the agent runs with vad.pause_ms=MS: it also decodes what it has at "
                        "each MS of silence, before the VAD's stop (default: %(default)s, the agent's; 0: at the "
                        "stop only)")
    p.add_argument("--final-recognizer", default=None, metavar="NAME",
                   help="score the agent's hybrid (stt.final_recognizer=NAME, e.g. faster-whisper): NAME transcribes "
                        "each VAD segment and its text is the caller's, while the streaming recognizer's marks, "
                        "partials and end probability go on as before")
    p.add_argument("--workers", type=int, default=2)


def _listening(parser: argparse.ArgumentParser, args) -> dict:
    """The checked hearing arguments as ``trace.LISTENING``'s keywords."""
    if not 0 <= args.vad_pause < STOP_MS:
        parser.error(f"--vad-pause takes a silence shorter than the VAD's stop ({STOP_MS} ms), or 0 for none, "
                     f"got {args.vad_pause}")
    if args.recognizer == REFERENCE:
        if args.final_recognizer is not None:
            parser.error("--recognizer reference already gives the caller's exact words: drop --final-recognizer")
        options = dict(args.option)
        if set(options) - {"marks"} or not isinstance(options.get("marks", True), bool):
            parser.error(f"--recognizer reference takes only --option marks=true|false, got {options}")
    if args.final_recognizer is not None:
        from asr.recognizer import available, capabilities

        if args.final_recognizer not in available() or capabilities(args.final_recognizer).streaming:
            offline = [n for n in available() if not capabilities(n).streaming]
            parser.error(f"--final-recognizer takes a segmented recognizer ({', '.join(offline)}), "
                         f"got {args.final_recognizer!r}")
    return {"pause_decode": args.pause_decode, "pause_ms": args.vad_pause or None}
