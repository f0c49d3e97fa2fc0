"""AWS IoT Core on one machine."""
