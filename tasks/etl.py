"""etl.*: declared by its domain (see README, task contract)."""
