"""What users read never speaks of "the seed doc": they never saw one. They read Scale's documentation."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from annotator import scale_rules
from tests.support import BASE_DIR

SEED_EXAMPLES = Path(__file__).parent / "fixtures" / "scale" / "seed_examples"
SEED = re.compile(r"seed", re.IGNORECASE)
# Not read by users: the rule table generated into docs/scale-rules.md for developers (its sources
# cite the reference's names for documents), and the sandbox's fault-injection option `seed=N`.
NOT_USER_TEXT = {
    Path("annotator/scale_rules/rules.py"),
    Path("annotator/scale_rules/doc.py"),
    Path("annotator/sandbox/faults.py"),
}


def _strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings (comments are not in the tree at all)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_message_string_in_the_code_says_seed():
    found = []
    for path in sorted((BASE_DIR / "annotator").rglob("*.py")):
        relative = path.relative_to(BASE_DIR)
        if relative in NOT_USER_TEXT or "migrations" in relative.parts:
            continue
        found += [f"{relative}:{line}: {text[:80]!r}" for line, text in _strings(path) if SEED.search(text)]
    assert found == []


def test_no_template_or_script_says_seed():
    files = [*(BASE_DIR / "templates").rglob("*.html"), *(BASE_DIR / "static").rglob("*.js")]
    assert files
    found = [f"{path.relative_to(BASE_DIR)}: {line.strip()[:80]}" for path in files
             for line in path.read_text().splitlines() if SEED.search(line)]  # fmt: skip
    assert found == []


@pytest.mark.parametrize("path", sorted(SEED_EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_the_errors_for_the_documentation_examples_name_scales_documentation_not_a_seed(path):
    example = json.loads(path.read_text())
    errors = scale_rules.validate(example["task_type"], example["payload"])
    assert all(not SEED.search(error.message) for error in errors), [e.message for e in errors]
    if example.get("expected_errors"):
        assert errors  # the wrong examples are still explained


@pytest.mark.parametrize("path", sorted(SEED_EXAMPLES.glob("*.seed*.json")), ids=lambda p: p.stem)
def test_the_composer_page_after_importing_a_documentation_example_never_says_seed(alice_client, users, path):
    example = json.loads(path.read_text())
    response = alice_client.post(
        f"/compose/{example['task_type']}/", {"action": "import", "import_json": json.dumps(example["payload"])}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Imported all" in page
    assert "documentation" in page or "problem" in page
    assert not SEED.search(page)
