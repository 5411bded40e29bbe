"""callcase dialer."""
