"""Isolation promises of the code sandbox, each checked from outside on a real sandbox.

- no sample can read anything of another sample (not even freed memory of the runner);
- everything a sample can pin (shared memory, memfds, tmpfs files) is bounded on the host;
- the working directory cannot be turned against the harness;
- no nested user namespaces, no site-packages;
- whatever a candidate writes on its result channel fails that sample alone, in bounded time.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

import rewardlab
from rewardlab.runtime import Sandbox, SandboxJob, SandboxLimits, available_backends

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
BACKENDS = available_backends()
if STRICT and "bwrap" not in BACKENDS:
    raise RuntimeError("bubblewrap is required when REWARDLAB_STRICT_TESTS=1")
needs_sandbox = pytest.mark.skipif(not BACKENDS, reason="no sandbox backend works here (install bubblewrap)")

# Planted by an earlier sample; a later one must not find it anywhere in its memory.
# The scanning code never holds the whole marker: it looks for the head and compares the tail.
HEAD, TAIL = "QX7-leak-marker-", "5f0c9e21"
MARKER = HEAD + TAIL

MEMORY_SCAN = f"""
import ctypes
def scan():
    head, tail = {HEAD!r}.encode(), {TAIL!r}.encode()
    found, scanned = [], 0
    with open("/proc/self/maps") as fh:
        maps = fh.read().splitlines()
    for line in maps:
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        name = parts[5] if len(parts) > 5 else ""
        if not parts[1].startswith("r") or name in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
            continue
        for start in range(lo, hi, 1 << 20):
            size = min(1 << 20, hi - start)
            try:
                blob = ctypes.string_at(start, size + (len(head) + len(tail) if start + size < hi else 0))
            except Exception:
                continue
            scanned += size
            at = blob.find(head)
            while at >= 0:
                if blob[at + len(head): at + len(head) + len(tail)] == tail:
                    found.append(name or hex(start))
                at = blob.find(head, at + 1)
    return [scanned, found]
"""


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reuse", [True, False], ids=["reused", "fresh"])
def test_no_sample_can_read_another_samples_memory(backend: str, reuse: bool) -> None:
    planted = f"SECRET = {MARKER!r} * 50\ndef f(x):\n    return {MARKER!r}\n"
    with Sandbox(backend, SandboxLimits(wall_s=20.0), reuse=reuse) as box:
        for _ in range(3):
            first = box.run(
                SandboxJob("calls", planted, [{"expr": f"candidate({MARKER!r})"}], entry_point="f", setup="import os")
            )
            assert {"i": 0, "value": MARKER} in first.frames
        tested = box.run(SandboxJob("calls", MEMORY_SCAN, [{"expr": "candidate()"}], entry_point="scan"))
        values = [f["value"] for f in tested.frames if "value" in f]
        assert values, tested
        scanned, found = values[0]
        assert scanned > 5_000_000, "the scan must cover the process's memory"
        assert found == [], f"an earlier sample's marker is readable in {found}"
        if reuse:
            assert len(box._idle) == 1  # the same worker ran every job


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _shmem_mib() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no Shmem line in /proc/meminfo")


class _HostMemoryWatch:
    """Peak host memory held by this process's sandboxes: their processes' PSS plus new shared memory."""

    def __init__(self) -> None:
        # Processes this test process already had (reused workers of earlier tests, pools) are not ours.
        self.existing = set(_descendants(os.getpid()))
        self.base = _shmem_mib()
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            fresh = [pid for pid in _descendants(os.getpid()) if pid not in self.existing]
            held = _pss_mib(fresh) + max(0.0, _shmem_mib() - self.base)
            self.peak = max(self.peak, held)
            time.sleep(0.05)

    def __enter__(self) -> _HostMemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


PIN_MEMORY = r"""
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
MB = 1024 * 1024
def pin():
    got = {"shm": 0, "memfd": 0, "msg": 0, "tmpfs": 0}
    for _ in range(12):  # System V shared memory survives detaching
        ident = libc.shmget(0, 64 * MB, 0o1600)
        if ident < 0:
            break
        addr = libc.shmat(ident, None, 0)
        ctypes.memset(addr, 1, 64 * MB)
        libc.shmdt(ctypes.c_void_p(addr))
        got["shm"] += 64
    keep = []
    for _ in range(40):  # memfds live on while a descriptor does, outside the address space
        try:
            fd = os.memfd_create("pin")
            os.ftruncate(fd, 15 * MB)
            os.pwrite(fd, b"x" * (15 * MB), 0)
        except OSError:
            break
        keep.append(fd)
        got["memfd"] += 15
    if libc.msgget(0, 0o1600) >= 0:
        got["msg"] = 1
    for where in ("/tmp", "."):
        for i in range(8):
            try:
                with open(f"{where}/pin{i}", "wb") as fh:
                    fh.write(b"x" * (8 * MB))
                got["tmpfs"] += 8
            except OSError:
                break
    time.sleep(1.5)
    return got
