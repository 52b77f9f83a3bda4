"""Tally's auth service."""
