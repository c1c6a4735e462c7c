"""The `opsconsole` command: one module a command, each with its own parser."""
