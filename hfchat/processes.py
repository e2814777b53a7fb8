"""How hfchat starts processes of its own: a free local port, and the command that runs a recipe.

Example:
    >>> from pathlib import Path
    >>> from hfchat.processes import recipe_command
    >>> command = recipe_command("sft", ["--config", "recipes/tiny/sft.yaml"], processes=2)
    >>> command[1:3], Path(command[-3]).name, command[-2:]
    (['-m', 'accelerate.commands.launch'], 'sft.py', ['--config', 'recipes/tiny/sft.yaml'])
"""

import socket
import sys

from .files import shipped


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recipe_command(stage: str, args: list[str], processes: int, gpu: bool = False) -> list[str]:
    """The command that runs ``recipes/<stage>.py ARGS``: under `accelerate launch` with ``processes`` processes
    (``accelerate_configs/ddp.yaml`` on GPUs, ``cpu.yaml`` else, on a free rendezvous port, so two runs on one
    machine do not collide), or with plain python for one process (accelerate refuses a multi-process config with
    one process; python does the same job)."""
    recipe = str(shipped("recipes") / f"{stage}.py")
    if processes == 1:
        return [sys.executable, recipe, *args]
    config = shipped("accelerate_configs") / ("ddp.yaml" if gpu else "cpu.yaml")
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
        "--num_processes", str(processes), "--main_process_port", str(free_port()), recipe, *args,
    ]  # fmt: skip
