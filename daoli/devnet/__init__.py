"""devnet layer."""
