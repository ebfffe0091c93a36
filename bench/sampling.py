"""A background thread that samples while a `with` block runs (the bench's samplers of CPU,
memory and lag): subclasses write `_run`, looping until `self._stop` is set."""

from __future__ import annotations

import threading
from typing import Self


class Sampling:
    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
