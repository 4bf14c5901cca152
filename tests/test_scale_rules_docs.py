"""docs/scale-rules.md is generated from RULES: the two must not drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator import scale_rules
from annotator.scale_rules import doc

DOC = Path(__file__).resolve().parents[1] / "docs" / "scale-rules.md"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


def test_it_mentions_every_rule_code_in_the_docs():
    text = DOC.read_text(encoding="utf-8")
    missing = [rule.code for rule in scale_rules.RULES if f"| `{rule.code}` |" not in text]
    assert missing == []


def test_it_keeps_the_generated_table_up_to_date():
    text = DOC.read_text(encoding="utf-8")
    assert doc.with_table(text) == text, "run: python -m annotator.scale_rules.doc"


def test_it_points_every_row_at_an_existing_test_file():
    tests_dir = Path(__file__).parent
    for files in doc.EXTRA_TESTS.values():
        for name in files:
            assert (tests_dir / name.split("::")[0]).exists(), name
    assert set(doc.EXTRA_TESTS) <= set(scale_rules.RULES_BY_CODE)
