"""Incidents: what happened, who did it, in an order nobody can quietly change."""
