"""The one way this project writes a file: atomically, so that a crash never leaves half a file.

`atomic_write(path, data)` writes to a temporary name in the same folder, then renames it over
`path` (a rename within a file system is atomic). `data` is text, bytes, or a function that
writes the temporary path itself (torch.save, pyarrow's write_table). Every writer of results,
checkpoints, manifests and report pages goes through it: the search's outputs, the results layer
(`resultstore/store.py`), the benchmark's grid.json, the report's pages and tables (figures are
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


class FileError(ValueError):
    """A file this project wrote cannot be read back (cut short, edited, or not what its name
    says); the message is one sentence that names the file."""


def read_json(path: str | Path, hint: str = "restore it from a copy or delete it"):
    """The JSON object in `path`; FileError naming the file where it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f"line {e.lineno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else "not text"
        raise FileError(f"{path} is not valid JSON ({where}): it was cut short or edited; "
                        f"{hint}") from None


def read_json_object(path: str | Path, hint: str, shape: dict[str, type] | None = None) -> dict:
    """The JSON object in `path`, whose keys of `shape` (where present) hold a value of that type
    (a list of them: objects); FileError naming the file and the first thing amiss, for a file
    edited by hand into another form."""
    obj = read_json(path, hint)
    if not isinstance(obj, dict):
        raise FileError(f"{path} holds a JSON {type(obj).__name__}, not an object; {hint}")
    for key, kind in (shape or {}).items():
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, dict) for v in value)):
            wanted = "a list of objects" if kind is list else "an object" if kind is dict else kind.__name__
            raise FileError(f"{path}: its {key!r} is not {wanted}; {hint}")
    return obj


def write_json(path: str | Path, obj, indent: int | None = 1) -> Path:
    """`obj` as JSON (with a final newline), atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent) + "\n")


def json_ready(obj):
    """Tuples as lists, as JSON writes them: the form two written configs are compared in."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj


class PathError(ValueError):
    """A path given to a command that it cannot write: one sentence naming the flag and the path."""


def check_writable(path: str | Path, what: str, folder: bool = True) -> Path:
    """`path`, made absolute, where a command can write it: a folder (`folder`) or a file, that
    exists as that kind or can be made under a writable folder; else PathError in one sentence
    that names `what` (the flag) and the path. Nothing is made."""
    path = Path(path).expanduser().absolute()
    kind = "folder" if folder else "file"
    if path.exists() and path.is_dir() != folder:
        raise PathError(f"{what} {path} is a {'file' if folder else 'folder'}, not a {kind}")
    above = path if path.exists() and folder else path.parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise PathError(f"{what} {path} lies under {above}, which is a file")
    if not os.access(above, os.W_OK | os.X_OK):
        raise PathError(f"{what} {path} cannot be written: {above} is not writable by this user")
    return path
