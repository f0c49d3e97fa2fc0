"""Athena on one machine."""
