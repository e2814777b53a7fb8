"""Run untrusted Python (model-written code, calculator expressions) in a limited subprocess.

Each run gets a fresh temporary working directory (deleted afterwards), a scrubbed environment, ``python -I -S``
(no site-packages, no user site, no ``PYTHON*`` variables) and these limits:

- wall time: the whole process group is killed after ``timeout`` seconds (children and grandchildren too);
- memory: ``RLIMIT_AS`` of ``memory_mb``, so a memory bomb ends in ``MemoryError``;
- CPU time ``RLIMIT_CPU`` and file size ``RLIMIT_FSIZE`` caps; stdout and stderr go to files inside the run
  directory and only the first ``max_output`` bytes come back;
- no network: the process moves into a new, empty network namespace when the kernel allows it (root, or
  unprivileged user namespaces), and in every case ``socket`` refuses to create sockets;
- no new processes: ``os.fork``, ``os.system``, ``subprocess`` and friends raise, and ``RLIMIT_NPROC`` is set
  where it applies (not for root);
- no writes outside the run directory: ``open`` for writing, ``os.remove``, ``os.rename``, ``shutil.rmtree`` and
  the like refuse paths outside it.

The in-process guards stop ordinary code, including the usual accidents of model-written programs; they are not a
security boundary against code written to escape them. For hostile code, run hfchat inside a container or VM.

Example:
    >>> from hfchat.tools.sandbox import run_python
    >>> run_python("print(6 * 7)").stdout
    '42\\n'
    >>> run_python("while True: pass", timeout=1).status
    'timeout'
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Runs first in the child: limits, then the guards, then the program. Arguments: memory MiB, file-size cap, seconds.
_GUARD = r'''
import builtins, ctypes, io, os, resource, shutil, socket, subprocess, sys
memory, fsize, seconds = (int(x) for x in sys.argv[1:4])
for limit, value in ((resource.RLIMIT_AS, memory << 20), (resource.RLIMIT_FSIZE, fsize),
                     (resource.RLIMIT_CPU, seconds + 1), (resource.RLIMIT_NPROC, 0), (resource.RLIMIT_CORE, 0)):
    try:
        resource.setrlimit(limit, (value, value))
    except (ValueError, OSError):
        pass
try:  # an empty network namespace: CLONE_NEWNET (root), else with CLONE_NEWUSER (unprivileged)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:
        libc.unshare(0x40000000 | 0x10000000)
except Exception:
    pass
HOME = os.path.realpath(os.getcwd())

def _inside(path):
    if isinstance(path, int):
        return True
    real = os.path.realpath(os.fsdecode(path))
    return real == HOME or real.startswith(HOME + os.sep)

def _refuse(what):
    def refuse(*args, **kwargs):
        raise PermissionError(f"sandbox: {what} is not allowed")
    return refuse

def _checked(function, what, *positions):
    def checked(*args, **kwargs):
        for i in positions:
            if i < len(args) and not _inside(args[i]):
                raise PermissionError(f"sandbox: {what} outside the working directory: {args[i]!r}")
        return function(*args, **kwargs)
    return checked

_open, _os_open = builtins.open, os.open
def _guarded_open(file, mode="r", *args, **kwargs):
    if any(c in mode for c in "wax+") and not _inside(file):
        raise PermissionError(f"sandbox: writing outside the working directory: {file!r}")
    return _open(file, mode, *args, **kwargs)
def _guarded_os_open(path, flags, *args, **kwargs):
    if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC) and not _inside(path):
        raise PermissionError(f"sandbox: writing outside the working directory: {path!r}")
    return _os_open(path, flags, *args, **kwargs)
builtins.open = io.open = _guarded_open
os.open = _guarded_os_open
for name in ("remove", "unlink", "rmdir", "mkdir", "makedirs", "removedirs", "chmod", "chown", "truncate",
             "utime", "mkfifo", "symlink", "link"):
    if hasattr(os, name):
        setattr(os, name, _checked(getattr(os, name), f"os.{name}", 0, 1 if name in ("symlink", "link") else 0))
for name in ("rename", "replace"):
    setattr(os, name, _checked(getattr(os, name), f"os.{name}", 0, 1))
for name in ("rmtree", "move", "copy", "copy2", "copyfile", "copytree", "chown"):
    setattr(shutil, name, _checked(getattr(shutil, name), f"shutil.{name}", 0, 1))
for name in ("fork", "forkpty", "system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle",
             "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "kill",
             "killpg", "setuid", "chroot", "putenv"):
    if hasattr(os, name):
        setattr(os, name, _refuse(f"os.{name}"))
subprocess.Popen = _refuse("subprocess")
socket.socket = socket.create_connection = socket.socketpair = socket.fromfd = _refuse("network access")
for name in ("ctypes", "_posixsubprocess", "multiprocessing", "_socket", "resource"):
    sys.modules[name] = None  # a later import fails
source = _open("main.py", encoding="utf-8").read()
sys.argv = ["main.py"]
del memory, fsize, seconds, limit, value, name
exec(compile(source, "main.py", "exec"), {"__name__": "__main__", "__builtins__": builtins})
'''


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did. ``status`` is "ok", "error" (non-zero exit), "timeout" or "killed" (a signal)."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    truncated: bool

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(
    code: str,
    *,
    timeout: float = 10.0,
    memory_mb: int = 512,
    max_output: int = 64_000,
    stdin: str = "",
) -> SandboxResult:
    """Run ``code`` as a Python program under the limits in the module docstring.

    Args:
        code: the program's source.
        timeout: wall-clock seconds before the process group is killed.
        memory_mb: address-space limit of the process.
        max_output: bytes of stdout (and of stderr) returned; files, stdout included, are capped at 16x that.
        stdin: text fed to the program's standard input.
    """
    if timeout <= 0 or memory_mb <= 0 or max_output <= 0:
        raise ValueError("run_python: timeout, memory_mb and max_output must be positive")
    with tempfile.TemporaryDirectory(prefix="hfchat-sandbox-") as work:
        work_dir = Path(work)
        (work_dir / "main.py").write_text(code, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
        command = [sys.executable, "-I", "-S", "-c", _GUARD, str(memory_mb), str(16 * max_output), str(int(timeout))]
        start = time.monotonic()
        with open(work_dir / ".stdout", "wb") as out, open(work_dir / ".stderr", "wb") as err:
            process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                       start_new_session=True)
            timed_out = False
            try:
                process.communicate(stdin.encode("utf-8"), timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(process.pid)
                process.wait()
        seconds = time.monotonic() - start
        stdout, cut_out = _read_capped(work_dir / ".stdout", max_output)
        stderr, cut_err = _read_capped(work_dir / ".stderr", max_output)
    code_ = process.returncode
    status = "timeout" if timed_out else "ok" if code_ == 0 else "killed" if code_ < 0 else "error"
    return SandboxResult(status, None if timed_out else code_, stdout, stderr, seconds, cut_out or cut_err)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_capped(path: Path, limit: int) -> tuple[str, bool]:
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit
