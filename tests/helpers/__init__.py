"""Helpers for tests that run the project in subprocesses against real services."""
