"""`hfchat serve` in a subprocess on a free local port, for notebooks, benchmarks and tests.

Example:
    >>> import httpx
    >>> from hfchat.serving.launch import running_server
    >>> with running_server("runs/tiny/sft") as url:  # doctest: +SKIP
    ...     print(httpx.get(f"{url}/info").json()["model_id"])
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{' '.join(command)} did not start:\n{log.read()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)
