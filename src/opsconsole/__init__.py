"""opsconsole: a terminal operations console for on-call engineers."""

__version__ = "0.1.0"
