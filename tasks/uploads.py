"""uploads.*: declared by its domain (see README, task contract)."""
