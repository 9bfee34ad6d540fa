"""Parse worker processes that the event loop feeds and reads itself, through one socket per worker.

``concurrent.futures.ProcessPoolExecutor`` moves every job and result through two threads of the polling
process (a feeder pickling into a queue, a manager waiting on the pipes and unpickling). Those threads
took ~1.1 s of CPU in a 1,000-feed first poll and fought the event loop and the SQLite thread for the GIL.
Here the loop sends and receives without blocking, between its other callbacks, and nothing else runs.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import socket
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from typing import ParamSpec, TypeVar

from feeds.parse_worker import FRAME_HEADER, serve_parse_jobs

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# A feed body (~140 KB) or its parsed items (~90 KB) then go through in one call instead of several.
_SOCKET_BUFFER = 1 << 20
_READ_SIZE = 1 << 20


class _Worker:
    __slots__ = ("channel", "outgoing", "process", "received", "waiting")

    def __init__(self, process: BaseProcess, channel: socket.socket) -> None:
        self.process = process
        self.channel = channel
        self.waiting: deque[Future[object]] = deque()  # jobs sent, oldest first: answers come in order
        self.outgoing: deque[memoryview] = deque()  # frames (or their rest) the socket had no room for
        self.received = bytearray()  # the start of a frame still arriving


class ParsePool(Executor):
    """``count`` worker processes running ``feeds.parse_worker.serve_parse_jobs``; jobs go to the worker
    with the fewest waiting. Submit from the event loop's thread only. When a worker dies, every job it
    held fails with ``BrokenProcessPool`` and so does every later submit, as with a process pool."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken: str | None = None
        self._closed = False
        for _ in range(count):
            ours, theirs = socket.socketpair()
            for end in (ours, theirs):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            process = context.Process(target=serve_parse_jobs, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            ours.setblocking(False)
            self._workers.append(_Worker(process, ours))

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Send ``fn(*args, **kwargs)`` to a worker; its outcome arrives when the loop next reads."""
        if self._broken is not None:
            raise BrokenProcessPool(self._broken)
        if self._closed:
            raise RuntimeError("cannot schedule new jobs after the parse pool was shut down")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            for worker in self._workers:
                loop.add_reader(worker.channel.fileno(), self._read, worker)
        elif loop is not self._loop:
            raise RuntimeError("a parse pool serves the event loop it was first used from only")
        data = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        worker = min(self._workers, key=lambda w: len(w.waiting))
        future: Future[T] = Future()
        worker.waiting.append(future)  # type: ignore[arg-type]  # results are checked by the caller's type
        self._send(worker, FRAME_HEADER.pack(len(data)))
        self._send(worker, data)
        return future

    def _send(self, worker: _Worker, data: bytes) -> None:
        if worker.outgoing:
            worker.outgoing.append(memoryview(data))
            return
        try:
            sent = worker.channel.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as e:
            self._break(f"a parse worker process stopped unexpectedly ({e.strerror or e})")
            return
        if sent < len(data):
            worker.outgoing.append(memoryview(data)[sent:])
            assert self._loop is not None
            self._loop.add_writer(worker.channel.fileno(), self._write, worker)

    def _write(self, worker: _Worker) -> None:
        while worker.outgoing:
            rest = worker.outgoing[0]
            try:
                sent = worker.channel.send(rest)
            except BlockingIOError:
                return
            except OSError as e:
                self._break(f"a parse worker process stopped unexpectedly ({e.strerror or e})")
                return
            if sent < len(rest):
                worker.outgoing[0] = rest[sent:]
                return
            worker.outgoing.popleft()
        assert self._loop is not None
        self._loop.remove_writer(worker.channel.fileno())

    def _read(self, worker: _Worker) -> None:
        try:
            chunk = worker.channel.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._break("a parse worker process stopped unexpectedly")
            return
        received = worker.received
        received += chunk
        start = 0
        while len(received) - start >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(received, start)
            end = start + FRAME_HEADER.size + size
            if len(received) < end:
                break
            with memoryview(received) as view:
                try:
                    ok, value = pickle.loads(view[start + FRAME_HEADER.size : end])
                except Exception as e:  # e.g. an exception class whose constructor unpickling cannot call
                    ok, value = False, RuntimeError(f"a parse worker's answer could not be read: {e!r}")
            start = end
            future = worker.waiting.popleft()
            if future.set_running_or_notify_cancel():  # False: cancelled, nobody waits for it
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        del received[:start]

    def _break(self, reason: str) -> None:
        if self._broken is not None:
            return
        self._broken = reason
        log.error("%s", reason)
        self._stop_workers(BrokenProcessPool(reason), kill=True)

    def _stop_workers(self, error: BaseException, *, kill: bool) -> None:
        for worker in self._workers:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(worker.channel.fileno())
                self._loop.remove_writer(worker.channel.fileno())
            worker.channel.close()  # a worker reads the end of its input and stops
            worker.outgoing.clear()
            worker.received.clear()
            while worker.waiting:
                future = worker.waiting.popleft()
                if future.set_running_or_notify_cancel():
                    future.set_exception(error)
            if kill and worker.process.is_alive():
                worker.process.kill()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers; jobs still waiting fail (``cancel_futures`` or not: only a loop could wait)."""
        if self._closed:
            return
        self._closed = True
        if self._broken is None:
            self._stop_workers(RuntimeError("the parse pool was shut down"), kill=False)
        if wait:
            for worker in self._workers:
                worker.process.join(timeout=5)
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
