"""monitor: a scheduled news-monitoring bot."""

__version__ = "0.1.0"
