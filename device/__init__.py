"""The Raspberry Pi publisher: Sense HAT readings over MQTT to AWS IoT Core, nothing lost.

Run it as `python -m device publish|check|provision|status`; see device/README.md.
"""
