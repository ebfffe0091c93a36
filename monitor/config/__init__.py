"""monitor.toml into frozen records (monitor.types.Config), read once by the CLI and passed down.

May import: monitor.types, monitor.errors. Start at load.py (load_config); values.py holds the
parsers of single values (durations, clock times, digest schedules, networks) that other
packages reuse.
"""
