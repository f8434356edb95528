"""The stack's network: a client address of its own on the bridge (6.1), and partitions (a container cut
off the network, `docker network disconnect`)."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from typing import Any, cast

from docker.errors import NotFound

from aarya_chaos.errors import FaultError, StackError
from stack.drivers.base import OutsideClient

from .core import DockerCore
from .runfiles import RUN_LABEL, netns_container_name

OUTSIDE_CLIENT_FROM_TOP = 66  # outside_client(): the subnet's broadcast address - 66, far from Docker's allocations


class DockerNetwork(DockerCore):
    def _bridge(self) -> tuple[str, ipaddress.IPv4Network]:
        """The host interface of the stack's bridge network, and its subnet."""
        network = self._network()
        attrs = network.attrs
        bridge = (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"
        configs = (attrs.get("IPAM") or {}).get("Config") or []
        subnets = [ipaddress.ip_network(c["Subnet"]) for c in configs if ":" not in c.get("Subnet", ":")]
        if not subnets:
            raise StackError(f"network {network.name} has no IPv4 subnet")
        return bridge, cast(ipaddress.IPv4Network, subnets[0])

    def outside_client(self) -> OutsideClient:
        """An address of the stack's subnet added to the host end of its bridge (as root), and the gateway
        container's own address: the published port goes through docker-proxy, which would hide the
        client's address behind the bridge's (nginx would log every client as one)."""
        if os.geteuid() != 0:
            raise FaultError("an address of its own on the stack's bridge needs root (ip addr add)")
        bridge, subnet = self._bridge()
        source = str(subnet.broadcast_address - OUTSIDE_CLIENT_FROM_TOP)
        gateway = self._netns_container("api_gateway")
        gateway.reload()
        address = ((gateway.attrs["NetworkSettings"].get("Networks") or {}).get(self.files.project) or {}).get(
            "IPAddress")
        if not address:
            raise StackError("the gateway container has no address on the stack network")
        _ip("addr", "replace", f"{source}/32", "dev", bridge)
        self._record("api_gateway", "outside_client", detail=f"{source} on {bridge}")
        return OutsideClient(source, f"http://{address}:{self.config.gateway.port}")

    def release_outside_client(self, client: OutsideClient) -> None:
        try:
            bridge, _ = self._bridge()
        except StackError:
            return  # the network is gone, and the address with it
        _ip("addr", "del", f"{client.source}/32", "dev", bridge, check=False)

    def _outside_addresses(self) -> list[str]:
        """Addresses added to the bridge by outside_client() (heal removes them)."""
        bridge, subnet = self._bridge()
        found = re.findall(r"inet (\S+)/32 ", _ip("-o", "-4", "addr", "show", "dev", bridge, check=False))
        return [a for a in found if ipaddress.ip_address(a) in subnet]

    def _network(self) -> Any:
        try:
            network = self.client.networks.get(self.files.project)
        except NotFound:
            raise StackError(f"no network {self.files.project}; is the docker stack up?") from None
        if (network.attrs.get("Labels") or {}).get(RUN_LABEL) != self.run_id:
            raise StackError(f"network {self.files.project} is not labelled {RUN_LABEL}={self.run_id}")
        return network

    def _netns_container(self, name: str) -> Any:
        """The container that holds the component's network namespace (its own for the gateway)."""
        holder = netns_container_name(self.config, name)
        if holder is None:
            return self._container(name)
        self._check_name(name)
        try:
            container = self.client.containers.get(holder)
        except NotFound:
            raise StackError(f"no container {holder} (the network namespace of {name})") from None
        if (container.labels or {}).get(RUN_LABEL) != self.run_id:
            raise StackError(f"container {holder} is not labelled {RUN_LABEL}={self.run_id}; not touching it")
        return container

    def disconnect(self, name: str) -> None:
        """`docker network disconnect`: the component drops off the stack's network (a partition). Its peers
        (through Toxiproxy) cannot reach it, nor it them; the host still reaches its published port."""
        self._network().disconnect(self._netns_container(name))
        self._record(name, "disconnected")

    def reconnect(self, name: str) -> None:
        self._network().connect(self._netns_container(name), aliases=[name])
        self._record(name, "reconnected")

    def is_connected(self, name: str) -> bool:
        container = self._netns_container(name)
        container.reload()
        return self.files.project in (container.attrs["NetworkSettings"].get("Networks") or {})


def _ip(*args: str, check: bool = True) -> str:
    """`ip ARGS` (iproute2); its output. FaultError when it fails, unless `check=False`."""
    try:
        result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    except FileNotFoundError:
        raise FaultError("the `ip` command (iproute2) is not installed") from None
    if check and result.returncode != 0:
        raise FaultError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout

