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
    MEMORY_HEADROOM_MB,
    Sandbox,
    SandboxBackend,
    SandboxError,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    SandboxWorker,
    available_backends,
    memory_cgroup_support,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_S",
    "CallResult",
    "PoolClosed",
    "Runner",
    "WorkerPool",
    "default_workers",
    "MEMORY_HEADROOM_MB",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SandboxJob",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "SandboxWorker",
    "available_backends",
    "memory_cgroup_support",
]
