"""The docker driver: the stack of docker-compose.test.yml, built locally, driven through the Docker API.

    from stack.drivers.docker import DockerDriver, ensure_engine, remove_labelled
"""

from .cleanup import leftovers, remove_labelled
from .driver import DockerDriver, DockerMemoryLimit, EngineUnavailable
from .engine import ensure_all, ensure_compose, ensure_engine
from .runfiles import run_id_for

__all__ = ["DockerDriver", "DockerMemoryLimit", "EngineUnavailable", "ensure_all", "ensure_compose",
           "ensure_engine", "leftovers", "remove_labelled", "run_id_for"]
