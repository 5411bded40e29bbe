"""callcase routing."""
