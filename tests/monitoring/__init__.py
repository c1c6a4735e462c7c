"""What the console makes of its readings: states over time, breaches, offers."""
