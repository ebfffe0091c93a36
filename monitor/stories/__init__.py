"""One story per event across outlets: fingerprints of an article's text (fingerprint.py) and
the look-up of the story it joins (lookup.py), which reaches archived articles only through
the StoryIndex protocol that monitor.archive implements.

May import: monitor.config, monitor.types, monitor.errors. Start at lookup.py.
"""
