"""`hfchat serve` in a subprocess on a free port, for the scripts that talk to a real server."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


@contextlib.contextmanager
def running_server(model: str, *flags: str, threads: int = 2):
    """Start ``hfchat serve --model MODEL FLAGS`` (``threads`` torch threads), yield its URL once /health answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(Path(sys.executable).parent / "hfchat"), "serve", "--model", str(model), "--port", str(port), *flags]
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"hfchat serve did not start: {' '.join(command)}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait()
