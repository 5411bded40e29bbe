"""callcase transcription."""
