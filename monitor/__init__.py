"""monitor: a scheduled news-monitoring bot."""

from monitor import _bytecode

__version__ = "0.1.0"

_bytecode.install()  # before any of the package's dataclasses is made (issue 16: start-up)
