"""Scenario files run after the Python scenarios, so that a file re-expressing one (its `twin`) can compare
its record's checks with the twin's record of the same session."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("scenario_file") is not None)
