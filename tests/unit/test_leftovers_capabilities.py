"""`aarya-chaos heal` asks the driver before touching a power it may not give (the attach driver has no
gateway files: a team's gateway is not the reference's nginx)."""

from __future__ import annotations

from stack.drivers.base import Capability
from stack.drivers.fake import FakeDriver

from fixtures.leftovers import _deny_list


def test_a_driver_without_the_gateway_is_not_asked_for_its_files() -> None:
    driver = FakeDriver(refused={Capability.GATEWAY: "the team's gateway is not the reference's nginx"})
    assert _deny_list(driver) == ["gateway: not the driver's to heal (the team's gateway is not the reference's "
                                  "nginx)"]
