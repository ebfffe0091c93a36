"""monitor: a scheduled news-monitoring bot."""

import sys

from monitor import _bytecode

__version__ = "0.1.0"

_bytecode.install()  # before any of the package's dataclasses is made (issue 16: start-up)

# httpx's __init__ imports its command-line client when click and rich are installed (as they are
# beside import-linter): about 6 MB of click, rich and pygments in the service for a command it
# never runs (issue 18). None in sys.modules makes that import fail, and httpx then defines a
# `main` that says the CLI's dependencies are missing; monitor never calls it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
