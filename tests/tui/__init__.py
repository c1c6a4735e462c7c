"""The screens and widgets, driven with Pilot."""
