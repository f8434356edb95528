"""Find and remove what carries the aarya-chaos run label: containers, then networks, then volumes.

A crashed run (SIGKILL, a lost terminal) leaves its containers running; the next start of the same run
directory, `aarya-chaos heal`/`down`, or `python -m stack.drivers.docker clean` removes them by label:

    from stack.drivers.docker.cleanup import remove_labelled
    removed = remove_labelled(run_id_for(config))     # one run
    removed = remove_labelled(None)                   # every aarya-chaos run on this engine

Nothing without the label is touched. It never raises for an engine that is not there (nothing to clean).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import docker
from docker.errors import APIError, DockerException, NotFound

from .engine import docker_client, engine_reason
from .runfiles import RUN_LABEL

log = logging.getLogger("aarya.docker.cleanup")


@dataclass
class Leftovers:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    def describe(self) -> str:
        parts = [f"{kind}: {', '.join(names)}" for kind, names in
                 (("containers", self.containers), ("networks", self.networks), ("volumes", self.volumes)) if names]
        return "; ".join(parts) or "nothing"


def _filters(run_id: str | None) -> dict[str, str]:
    return {"label": RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"}


def leftovers(run_id: str | None, client: docker.DockerClient | None = None) -> Leftovers:
    """What carries the label of `run_id` (of any run when None)."""
    if client is None and engine_reason() is not None:
        return Leftovers()
    own = client is None
    client = client or docker_client()
    try:
        flt = _filters(run_id)
        return Leftovers(
            containers=sorted(c.name for c in client.containers.list(all=True, filters=flt)),
            networks=sorted(n.name for n in client.networks.list(filters=flt)),
            volumes=sorted(v.name for v in client.volumes.list(filters=flt)),
        )
    finally:
        if own:
            client.close()


def remove_labelled(run_id: str | None, *, volumes: bool = True,
                    client: docker.DockerClient | None = None) -> Leftovers:
    """Force-remove the containers, networks and (unless `volumes=False`) volumes of a run; returns them."""
    if client is None and engine_reason() is not None:
        return Leftovers()
    own = client is None
    client = client or docker_client()
    removed = Leftovers()
    flt = _filters(run_id)
    try:
        for container in client.containers.list(all=True, filters=flt):
            try:
                if container.status == "paused":
                    container.unpause()
                container.remove(force=True, v=False)
                removed.containers.append(container.name)
            except NotFound:
                pass
            except APIError as exc:
                log.error("could not remove container %s: %s", container.name, exc)
        for network in client.networks.list(filters=flt):
            try:
                network.remove()
                removed.networks.append(network.name)
            except NotFound:
                pass
            except APIError as exc:
                log.error("could not remove network %s: %s", network.name, exc)
        if volumes:
            for volume in client.volumes.list(filters=flt):
                try:
                    volume.remove(force=True)
                    removed.volumes.append(volume.name)
                except NotFound:
                    pass
                except APIError as exc:
                    log.error("could not remove volume %s: %s", volume.name, exc)
    except DockerException as exc:
        log.error("clean-up by label %s stopped: %s", flt["label"], exc)
    finally:
        if own:
            client.close()
    if removed:
        log.info("removed by label %s: %s", flt["label"], removed.describe())
    return removed
