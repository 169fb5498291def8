"""Reading JSON Lines files (plain or gzip) one object at a time, with errors that name the line."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from vecnest.errors import InvalidInputError


def open_text(path: Path) -> IO[str]:
    """Open ``path`` for reading as UTF-8 text, decompressing ``.gz`` files."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115


def iter_jsonl(path: Path, error: type[InvalidInputError] = InvalidInputError) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line.

    Raises:
        error: a line is not valid JSON or not a JSON object (the message names file and line).
    """
    with open_text(path) as fh:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:
                raise error(
                    f"{path}:{lineno + 1}: not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} "
                    f"cannot be decoded); re-encode the file as UTF-8"
                ) from None
            except (OSError, EOFError, zlib.error) as exc:  # a damaged or truncated .gz
                raise error(f"{path}:{lineno + 1}: cannot read the file ({exc}); is it a complete gzip file?") from None
            if not line:
                return
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise error(f"{path}:{lineno}: expected a JSON object per line")
            yield lineno, obj
