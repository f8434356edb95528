"""The reference services' pure parts, no servers (see tests/services/__init__.py)."""
