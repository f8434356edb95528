"""Stack drivers: one protocol (base.py), one registry of names (registry.py), a package per driver.

    from stack.drivers.registry import make_driver
    driver = make_driver(config, "docker")          # or "local"
"""
