"""Drills: faults in a sandbox, runbooks proven, trainees scored."""
