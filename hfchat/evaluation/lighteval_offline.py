"""Make a lighteval 0.13 environment start offline: run with that environment's python (`make setup` does).

Every lighteval command imports all of lighteval's builtin task modules, and `lighteval/tasks/tasks/tiny_benchmarks.py`
downloads `tinyBenchmarks.pkl` from GitHub at import unless a file of that name sits beside it, so without network
every command fails with a ConnectionError. The file is only read when a tinyBenchmarks task is aggregated (and then
from another, relative path), so an empty placeholder is enough. Also checks `xxhash < 4`: lighteval hashes `str`
prompts with `xxhash.xxh64`, which xxhash 4 refuses ("Strings must be encoded before hashing").
"""

import importlib.metadata
import importlib.util
import sys
from pathlib import Path


def main() -> int:
    spec = importlib.util.find_spec("lighteval")  # locates the package without importing its task modules
    if spec is None or spec.origin is None:
        print(f"lighteval is not installed in {sys.prefix}", file=sys.stderr)
        return 1
    placeholder = Path(spec.origin).parent / "tasks" / "tasks" / "tinyBenchmarks.pkl"
    if not placeholder.parent.is_dir():
        print(f"{placeholder.parent} not found: is this lighteval 0.13?", file=sys.stderr)
        return 1
    if not placeholder.exists():
        placeholder.touch()
        print(f"created the empty placeholder {placeholder}")
    xxhash = importlib.metadata.version("xxhash")
    if int(xxhash.split(".")[0]) >= 4:
        print(f"xxhash {xxhash} is installed; lighteval 0.13 needs xxhash<4", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
