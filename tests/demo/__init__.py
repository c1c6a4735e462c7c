"""The embedded demo fleet."""
