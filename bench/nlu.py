"""NLU benchmark: trains on data/ and scores the held-out set (tests/nlu/held_out.yml).

Prints one JSON object: intent accuracy and macro-F1, per-intent F1, retrieval accuracy for
FAQ and small talk, entity precision/recall/F1 per entity (by canonical value), the five most
confused intent pairs, parse latency p50/p95 (one message at a time, in-process), training time
and whether the targets (macro-F1 ≥ 0.95; F1 ≥ 0.95 for phone_number, otp_code, amount and
service; p50 ≤ 15 ms) are met. ``--model`` scores an existing model instead of training one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train(out_dir: str, config: str, data: str) -> str:
    from rasa.model_training import train_nlu

    return train_nlu(
        config=config,
        nlu_data=data,
        output=out_dir,
        fixed_model_name="nlu-bench",
        domain=str(ROOT / "domain.yml"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="score this model instead of training one")
    parser.add_argument("--config", default=str(ROOT / "config.yml"), help="pipeline to train (ours)")
    parser.add_argument("--data", default=str(ROOT / "data"), help="training data (default: ours)")
    parser.add_argument("--held-out", default=str(ROOT / "tests" / "nlu" / "held_out.yml"))
    parser.add_argument("--save-model", help="keep the trained model at this path")
    parser.add_argument("--errors", action="store_true", help="include every misclassified utterance")
    args = parser.parse_args(argv)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    sys.path.insert(0, str(ROOT))
    from rasa.utils.log_utils import configure_structlog

    from bot.nlu.evaluate import agent_parser, evaluate, load_examples, targets_met

    logging.getLogger().setLevel(logging.WARNING)
    configure_structlog(logging.WARNING)
    training_seconds = None
    # Rasa prints progress to stdout; keep stdout for the JSON alone.
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        model = args.model
        if not model:
            started = time.perf_counter()
            model = train(tmp, args.config, args.data)
            training_seconds = round(time.perf_counter() - started, 1)
            if args.save_model:
                shutil.copyfile(model, args.save_model)
        parse = agent_parser(model)
        examples = load_examples(args.held_out)
        asyncio.run(parse("预热"))  # first call builds graphs; not part of the latency
        report = asyncio.run(evaluate(parse, examples))
    if not args.errors:
        report["errors"] = report["errors"][:20]
    report["training_seconds"] = training_seconds
    report["targets_missed"] = targets_met(report)
    report["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
