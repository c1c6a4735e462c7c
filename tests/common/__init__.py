"""What every layer uses: redaction, readable figures."""
