"""The demo and its accounting: verification, not emulation."""
