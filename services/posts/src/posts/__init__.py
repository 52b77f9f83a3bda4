"""Tally's posts service."""
