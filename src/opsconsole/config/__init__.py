"""The configuration file, `opsconsole.toml`."""
