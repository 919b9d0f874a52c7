"""Operational plumbing shared by every process: structured logging."""
