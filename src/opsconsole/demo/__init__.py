"""The embedded demo fleet: real HTTP services on loopback with fault knobs."""
