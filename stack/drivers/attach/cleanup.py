"""What `down` and `heal` of an attached run may remove, decided over listings of the engine's objects.

A team's platform is not ours: its containers, networks and volumes (a real user's data) are never
removed, whatever they are named and whether or not anything uses them. Only an object carrying
`io.aarya-chaos.run=<this run id>` may go; a volume only when it carries that label and no container that
stays behind uses it. The live driver lists the engine's objects into these dataclasses, asks
`removable`, and removes exactly what it answers, containers first.

    plan = removable(Listing(containers, networks, volumes), run_id)
    for line in left_over(Listing(...), run_id): print(line)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .labels import RUN_LABEL


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeInfo:
    """A volume and the containers (by name) that mount it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    used_by: frozenset[str] = frozenset()

    @property
    def in_use(self) -> bool:
        return bool(self.used_by)


@dataclass(frozen=True)
class Listing:
    containers: tuple[ContainerInfo, ...] = ()
    networks: tuple[NetworkInfo, ...] = ()
    volumes: tuple[VolumeInfo, ...] = ()


@dataclass(frozen=True)
class Removal:
    """Names to remove, in the order they must go: containers, then networks, then volumes."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    def lines(self) -> list[str]:
        return ([f"container {name}" for name in self.containers] + [f"network {name}" for name in self.networks]
                + [f"volume {name}" for name in self.volumes])


def is_ours(labels: Mapping[str, str], run_id: str) -> bool:
    """Carries this run's label, exactly: a name that looks like ours, or another run's label, is not."""
    return bool(run_id) and labels.get(RUN_LABEL) == run_id


def removable(listing: Listing, run_id: str) -> Removal:
    """What `down`/`heal` of `run_id` may remove from `listing`, and nothing else."""
    containers = tuple(sorted(c.name for c in listing.containers if is_ours(c.labels, run_id)))
    staying = {c.name for c in listing.containers} - set(containers)
    networks = tuple(sorted(n.name for n in listing.networks if is_ours(n.labels, run_id)))
    volumes = tuple(sorted(v.name for v in listing.volumes
                           if is_ours(v.labels, run_id) and not v.used_by & staying))
    return Removal(containers, networks, volumes)


def left_over(listing: Listing, run_id: str) -> list[str]:
    """What of `run_id` is still there, one line each (`container X`, `network Y`, `volume Z`): every object
    carrying its label, in use or not (a volume still mounted is left over too)."""
    ours = Removal(
        tuple(sorted(c.name for c in listing.containers if is_ours(c.labels, run_id))),
        tuple(sorted(n.name for n in listing.networks if is_ours(n.labels, run_id))),
        tuple(sorted(v.name for v in listing.volumes if is_ours(v.labels, run_id))),
    )
    return ours.lines()