"""


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_memory_and_memfds_cannot_pin_host_memory(backend: str) -> None:
    limits = SandboxLimits(wall_s=15.0, memory_mb=256, tmpfs_mb=64)
    with _HostMemoryWatch() as watch, Sandbox(backend, limits) as box:
        result = box.run(SandboxJob("calls", PIN_MEMORY, [{"expr": "candidate()"}], entry_point="pin"))
    values = [f["value"] for f in result.frames if "value" in f]
    assert values, result
    got = values[0]["$dict"] if isinstance(values[0], dict) and "$dict" in values[0] else values[0]
    got = dict(got) if isinstance(got, list) else got
    assert got["shm"] == 0 and got["memfd"] == 0 and got["msg"] == 0, got  # refused by the seccomp filter
    assert got["tmpfs"] <= 2 * limits.tmpfs_mb, got
    # Measured from here: the sandbox never held more than its limit plus its own tmpfs.
    assert watch.peak < limits.memory_mb + 2 * limits.tmpfs_mb + 64, watch.peak


FORK_AND_FILL = r"""
import os, time
def fill():
    for _ in range(6):
        if os.fork() == 0:
            block = bytearray(180 * 1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(30)
            os._exit(0)
    time.sleep(4)
    return 1
"""


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sandbox_holds_at_most_its_memory_limit_across_processes(backend: str) -> None:
    from rewardlab.runtime._sandbox import MEMORY_HEADROOM_MB, memory_cgroup_support

    if memory_cgroup_support() is None:
        if STRICT:
            pytest.fail("a writable memory cgroup is required when REWARDLAB_STRICT_TESTS=1")
        pytest.skip("no writable memory cgroup here: memory is bounded per process only (documented)")
    limits = SandboxLimits(wall_s=8.0, memory_mb=256)
    with _HostMemoryWatch() as watch, Sandbox(backend, limits) as box:
        box.run(SandboxJob("calls", FORK_AND_FILL, [{"expr": "candidate()"}], entry_point="fill"))
    # Six processes of 180 MiB each would be over 1 GiB; the cgroup keeps the whole tree under its limit.
    assert watch.peak < limits.memory_mb + MEMORY_HEADROOM_MB + 96, watch.peak


# -- no expected value inside the sandbox in decomposed mode ---------------------------
ANSWER = 7_391_046_225
WRAPPED_VERDICTS = [
    f"assert (f(3) == {ANSWER}) == True",
    f"assert (f(3) == {ANSWER}) is True",
    f"assert True == (f(3) == {ANSWER})",
    f"assert not (f(3) != {ANSWER})",
    f"assert (f(3) != {ANSWER}) is False",
]
NOT_DECOMPOSABLE = [
    f"assert all(f(x) == y for x, y in [(3, {ANSWER})])",
    f"assert f(3) - {ANSWER} == 0",
    f"assert [f(3)][0] == {ANSWER}",
    f"assert f(f(3) == {ANSWER}) == 1",
    f"assert (f(3) if True else {ANSWER}) == {ANSWER}",
]
ALWAYS_EQUAL = (
    "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
    "    def __bool__(self): return True\n    def __sub__(self, o): return 0\n    __hash__ = object.__hash__\n"
    "def f(x):\n    return A()"
)
READ_CONSTS = (
    "import sys\ndef f(x):\n    found = []\n    frame = sys._getframe(1)\n    while frame is not None:\n"
    "        found += [c for c in frame.f_code.co_consts if type(c) is int and c != x]\n"
    "        frame = frame.f_back\n    return max(found, default=0)"
)


def test_sandbox_side_expressions_hold_no_expected_value() -> None:
    from rewardlab.rewards.code._code_tests import CallCheck, TrustedTest, suite_from_asserts, suite_from_check

    suite = suite_from_asserts(WRAPPED_VERDICTS + NOT_DECOMPOSABLE, entry_point="f")
    checks = suite.cases[: len(WRAPPED_VERDICTS)]
    assert all(isinstance(c, CallCheck) and c.call == {"expr": "f(3)"} for c in checks), checks
    assert [c.compare for c in checks] == ["eq"] * 5  # type: ignore[union-attr]
    assert all(isinstance(c, TrustedTest) for c in suite.cases[len(WRAPPED_VERDICTS) :]), suite.cases
    humaneval = suite_from_check(f"def check(candidate):\n    assert (candidate(3) == {ANSWER}) is True\n", "f")
    assert humaneval.trusted == 0 and humaneval.cases[0].call == {"expr": "candidate(3)"}  # type: ignore[union-attr]
    for case in suite.cases:
        if isinstance(case, CallCheck):
            assert str(ANSWER) not in str(case.call)


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("code", [ALWAYS_EQUAL, READ_CONSTS], ids=["always-equal", "read-co-consts"])
def test_wrapped_verdicts_are_judged_outside(code: str, backend: str) -> None:
    reward = rewardlab.load("code", backend=backend, timeout=5.0)
    rows = [{"completion": code, "tests": [test]} for test in WRAPPED_VERDICTS]
    rows.append(
        {
            "completion": code,
            "test": WRAPPED_VERDICTS[1]
            .replace("f(", "candidate(")
            .replace("assert", "def check(candidate):\n    assert"),
            "entry_point": "f",
        }
    )
    for row, score in zip(rows, reward.score(rows), strict=True):
        assert score.value == 0.0, (row, score)
        assert "trusted-test mode" not in score.reason
    for test in NOT_DECOMPOSABLE:
        score = reward.score([{"completion": "def f(x):\n    return 0", "tests": [test]}])[0]
        assert "trusted-test mode" in score.reason and score.components["trusted_tests"] == 1.0, score


# -- the working directory cannot be turned against the harness ------------------------
SABOTAGE = """
import os, shutil
for name in ("prog.py", ".stdin"):
    try:
        os.remove(name)
    except OSError:
        pass
    try:
        os.mkdir(name)
        os.mkdir(name + "/sub")
        os.chmod(name, 0)
    except OSError:
        pass
try:
    with open("fill", "ab") as fh:
        while True:
            fh.write(b"x" * (1 << 20))
except OSError:
    pass
try:
    os.chmod(".", 0o500)
except OSError:
    pass
n = int(input())
print(ANSWER)
"""


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reuse", [True, False], ids=["reused", "fresh"])
def test_stdin_programs_cannot_break_the_harness_through_the_workdir(backend: str, reuse: bool) -> None:
    reward = rewardlab.load("code", backend=backend, timeout=5.0, reuse=reuse, credit="fraction")
    io = [{"stdin": f"{n}\n", "stdout": f"{2 * n}\n"} for n in range(4)]
    wrong, right = reward.score(
        [
            {"completion": SABOTAGE.replace("ANSWER", "-1"), "io": io},
            {"completion": SABOTAGE.replace("ANSWER", "2 * n"), "io": io},
        ]
    )
    assert wrong.status.value == "ok" and wrong.value == 0.0, wrong
    # Vandalising its own working directory changes nothing for the harness: only the output counts.
    assert right.status.value == "ok" and right.value == 1.0, right.reason
    after = reward.score([{"completion": "print(2 * int(input()))", "io": io}])[0]
    assert after.value == 1.0, after.reason


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reused_worker_outlives_the_thread_that_started_it(backend: str) -> None:
    # bubblewrap's --die-with-parent follows the starting *thread*; a batch's thread pool
    # ends after every batch, and its workers must not die with it (a spurious 0 for the next sample).
    job = SandboxJob("calls", "def f(x):\n    return x", [{"expr": "candidate(2)"}], entry_point="f")
    with Sandbox(backend, SandboxLimits(wall_s=10.0), reuse=True) as box:
        thread = threading.Thread(target=box.run, args=(job,))
        thread.start()
        thread.join()
        time.sleep(0.3)
        worker = box._idle[0]
        result = box.run(job)
        assert {"i": 0, "value": 2} in result.frames, result
        assert box._idle == [worker] and worker.jobs_done == 2


# -- no nested user namespaces, no installed packages ------------------------------------
NAMESPACES_AND_PACKAGES = r"""
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x00020000, 0x40000000
def probe():
    found = []
    for flags in (CLONE_NEWUSER, CLONE_NEWUSER | CLONE_NEWNS, CLONE_NEWUSER | CLONE_NEWNET, CLONE_NEWNET):
        if libc.unshare(flags) == 0:
            found.append(f"unshare {flags:#x}")
    # clone(2) straight, as a fork that asks for a new user namespace
    pid = libc.syscall(56, CLONE_NEWUSER | 17, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        found.append("clone NEWUSER")
        os.waitpid(pid, 0)
    for tool in ("/usr/bin/unshare", "/usr/bin/bwrap"):
        if os.path.exists(tool):
            argv = [tool, "--user", "true"]
            if "bwrap" in tool:
                argv = [tool, "--unshare-user", "--bind", "/", "/", "true"]
            run = subprocess.run(argv, capture_output=True)
            if run.returncode == 0:
                found.append(tool)
    for path in HIDDEN:
        if os.path.isdir(path) and os.listdir(path):
            found.append(path)
    for top in ("/usr", "/root", "/opt", "/work", "/home"):
        for root, dirs, files in os.walk(top):
            if any(name.lower().startswith("humaneval") for name in files):
                found.append(root)
    return found
"""


@needs_sandbox
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_nested_user_namespaces_and_no_installed_packages(backend: str) -> None:
    from rewardlab.runtime._sandbox import _hidden_paths

    hidden = _hidden_paths()
    assert sys.base_prefix in " ".join(hidden) and sys.prefix in " ".join(hidden)
    code = NAMESPACES_AND_PACKAGES.replace("HIDDEN", repr(hidden))
    with Sandbox(backend, SandboxLimits(wall_s=20.0)) as box:
        result = box.run(SandboxJob("calls", code, [{"expr": "candidate()"}], entry_point="probe"))
    assert {"i": 0, "value": []} in result.frames, result.frames
