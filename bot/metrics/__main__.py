"""``python -m bot.metrics``: runs the metrics consumer (the same as ``python -m bot metrics-consumer``)."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["metrics-consumer"]))
