"""callcase api."""
