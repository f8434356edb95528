"""The engine's objects listed into cleanup's dataclasses, and the removal of exactly what `removable`
answers (containers first, then networks, then volumes). Only objects carrying this run's label are listed
by label; the volumes are listed whole so a volume's users are known (a team's volume is never removable:
it does not carry the label)."""

from __future__ import annotations

from typing import Any

from docker.errors import APIError, NotFound

from .cleanup import ContainerInfo, Listing, NetworkInfo, Removal, VolumeInfo, removable
from .labels import RUN_LABEL


def listing(client: Any, run_id: str) -> Listing:
    """Containers (all of the engine, with labels), the run's networks, and every volume with its users."""
    containers = client.containers.list(all=True)
    used_by: dict[str, set[str]] = {}
    for container in containers:
        for mount in container.attrs.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                used_by.setdefault(str(mount["Name"]), set()).add(str(container.name))
    networks = client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"})
    volumes = client.volumes.list()
    return Listing(
        tuple(ContainerInfo(str(c.name), dict(c.labels or {})) for c in containers),
        tuple(NetworkInfo(str(n.name), dict(n.attrs.get("Labels") or {})) for n in networks),
        tuple(VolumeInfo(str(v.name), dict(v.attrs.get("Labels") or {}), frozenset(used_by.get(str(v.name), ())))
              for v in volumes),
    )


def remove_run_objects(client: Any, run_id: str) -> Removal:
    """Remove what `removable` allows for `run_id`, and return it."""
    plan = removable(listing(client, run_id), run_id)
    for name in plan.containers:
        try:
            client.containers.get(name).remove(force=True)
        except NotFound:
            pass
    for name in plan.networks:
        try:
            client.networks.get(name).remove()
        except (NotFound, APIError):
            pass
    for name in plan.volumes:
        try:
            client.volumes.get(name).remove()
        except NotFound:
            pass
    return plan
