"""Firehose transformation: validates readings against schema 1 (see CONTRACTS.md)."""
