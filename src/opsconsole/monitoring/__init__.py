"""What the console watches, without a screen: the sources polled on their clocks, the
board of what they said over time, the breaches and the runbooks they call for."""
