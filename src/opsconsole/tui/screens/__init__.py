"""Screens wire sources to widgets: they own the polls and hand results to widgets."""
