"""callcase recording: every call's audio to a crash-safe stereo WAV.

``writer`` (RecorderPool, Recording: the media tap) and ``recover`` (start-up scan) are
the shell; ``worker`` is the one writer thread, ``files`` the disk operations and the
result; ``wavfile``, ``layout`` and ``schedule`` are pure.
"""
