"""The names the attach driver marks what it adds with: the same labels as the reference docker driver
(stack/drivers/docker/runfiles.py; a unit test keeps them equal), and the one service it adds."""

from __future__ import annotations

RUN_LABEL = "io.aarya-chaos.run"
COMPONENT_LABEL = "io.aarya-chaos.component"
TOXIPROXY_SERVICE = "aarya-toxiproxy"  # its compose service, and the DNS name clients dial on the network
