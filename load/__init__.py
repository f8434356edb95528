"""The load generator: locust journeys (load/locustfile.py, run only by locust), the runner that starts
them as subprocesses (load.runner: LoadProfile, LoadRun, LoadSummary), and the history format
(load.history). This package imports nothing: importing load.history does not load the runner."""
