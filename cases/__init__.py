"""callcase cases."""
