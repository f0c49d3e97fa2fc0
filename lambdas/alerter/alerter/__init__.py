"""Threshold alerts: evaluate readings from the stream, notify, remember, tell the device."""
