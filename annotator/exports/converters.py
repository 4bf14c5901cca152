"""Segmentation conversions in child processes, for exports of many small masks.

A small mask's conversion is mostly Python (Pillow parsing the PNG, building
the RLE records), so threads only take turns at the GIL; other processes do
not. Children are plain subprocesses rather than multiprocessing's: an export
runs in a Celery prefork worker, whose process is daemonic, and multiprocessing
refuses children to a daemonic process.

The parent asks in batches and reads the answers when the writer needs them:
per task it sends the mask's path and the indexes to find, and gets back the
RLEs (and the mask itself only if a mask format needs it), so that what crosses
the pipe costs less than the conversion saved. A child answers in the order it
was asked. Messages are length-prefixed pickles between this process and a
child it started (nothing from outside travels this way). A child that dies
leaves its unanswered tasks to the caller, which converts them itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .segmentation import Converted, Entry, Region, entries, mask_source, read_index_mask, regions

# The child imports `annotator` as a bare package: its __init__ loads the Celery
# app, which the child does not use and which would double its start-up time.
_BOOT = (
    "import sys, types; package = types.ModuleType('annotator'); package.__path__ = [sys.argv[1]]; "
    "sys.modules['annotator'] = package; from annotator.exports.converters import main; main()"
)
_LENGTH = struct.Struct(">I")
_READY = "ready"
# How long `submit` waits for a starting child (0: not at all; the writer
# converts in the meantime). Tests wait, so that a short export meets the children.
READY_WAIT = 0.0
# Masks larger than this are not sent back (the writer converts them itself): the
# children are for many small masks, and the writer holds what is in flight.
MAX_SENT_PIXELS = 1_000_000
# Tasks per message: one pickle, one write and one read per batch rather than
# per task, which is what makes a child worth its pipe for 96x64 masks.
BATCH = 16


def _send(out: BinaryIO, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)) + data)
    out.flush()


def _receive(source: BinaryIO) -> object:
    """The next message; EOFError when the other side has closed."""
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    size = _LENGTH.unpack(head)[0]
    data = source.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - from our own child or parent, see the module docstring


class Pending:
    """One task's conversion, asked of a child (its batch may not be sent yet)."""

    __slots__ = ("answer", "batch", "child", "found", "index")

    def __init__(self, child: _Child, found: list[Entry]) -> None:
        self.child = child
        self.found = found
        self.batch = 0
        self.index = 0
        self.answer: tuple | None = None

    def wait(self) -> bool:
        """Wait for the answer; False if the child died first or declined a large mask
        (convert it yourself)."""
        if self.answer is None:
            self.answer = self.child.answer(self)
        return self.answer is not None and self.answer[0] is not None  # (None, None): declined

    def result(self) -> Converted:
        """The conversion, or the MaskError/OSError the child met, raised here."""
        if not self.wait():
            raise ConverterGone("the converter process did not convert this task")
        ok, value = self.answer
        if not ok:
            raise value
        (height, width), mask_bytes, dtype, found_regions = value
        mask = None if mask_bytes is None else np.frombuffer(mask_bytes, dtype=dtype).reshape(height, width)
        found = self.found
        made = [Region(found[p], {"size": [height, width], "counts": c}, a, b) for p, c, a, b in found_regions]
        return Converted(found, mask, made, shape=(height, width))


class ConverterGone(RuntimeError):
    """The child converting this task exited before answering."""


