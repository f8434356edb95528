"""The reference services through the gateway of the real stack (see tests/services/__init__.py)."""
