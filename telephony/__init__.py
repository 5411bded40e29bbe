"""callcase telephony."""