class _Child:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        package = str(Path(__file__).resolve().parent.parent)
        self.process = subprocess.Popen(  # this interpreter, this module
            [sys.executable, "-c", _BOOT, package],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.ready = False
        self.gone = False
        self.open: list[tuple] = []  # requests of the batch not sent yet
        self.sent = 0  # batches sent; the open batch is number `sent`
        self.received = 0  # batches answered
        self.answers: dict[int, list] = {}

    def poll_ready(self) -> bool:
        """Whether the child has finished its imports (without waiting for it)."""
        if self.ready or self.gone:
            return self.ready
        if select.select([self.process.stdout], [], [], READY_WAIT)[0]:
            with contextlib.suppress(EOFError, OSError, pickle.UnpicklingError):
                self.ready = _receive(self.process.stdout) == _READY
            self.gone = not self.ready
        return self.ready

    def add(self, request: tuple, pending: Pending) -> None:
        pending.batch, pending.index = self.sent, len(self.open)
        self.open.append(request)
        if len(self.open) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.open:
            return
        batch, self.open = self.open, []
        self.sent += 1
        try:
            _send(self.process.stdin, batch)
        except (OSError, ValueError):
            self.gone = True  # died: what it was asked is converted by the caller

    def answer(self, pending: Pending) -> tuple | None:
        if pending.batch == self.sent:
            self.flush()  # the writer has caught up with a batch still being filled
        while self.received <= pending.batch and not self.gone:
            try:
                self.answers[self.received] = _receive(self.process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                self.gone = True
                break
            self.received += 1
        batch = self.answers.get(pending.batch)
        if batch is None:
            return None
        if pending.index == len(batch) - 1:
            del self.answers[pending.batch]  # the writer takes a batch's tasks in order
        return batch[pending.index]

    def stop(self) -> None:
        """Tell the child to exit once it has answered (it ends at EOF)."""
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()

    def close(self, timeout: float = 5.0) -> None:
        self.stop()
        # Answers nobody will read (the export failed half-way) must not keep
        # the child blocked on a full pipe: closing our end breaks its write.
        with contextlib.suppress(OSError, ValueError):
            self.process.stdout.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ConverterProcesses:
    """`count` children converting segmentation tasks. They start at once and
    take work once their imports are done (about half a second): until then
    `submit` answers None and the caller converts the task itself."""

    def __init__(self, count: int, *, with_masks: bool) -> None:
        self.children: list[_Child] = []
        try:
            for _ in range(count):
                self.children.append(_Child())
        except OSError:
            self.close()  # the ones that did start
            raise
        # Send the decoded mask back (the mask formats draw from it) when it is at most this
        # many pixels; 0: never (COCO needs only the regions). Read at start, so tests can set it.
        self.mask_limit = MAX_SENT_PIXELS if with_masks else 0
        self.turn = 0

    def submit(self, response: object, files: dict[str, Path]) -> Pending | None:
        """Ask a ready child to convert one task; None if no child is ready, or the task
        has no mask to read (the caller's own conversion says why)."""
        for _ in range(len(self.children)):
            child = self.children[self.turn]
            if not child.gone and child.poll_ready():
                # Only now, with a child to take it: otherwise the caller reads the entries itself.
                found = entries(response)
                source, extended, _ = mask_source(found, files)
                if source is None:
                    return None
                pending = Pending(child, found)
                child.add((str(source), extended, [e.index for e in found], self.mask_limit), pending)
                if not child.open:  # that batch went: the next one goes to the next child
                    self.turn = (self.turn + 1) % len(self.children)
                return pending
            self.turn = (self.turn + 1) % len(self.children)
        return None

    def stop(self) -> None:
        """No more work: the children exit (while the caller goes on) once they have answered."""
        for child in self.children:
            child.flush()
            child.stop()

    def close(self) -> None:
        for child in self.children:
            child.close()


def _convert(source: str, extended: bool, indexes: list[int], mask_limit: int) -> tuple:
    # Stand-in entries: the child needs only the indexes; an entry's number
    # carries its position, by which the parent finds its own entry again.
    stubs = [Entry("", index, "", False, pos) for pos, index in enumerate(indexes)]
    mask = read_index_mask(Path(source), extended=extended)
    if mask_limit and mask.size > mask_limit:
        raise _Declined
    found = [(r.entry.number, r.rle["counts"], r.area, r.bbox) for r in regions(mask, stubs)]
    data = mask.tobytes() if mask_limit else None
    return mask.shape, data, mask.dtype.str, found


class _Declined(Exception):
    """A large mask among small ones: sending it back would hold it twice, and up to
    a batch's worth of them in the parent at once. The writer converts it instead."""


def serve(source: BinaryIO, out: BinaryIO) -> None:
    """The child's loop: a batch of conversions per request until stdin closes.

    Requests are read by a thread as they come, so that the parent's writes
    never wait for this child to finish writing an answer (which would wait for
    the parent to read it: a deadlock)."""
    requests: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                requests.put(_receive(source))
        except Exception:  # EOF or a broken pipe: the parent is done
            requests.put(None)

    threading.Thread(target=read, daemon=True).start()
    with contextlib.suppress(BrokenPipeError):  # the parent went away: nobody to answer
        _send(out, _READY)
        _answer(requests, out)


def _answer(requests: queue.SimpleQueue, out: BinaryIO) -> None:
    while (batch := requests.get()) is not None:
        answers = []
        for request in batch:
            try:
                answers.append((True, _convert(*request)))
            except _Declined:
                answers.append((None, None))
            except Exception as e:  # sent back, raised in the exporter as if converted there
                answers.append((False, e))
        try:
            _send(out, answers)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(out, [(ok, value if ok else RuntimeError(str(value))) for ok, value in answers])


def main() -> None:
    # The answers get a copy of stdout; stdout itself then points at stderr, so
    # that a stray print or a library's warning cannot corrupt them.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, answers)
