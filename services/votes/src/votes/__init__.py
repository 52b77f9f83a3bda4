"""Tally's votes service."""
