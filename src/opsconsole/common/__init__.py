"""What every layer may use: redaction, readable figures, where state is kept. Imports
nothing else of opsconsole."""
