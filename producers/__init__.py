"""The producer SDK product services use to report personal-data events."""
