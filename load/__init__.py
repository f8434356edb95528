"""The load generator: locust journeys (load/locustfile.py, run only by locust), the runner that starts
them as subprocesses, and the history format. Importing this package never imports locust."""

from load.runner import LoadProfile, LoadRun, LoadSummary

__all__ = ["LoadProfile", "LoadRun", "LoadSummary"]
