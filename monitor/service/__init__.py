"""A pass, and the service that runs passes: pipeline.py (fetch → analyse → group → archive →
queue alerts), workers.py (parser processes), grouping.py (story placement in a pass),
scheduler.py (`monitor run`'s jobs), health.py (/healthz, /metrics), metrics.py (what
/metrics shows: imported only when it is served), lock.py (the writer lock), logs.py (one
key=value line per event).

May import every stage below it (alerts, archive, ingest, rules, stories, config). Start at
pipeline.py: its docstring shows the whole flow.
"""
