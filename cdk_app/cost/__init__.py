"""The monthly cost of the stack (`make cost`): usage read from the synthesized template and the
settings, metered by the rules AWS bills by, priced from one data file (prices-us-east-1.json)."""
