"""The one way this project writes a file: atomically, so that a crash never leaves half a file.

`atomic_write(path, data)` writes to a temporary name in the same folder, then renames it over
`path` (a rename within a file system is atomic). `data` is text, bytes, or a function that
writes the temporary path itself (torch.save, pyarrow's write_table). Every writer of results,
checkpoints, manifests and report pages goes through it: the search's outputs, the results layer
(`benchmark/store.py`), the benchmark's grid.json, the report's pages and tables (figures are
written by matplotlib's savefig).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, data: str | bytes | Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if isinstance(data, str):
            tmp.write_text(data)
        elif isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            data(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: str | Path, obj, indent: int | None = 1) -> Path:
    """`obj` as JSON (with a final newline), atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent) + "\n")
