"""Training drills: real faults in a sandbox, and the runbooks that must fix them."""
