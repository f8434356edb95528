"""The reports of a run, from its summary.json and the saved histories; this package imports nothing."""
