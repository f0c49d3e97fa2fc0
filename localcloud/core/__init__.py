"""What every local service shares."""
