"""10,000 hostile or odd bodies through the real receiver: never a 500.

Four strategies share the 10,000: raw bytes, any JSON, callback-shaped
objects with wrong types and values, and mutations of the real fixtures.
"""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.test_callbacks_receiver import fixture

FAST = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
dates = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.text(max_size=30),
    json_values,
)
task_ids = st.one_of(st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=40), json_values)
statuses = st.one_of(st.sampled_from(["pending", "completed", "error", "canceled", "COMPLETED", ""]), json_values)


@st.composite
def shaped(draw) -> bytes:
    task = draw(
        st.one_of(
            st.none(),
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "task_id": task_ids,
                    "status": statuses,
                    "updated_at": dates,
                    "completed_at": dates,
                    "created_at": dates,
                    "unique_id": json_values,
                    "response": json_values,
                },
            ),
        )
    )
    obj = draw(
        st.fixed_dictionaries(
            {}, optional={"task_id": task_ids, "status": statuses, "response": json_values, "task": st.just(task)}
        )
    )
    return json.dumps(obj).encode()


@st.composite
def mutated(draw) -> bytes:
    name = draw(
        st.sampled_from(
            [
                "callback-segmentannotation-completed.json",
                "callback-task-error.json",
                "callback-videoannotation-completed.json",
            ]
        )
    )
    obj = fixture(name)
    for _ in range(draw(st.integers(1, 4))):
        where = obj["task"] if isinstance(obj.get("task"), dict) and obj["task"] and draw(st.booleans()) else obj
        if not where:
            break
        key = draw(st.sampled_from(sorted(where)))
        if draw(st.booleans()):
            del where[key]
        else:
            where[key] = draw(json_values)
    raw = json.dumps(obj).encode()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut]  # truncated in transit
    return raw


def deep(draw_depth: int) -> bytes:
    return b'{"a":' * draw_depth + b"1" + b"}" * draw_depth


STRATEGIES = {
    "raw bytes": (st.binary(max_size=300), 2000),
    "any JSON": (json_values.map(lambda v: json.dumps(v).encode()), 2500),
    "callback-shaped": (shaped(), 4000),
    "mutated fixtures": (mutated(), 1000),
    "nesting": (st.integers(1, 3000).map(deep) | st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n), 500),
}
assert sum(n for _, n in STRATEGIES.values()) == 10_000


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_no_body_makes_the_receiver_answer_500(client, users, kind, monkeypatch):
    # Thousands of "Bad Request" warnings would only slow the run down; a 500
    # is still caught below by its status code.
    monkeypatch.setattr(logging.getLogger("django.request"), "disabled", True)
    strategy, examples = STRATEGIES[kind]
    url = f"/callbacks/{users.ws_a.callback_token}/"
    key = users.ws_a.callback_auth_key
    seen: dict[int, int] = {}

    @hsettings(max_examples=examples, **FAST)
    @given(raw=strategy)
    def check(raw: bytes) -> None:
        response = client.post(url, raw, content_type="application/json", HTTP_SCALE_CALLBACK_AUTH=key)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400), (response.status_code, raw[:200])

    check()
    assert sum(seen.values()) >= examples * 0.9  # hypothesis really ran them
    assert 400 in seen
