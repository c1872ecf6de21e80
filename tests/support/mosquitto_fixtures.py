"""Pytest fixtures (placeholder until filled in)."""
