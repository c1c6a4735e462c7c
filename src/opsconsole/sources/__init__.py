"""I/O adapters. Nothing in this package imports Textual: a test proves it."""
