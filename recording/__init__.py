"""callcase recording: every call's audio to a crash-safe stereo WAV, and its catalogue.

``writer`` (RecorderPool, Recording: the media tap) and ``recover`` (start-up scan) are
the shell; ``worker`` is the one writer thread, ``files`` the disk operations and the
result; ``wavfile``, ``layout``, ``schedule`` and ``pauses`` (PCI) are pure.

The catalogue: ``catalog`` (register, legal hold), ``integrity`` (verify), ``retention``
(deletion) and ``storage`` (where the bytes live) are the shell; ``chain`` (the
tamper-evident hashes), ``lifecycle`` (states, retention dates), ``spans`` and
``byterange`` (HTTP Range) are pure.

Archiving: ``archive`` (compress to FLAC, playback and proof of archived recordings)
is the shell, ``flac`` the codec's blocking IO, ``rebuild`` (the original WAV from
its samples) is pure.
"""
