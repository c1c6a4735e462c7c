"""Each data source against its real server, and the failures of the world."""
