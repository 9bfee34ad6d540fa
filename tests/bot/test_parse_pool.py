"""bot.parse_pool: real worker processes, fed and read by the event loop through sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool

import pytest

from bot.parse_pool import ParsePool


@pytest.fixture
async def pool() -> AsyncIterator[ParsePool]:
    pool = ParsePool(2)
    try:
        yield pool
    finally:
        pool.shutdown()


async def test_results_come_back_to_their_own_jobs(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    powers = await asyncio.gather(*(loop.run_in_executor(pool, pow, 3, n) for n in range(200)))
    assert powers == [3**n for n in range(200)]
    assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids


async def test_bodies_and_results_larger_than_the_socket_buffers_go_through_whole(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    body = bytes(range(256)) * 20_000  # 5 MB each way, several times the sockets' buffers
    sizes, blobs = await asyncio.gather(
        asyncio.gather(*(loop.run_in_executor(pool, len, body) for _ in range(3))),
        asyncio.gather(*(loop.run_in_executor(pool, bytes, 5_000_000) for _ in range(3))),
    )
    assert sizes == [len(body)] * 3
    assert blobs == [bytes(5_000_000)] * 3


async def test_a_job_that_raises_fails_alone(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(ValueError, match="invalid literal"):
        await loop.run_in_executor(pool, int, "not a number")
    with pytest.raises(RuntimeError, match="could not be sent back"):
        await loop.run_in_executor(pool, eval, "lambda: 0")  # a result that does not pickle
    assert await loop.run_in_executor(pool, int, "42") == 42


class PickyError(Exception):
    """Pickles, but cannot be unpickled: its constructor wants more than its args."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


def raise_picky() -> None:
    raise PickyError("stuck", code=7)


async def test_an_answer_that_cannot_be_read_fails_its_job_alone(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(RuntimeError, match="could not be read: TypeError"):
        await loop.run_in_executor(pool, raise_picky)
    assert await loop.run_in_executor(pool, pow, 2, 5) == 32


async def test_an_abandoned_job_does_not_shift_the_answers_after_it() -> None:
    pool = ParsePool(1)  # one worker: both jobs wait on the same socket
    try:
        loop = asyncio.get_running_loop()
        abandoned = asyncio.ensure_future(loop.run_in_executor(pool, pow, 2, 10))
        kept = asyncio.ensure_future(loop.run_in_executor(pool, pow, 2, 20))
        await asyncio.sleep(0)  # both sent
        abandoned.cancel()
        assert await kept == 2**20
        assert await loop.run_in_executor(pool, pow, 2, 30) == 2**30
    finally:
        pool.shutdown()


async def test_ctrl_c_in_the_terminal_leaves_the_workers_to_the_pool(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    # One job each (a job goes to the worker with the fewest waiting): both are past their start-up.
    assert await asyncio.gather(*(loop.run_in_executor(pool, pow, 2, n) for n in (3, 4))) == [8, 16]
    for pid in pool.pids:
        os.kill(pid, signal.SIGINT)  # as the terminal sends it to the whole process group
    assert await asyncio.gather(*(loop.run_in_executor(pool, pow, 2, n) for n in range(6))) == [
        2**n for n in range(6)
    ]
    pool.shutdown()
    assert all(w.process.exitcode == 0 for w in pool._workers)  # stopped by the closed socket, quietly


async def test_a_killed_worker_breaks_the_pool_and_its_jobs(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(pool, pow, 2, 3) == 8
    for pid in pool.pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool, match="stopped unexpectedly"):
        # Sent before or after the loop hears of the death: either way it fails, it does not hang.
        await loop.run_in_executor(pool, pow, 2, 4)
    with pytest.raises(BrokenProcessPool):
        pool.submit(pow, 2, 5)


async def test_shutdown_stops_the_workers_and_refuses_new_jobs() -> None:
    pool = ParsePool(2)
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(pool, pow, 2, 3) == 8
    pool.shutdown()
    assert all(not w.process.is_alive() for w in pool._workers)  # white box: the worker processes
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(pow, 2, 3)


def test_jobs_are_submitted_from_the_event_loop_only() -> None:
    pool = ParsePool(1)
    try:
        with pytest.raises(RuntimeError, match="no running event loop"):
            pool.submit(pow, 2, 3)
    finally:
        pool.shutdown()
