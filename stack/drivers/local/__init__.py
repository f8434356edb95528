"""The local driver: real PostgreSQL, Redis, nginx, Toxiproxy and the services as processes on loopback."""

from .driver import LocalDriver

__all__ = ["LocalDriver"]
