"""sendsim: an agent-based simulation of England's SEND system (EHCP route and tiered route)."""

__version__ = "0.1.0"
