"""Execution runtime: the runner, worker processes with deadlines enforced from outside the work, and sandboxes."""

from rewardlab.runtime._pool import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    CallResult,
    PoolClosed,
    WorkerPool,
    default_workers,
)
from rewardlab.runtime._runner import Runner
from rewardlab.runtime._sandbox import (
    Sandbox,
    SandboxBackend,
    SandboxError,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    SandboxWorker,
    available_backends,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "CallResult",
    "PoolClosed",
    "Runner",
    "WorkerPool",
    "default_workers",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SandboxJob",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "SandboxWorker",
    "available_backends",
]
