"""`hfchat serve` in a subprocess on a free local port, for notebooks, benchmarks and tests.

Example:
    >>> import httpx
    >>> from hfchat.serving.launch import running_server
    >>> with running_server("runs/tiny/sft") as url:  # doctest: +SKIP
    ...     print(httpx.get(f"{url}/info").json()["model_id"])
"""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ..processes import free_port


@contextlib.contextmanager
def running_server(model, *flags: str, threads: int | None = None, env: dict | None = None, timeout: float = 120):
    """Start ``hfchat serve --model MODEL --port P FLAGS`` and yield ``http://127.0.0.1:P`` once ``/health`` answers;
    stop it on exit. ``threads`` sets torch's thread count; ``env`` replaces the environment. A server that exits
    or does not answer within ``timeout`` seconds raises `RuntimeError` with the end of its output."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "hfchat"), "serve", "--model", str(model), "--port", str(port), *flags]
    env = dict(os.environ if env is None else env)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    url = f"http://127.0.0.1:{port}"
    with running_process(command, f"{url}/health", env=env, timeout=timeout):
        yield url


@contextlib.contextmanager
def running_process(command: list[str], ready_url: str, env: dict | None = None, cwd=None, timeout: float = 120):
    """Run ``command`` until the block ends, entering it once ``ready_url`` answers 200; a process that exits or
    does not answer within ``timeout`` seconds raises `RuntimeError` with the end of its output."""
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{' '.join(command)} did not start:\n{log.read()[-3000:]}")
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)
