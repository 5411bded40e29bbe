"""callcase recording."""
