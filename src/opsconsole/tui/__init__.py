"""The Textual shell: it shows the core (monitoring, incidents, drills) and drives it; it
holds no logic of its own that a test could not reach without a running App."""
