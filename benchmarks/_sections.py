"""Generated documents assembled from independently generated sections.

RELIABILITY.md holds the store's soak (``benchmarks/soak.py``) and the server's reliability runs
(``benchmarks/reliability_report.py``); each generator rewrites only its own section, between
``<!-- section:NAME -->`` markers, so one re-run never drops the other's figures.
"""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = "# Reliability\n\nEach section below is written by code from one run; its own first lines say which.\n"


def replace_section(path: Path, name: str, body: str) -> None:
    """Write ``body`` as section ``name`` of ``path`` (created with a header if missing), keeping
    every other section as it is."""
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    if begin not in text and not text.startswith("# Reliability\n\nEach section"):
        text = _HEADER  # a file from before sections: regenerated section by section
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    text = pattern.sub(lambda _: block, text) if begin in text else text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")
