"""The local driver: real PostgreSQL, Redis, nginx, Toxiproxy and the services as processes on loopback.

    from stack.drivers.local.driver import LocalDriver
"""
