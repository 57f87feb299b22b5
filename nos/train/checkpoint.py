"""Files a training writes: atomic (a temporary file in the same folder, then a rename, so a
reader or a restarted job sees the old file, no file, or the whole new one; never a torn one)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_atomic(path: str | os.PathLike, payload: Any) -> None:
    """``torch.save(payload)`` to ``path`` atomically (readable by all, like a plain file)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def load(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """What :func:`save_atomic` wrote (tensors, numbers, strings, lists and dicts only); a
    ValueError names the file when it cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(f"{str(path)!r} is not a readable {what} ({str(err).splitlines()[0]}); delete it") from None
