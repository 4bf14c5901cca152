"""Settings for bench_callbacks.py only: the app plus one trivial view (bench/callbacks_app/urls.py).

The trivial view runs through the same middleware as the callback receiver, so
its throughput is the practical ceiling of this Django on this machine.
"""

from __future__ import annotations

from annotator.settings import *  # noqa: F403

ROOT_URLCONF = "bench.callbacks_app.urls"
