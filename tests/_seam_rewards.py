"""Rewards with resources, for the runtime-seam tests (importable by worker processes).

Each setup and close appends ``<event> <pid>`` to the file named by the ``log``
parameter, so a test can count them across processes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator

from rewardlab import Sample, reward


def _event(log: str, what: str) -> None:
    if log:
        with open(log, "a") as handle:
            handle.write(f"{what} {os.getpid()}\n")


def events(log: str) -> list[tuple[str, int]]:
    """``(event, pid)`` pairs written so far."""
    if not os.path.exists(log):
        return []
    with open(log) as handle:
        return [(line.split()[0], int(line.split()[1])) for line in handle if line.strip()]


def _counted(log: str, bonus: float) -> Iterator[Callable[[Sample], float]]:
    _event(log, "setup")
    state = {"open": True}

    def score(sample: Sample) -> float:
        assert state["open"], "scored after close"
        return bonus if sample.completion_text.strip() == str(sample.reference or "").strip() else 0.0

    try:
        yield score
    finally:
        state["open"] = False
        _event(log, "close")


@reward(name="seam_counted", factory=True, placement="resident")
def seam_counted(log: str = "", bonus: float = 1.0) -> Iterator[Callable[[Sample], float]]:
    """Resident: set up once in the process that opened it (a model, a client)."""
    yield from _counted(log, bonus)


@reward(name="seam_counted_process", factory=True, placement="process", timeout=20.0)
def seam_counted_process(log: str = "", bonus: float = 1.0) -> Iterator[Callable[[Sample], float]]:
    """Process placement: set up once in each worker process that scores it."""
    yield from _counted(log, bonus)


@reward(name="seam_counted_inline", factory=True)
def seam_counted_inline(log: str = "", bonus: float = 1.0) -> Iterator[Callable[[Sample], float]]:
    """Inline: set up once per process that scores it (the caller, or each worker a batch is shipped to)."""
    yield from _counted(log, bonus)


class LineClient:
    """One persistent TCP connection to a line server, bound to the event loop that opened it.

    Its streams and lock belong to that loop: using it from another loop fails,
    as an HTTP client's connection pool would.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.loop = asyncio.get_running_loop()
        self.lock = asyncio.Lock()
        self.requests = 0

    @classmethod
    async def connect(cls, port: int) -> LineClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def ask(self, text: str) -> str:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("client used from another event loop")
        async with self.lock:
            self.writer.write(text.replace("\n", " ").encode() + b"\n")
            await self.writer.drain()
            self.requests += 1
            return (await self.reader.readline()).decode().strip()

    async def aclose(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


CLIENTS: list[LineClient] = []
"""Every client the judge opened in this process (tests check there is one)."""


@reward(name="seam_judge", factory=True, placement="resident")
async def seam_judge(port: int = 0, log: str = "") -> AsyncIterator[Callable[[Sample], object]]:
    """An async judge: asks a server on loopback whether the completion is right."""
    client = await LineClient.connect(port)
    CLIENTS.append(client)
    _event(log, "setup")

    async def score(sample: Sample) -> float:
        verdict = await client.ask(f"{sample.completion_text}\t{sample.reference}")
        return 1.0 if verdict == "yes" else 0.0

    yield score
    await client.aclose()
    _event(log, "close")


@reward(name="seam_sleepy_async")
async def seam_sleepy_async(sample: Sample, *, seconds: float = 0.3) -> float:
    await asyncio.sleep(seconds)
    return 1.0


@reward(name="seam_nested")
def seam_nested(sample: Sample) -> float:
    """A sync reward that scores with another reward inside (runs on the reward loop's thread)."""
    import rewardlab

    return rewardlab.load("exact_match").score([sample])[0].value or 0.0
