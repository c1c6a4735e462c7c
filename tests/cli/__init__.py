"""The `opsconsole` commands, run as processes."""
