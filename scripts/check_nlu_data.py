"""Checks NLU training files before they are committed: they load, lines are unique, and none copies
the real-subscriber dev set. Prints the count and length spread per intent.

    .venv/bin/python scripts/check_nlu_data.py data/nlu/subscribers/charges.yml [...]
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(paths: list[str]) -> int:
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.devset import comparable, dev_set_path, load_dev_set, near_copies

    problems = 0
    checked = {Path(x).resolve() for x in paths}
    everything = {
        comparable(m.get("text")): p
        for p in (ROOT / "data" / "nlu").rglob("*.yml")
        if p.resolve() not in checked
        for m in load_data(str(p)).intent_examples
    }
    dev_texts = [item.text for item in load_dev_set()] if dev_set_path() is not None else []
    for path in paths:
        raw = Path(path).read_text(encoding="utf-8")
        for number, line in enumerate(raw.splitlines(), 1):
            if line.lstrip().startswith("- ") and ("[" in line or "]" in line):
                print(f"{path}:{number}: square brackets are read as entity markup: {line.strip()}")
                problems += 1
        examples = load_data(path).intent_examples
        lengths: dict[str, list[int]] = defaultdict(list)
        seen: Counter = Counter()
        for message in examples:
            text = message.get("text")
            lengths[message.get("intent")].append(len(text))
            key = comparable(text)
            seen[key] += 1
            if key in everything:
                print(f"{path}: also in {everything[key].relative_to(ROOT)}: {text}")
                problems += 1
        for key, count in seen.items():
            if count > 1:
                print(f"{path}: written {count} times: {key}")
                problems += 1
        for intent, values in sorted(lengths.items()):
            short = sum(v < 20 for v in values) / len(values)
            long = sum(v >= 60 for v in values) / len(values)
            print(
                f"{path}: {intent}: {len(values)} lines, median {statistics.median(values):.0f} chars, "
                f"{short:.0%} under 20, {long:.0%} 60 or more"
            )
        for line, _item in near_copies([m.get("text") for m in examples], dev_texts):
            print(f"{path}: a near-copy of a real dev message, rewrite it: {line}")
            problems += 1
    print("OK" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
