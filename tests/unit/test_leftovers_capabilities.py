"""`aarya-chaos heal` on a driver that refuses the gateway's files (the attach driver has no
gateway files: a team's gateway is not the reference's nginx)."""

from __future__ import annotations

from stack.drivers.base import Capability
from stack.drivers.fake import FakeDriver

from fixtures.leftovers import _deny_list


def test_a_driver_that_refuses_the_gateway_files_leaves_the_deny_list_alone_and_says_why() -> None:
    driver = FakeDriver(refused={Capability.GATEWAY: "the team's gateway is not the reference's nginx"})
    assert _deny_list(driver) == ["gateway: not the driver's to heal (the team's gateway is not the reference's "
                                  "nginx)"]
