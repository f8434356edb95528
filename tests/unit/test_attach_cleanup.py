"""What `down`/`heal` of an attached run may remove (stack/drivers/attach/cleanup.py), over literal listings
with decoys: a team volume named like ours, the team's containers, another run's objects. Only what
carries this run's label may go; a team's volume never, even unused."""

from __future__ import annotations

from stack.drivers.attach.cleanup import (
    ContainerInfo,
    Listing,
    NetworkInfo,
    Removal,
    VolumeInfo,
    is_ours,
    left_over,
    removable,
)
from stack.drivers.attach.labels import COMPONENT_LABEL, RUN_LABEL

RUN_ID = "shop-0a1b2c3d"
OTHER_RUN = "shop-ffff0000"
COMPOSE_PROJECT = "com.docker.compose.project"


def ours(**extra: str) -> dict[str, str]:
    return {RUN_LABEL: RUN_ID, COMPOSE_PROJECT: "shop", **extra}


def team(**extra: str) -> dict[str, str]:
    return {COMPOSE_PROJECT: "shop", "com.docker.compose.service": "web", **extra}


LISTING = Listing(
    containers=(
        ContainerInfo("shop-aarya-toxiproxy-1", ours(**{COMPONENT_LABEL: "toxiproxy"})),
        ContainerInfo("shop-web-1", team()),  # recreated by the override, still the team's
        ContainerInfo("shop-db-1", team()),
        ContainerInfo("aarya-chaos-toxiproxy", {RUN_LABEL: OTHER_RUN}),  # another run's
        ContainerInfo("aarya_toxiproxy", {}),  # named like the reference stack's, no label at all
    ),
    networks=(
        NetworkInfo("shop_default", team()),
        NetworkInfo("aarya-chaos-extra", ours()),
        NetworkInfo("aarya-chaos", {RUN_LABEL: OTHER_RUN}),
    ),
    volumes=(
        VolumeInfo("aarya-chaos-pgdata", {}),  # the team's, named like ours, unused
        VolumeInfo("shop_pgdata", team(), used_by=frozenset({"shop-db-1"})),
        VolumeInfo("aarya-chaos-scratch", ours()),
        VolumeInfo("aarya-chaos-cache", ours(), used_by=frozenset({"shop-aarya-toxiproxy-1"})),
        VolumeInfo("aarya-chaos-mounted-by-team", ours(), used_by=frozenset({"shop-web-1"})),
        VolumeInfo("aarya-chaos-pgdata-other", {RUN_LABEL: OTHER_RUN}),
    ),
)


def test_only_what_carries_this_runs_label_is_removed() -> None:
    assert removable(LISTING, RUN_ID) == Removal(
        containers=("shop-aarya-toxiproxy-1",),
        networks=("aarya-chaos-extra",),
        volumes=("aarya-chaos-cache", "aarya-chaos-scratch"),
    )


def test_a_team_volume_named_like_ours_is_never_removed_even_unused() -> None:
    removal = removable(LISTING, RUN_ID)
    assert "aarya-chaos-pgdata" not in removal.volumes
    assert "shop_pgdata" not in removal.volumes


def test_the_teams_containers_stay_even_the_ones_the_override_recreated() -> None:
    removal = removable(LISTING, RUN_ID)
    assert not {"shop-web-1", "shop-db-1", "aarya_toxiproxy"} & set(removal.containers)


def test_another_runs_objects_are_not_this_runs() -> None:
    removal = removable(LISTING, RUN_ID)
    assert "aarya-chaos-toxiproxy" not in removal.containers
    assert "aarya-chaos" not in removal.networks
    assert "aarya-chaos-pgdata-other" not in removal.volumes
    assert removable(LISTING, OTHER_RUN) == Removal(("aarya-chaos-toxiproxy",), ("aarya-chaos",),
                                                    ("aarya-chaos-pgdata-other",))


def test_a_labelled_volume_a_staying_container_mounts_stays() -> None:
    assert "aarya-chaos-mounted-by-team" not in removable(LISTING, RUN_ID).volumes


def test_nothing_is_selected_without_a_run_id_or_with_a_label_value_that_only_looks_alike() -> None:
    assert not removable(LISTING, "")
    assert not is_ours({RUN_LABEL: RUN_ID + " "}, RUN_ID)
    assert not is_ours({RUN_LABEL + ".old": RUN_ID}, RUN_ID)
    assert not is_ours({}, RUN_ID)


def test_left_over_lists_every_object_of_the_run_one_line_each() -> None:
    assert left_over(LISTING, RUN_ID) == [
        "container shop-aarya-toxiproxy-1",
        "network aarya-chaos-extra",
        "volume aarya-chaos-cache",
        "volume aarya-chaos-mounted-by-team",
        "volume aarya-chaos-scratch",
    ]


def test_nothing_left_over_once_the_run_is_cleared() -> None:
    team_only = Listing(containers=tuple(c for c in LISTING.containers if not is_ours(c.labels, RUN_ID)),
                        networks=tuple(n for n in LISTING.networks if not is_ours(n.labels, RUN_ID)),
                        volumes=tuple(v for v in LISTING.volumes if not is_ours(v.labels, RUN_ID)))
    assert left_over(team_only, RUN_ID) == []
    assert not removable(team_only, RUN_ID)
    assert removable(Listing(), RUN_ID).lines() == []
