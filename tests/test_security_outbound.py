"""Outbound requests and served files (issue 11): what a hostile upstream or value cannot do.

The hostile upstream is a real HTTP server on loopback (HostileServer below): slow headers one
byte a second, a slow body, SVG, huge bodies, redirect chains and redirects to loopback.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path

import pytest

from annotator import scale_rules
from annotator.composer.compose import curl_snippet, python_snippet

SEED = Path(__file__).parent / "fixtures" / "scale" / "seed_examples"

# --- Snippets: every value quoted (issue 11, low 15) ---------------------------------------

SHELL_ATTACKS = [
    "'$(touch {marker})'",
    "$(touch {marker})",
    "`touch {marker}`",
    '"; touch {marker}; echo "',
    "';touch {marker};'",
    "\\'$(touch {marker})\\'",
]

FAKE_CURL = """#!/bin/sh
# Records what it was given instead of sending anything.
for arg in "$@"; do printf '%s\\0' "$arg"; done > "$OUT/args"
cat > "$OUT/stdin"
"""


def _run_in_a_real_shell(snippet: str, tmp_path: Path) -> tuple[list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    curl = bin_dir / "curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SCALE_API_KEY": "live_key", "OUT": str(tmp_path), "HOME": str(tmp_path)}
    subprocess.run(["bash", "-c", snippet], env=env, check=True, timeout=30, cwd=tmp_path)
    args = (tmp_path / "args").read_bytes().split(b"\0")[:-1]
    return [a.decode() for a in args], (tmp_path / "stdin").read_text()


@pytest.mark.parametrize("attack", SHELL_ATTACKS)
def test_the_curl_snippet_runs_only_curl_whatever_the_base_url_and_payload_hold(attack, tmp_path):
    marker = tmp_path / "pwned"
    value = attack.format(marker=marker)
    base_url = f"https://scale.example.org/{value}/v1"
    payload = json.loads((SEED / "segmentannotation.corrected.json").read_text())["payload"]
    payload = scale_rules.build_payload("segmentannotation", payload)
    payload["instruction"] = f"{value}\nEOF\ntouch {marker}\n"
    payload["metadata"] = {value: value, "EOF": "EOF"}
    snippet = curl_snippet("segmentannotation", payload, base_url)

    args, stdin = _run_in_a_real_shell(snippet, tmp_path)

    assert not marker.exists(), snippet
    assert f"{base_url}/task/segmentannotation" in args  # one argument, exactly as configured
    assert args[args.index("-u") + 1] == "live_key:"  # the key variable is still expanded
    assert json.loads(stdin) == payload  # the body arrives byte for byte


@pytest.mark.parametrize("attack", SHELL_ATTACKS)
def test_the_python_snippet_holds_every_value_as_a_literal(attack, tmp_path):
    marker = tmp_path / "pwned"
    value = attack.format(marker=marker)
    base_url = f"https://scale.example.org/{value}\"); import os; os.system('touch {marker}'); (\"/v1"
    payload = {"attachment": "https://example.org/a.png", "metadata": {value: value}, "instruction": value}
    snippet = python_snippet("segmentannotation", payload, base_url)
    tree = ast.parse(snippet)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    client = next(c for c in calls if getattr(c.func, "attr", "") == "ScaleClient")
    instance = next(k.value for k in client.keywords if k.arg == "api_instance_url")
    assert ast.literal_eval(instance) == base_url.rstrip("/")
    literal = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "payload")
    assert ast.literal_eval(literal) == payload
    assert not marker.exists() and os.path.exists(tmp_path)
