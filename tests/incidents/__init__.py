"""Incident logs, their stores, and the incident side of the app."""
