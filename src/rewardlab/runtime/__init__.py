"""Execution runtime: worker processes with deadlines enforced from outside the work."""

from rewardlab.runtime._pool import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    CallResult,
    PoolClosed,
    WorkerPool,
    default_pool,
    default_workers,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "CallResult",
    "PoolClosed",
    "WorkerPool",
    "default_pool",
    "default_workers",
]
