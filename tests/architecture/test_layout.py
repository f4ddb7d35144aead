"""Modules stay small and single-minded; copy a subscriber reads stays out of the domain packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 600
#: Data, not logic: the service catalogue and the demo store's stories.
LONG_BY_NATURE = {"bot/billing/catalogue.py", "bot/seed.py"}
DOMAIN_PACKAGES = ("bot/billing", "bot/alerts", "bot/identity", "bot/handoff")
MAX_DOMAIN_LITERALS = 40
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def chinese_literals(source: str) -> int:
    """String constants holding Chinese, docstrings left out."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and _HAN.search(node.value)
    )


def test_the_literal_count_leaves_docstrings_out() -> None:
    source = 'def f():\n    """说明"""\n    return "您好" + "x"\n'
    assert chinese_literals(source) == 1


def test_no_module_over_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in _python_files("bot", "actions")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {k: v for k, v in long.items() if k not in LONG_BY_NATURE} == {}


def test_copy_lives_outside_the_domain_packages() -> None:
    counts = {
        str(path.relative_to(ROOT)): chinese_literals(path.read_text(encoding="utf-8"))
        for path in _python_files(*DOMAIN_PACKAGES)
        if str(path.relative_to(ROOT)) not in LONG_BY_NATURE
    }
    assert sum(counts.values()) < MAX_DOMAIN_LITERALS, {k: v for k, v in counts.items() if v}


#: The rows that move money or usage, and the one module that may create them (docs/architecture.md).
LEDGER_ROWS = ("Charge", "Payment", "Bill", "DataUsage")
LEDGER = "bot/billing/ledger.py"
#: The demo store writes months of history directly (no audit entries, no alerts for the past).
WRITES_HISTORY = {"bot/seed.py"}


def ledger_writes(source: str) -> list[str]:
    """Where ``source`` creates a ledger row or sets a balance (``Charge(...)``, ``x.balance_fen = ...``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in LEDGER_ROWS:
            found.append((node.lineno, f"{node.func.id}() at line {node.lineno}"))
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AugAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr == "balance_fen":
                found.append((node.lineno, f"balance_fen assigned at line {node.lineno}"))
    return [text for _, text in sorted(found)]


def test_the_ledger_finder_finds_writes() -> None:
    assert ledger_writes("s.add(Charge(amount_fen=1))\nsub.balance_fen -= 5\n") == [
        "Charge() at line 1",
        "balance_fen assigned at line 2",
    ]
    assert ledger_writes("report = ExplainedCharge(x)\nview.balance = 3\n") == []


def test_only_the_ledger_writes_charges_payments_bills_and_usage() -> None:
    writers = {
        rel: found
        for path in _python_files("bot", "actions")
        if (rel := str(path.relative_to(ROOT))) not in {LEDGER, *WRITES_HISTORY}
        and (found := ledger_writes(path.read_text(encoding="utf-8")))
    }
    assert writers == {}
