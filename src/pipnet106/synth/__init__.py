"""Synthetic faces with exactly known points, and synthetic video clips."""
