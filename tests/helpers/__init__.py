"""Helpers the self-tests share (test files import from here, never from each other)."""
