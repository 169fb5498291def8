"""A real ``vecnest serve`` process on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

_URL = re.compile(r"on (http://[^ ]+:\d+)")


class ServerProcess:
    """``python -m vecnest.cli.main serve --db DB --port 0 ARGS`` in a child process.

    ``start()`` waits until ``/v1/health`` answers; ``url`` is then the base URL. Output is
    collected in ``self.output`` (tests print it when something fails).
    """

    def __init__(self, db: Path, args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        self.db = db
        self.args = list(args)
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "vecnest.cli.main", "serve", "--db", str(self.db), "--port", "0", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        found = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                m = _URL.search(line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close()
                raise RuntimeError(f"vecnest serve exited with {self.proc.returncode}:\n{''.join(self.output)}")
            if found.is_set():
                try:
                    if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"vecnest serve did not come up in {timeout} s:\n{''.join(self.output)}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self._close()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the graceful shutdown path; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._close()
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.terminate(30)
        except subprocess.TimeoutExpired:
            self.kill()
