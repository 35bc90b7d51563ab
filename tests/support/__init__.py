"""Helpers shared by tests (contract validation against the official INSi schemas)."""
