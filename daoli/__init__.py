"""DaoliCloud: consensus of luck, incentive BFT, and a peer-to-peer resource market."""

__version__ = "0.1.0"
