"""Registers the aarya-chaos pytest plugin (options, markers, the `stack` and `chaos` fixtures)."""

pytest_plugins = ["fixtures.plugin"]
