"""Tally's gateway: one public base URL in front of the auth, posts and votes services."""
