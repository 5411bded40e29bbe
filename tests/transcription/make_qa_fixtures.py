"""Generate the QA-flag fixtures under ``tests/data/transcription/``: English calls
spoken by Piper (see :mod:`tests.transcription.make_fixtures`, whose rendering this
reuses), one with a trigger phrase for each content flag and one clean call.

Run by hand (``PIPER_PYTHON=/tmp/piper-venv/bin/python .venv/bin/python -m
tests.transcription.make_qa_fixtures``); the tests only read the committed WAVs and
their truth JSON (the same format as ``en_call.json``).

``en_flagged``: the agent opens as calling "from the court" and never says the call is recorded
(impersonation, no identity disclosure), insults the debtor, names the overdue debt
(a disclosure when the call's action code is TPC) and threatens. ``en_clean``: a
polite call that says it is recorded and names no debt, no number.
"""

from __future__ import annotations

from tests.transcription.make_fixtures import Line, noisy, render, write

FLAGGED = (
    Line("agent", 0.5, "hello i am calling from the court"),
    Line("debtor", 3.0, "who is this"),
    Line("agent", 4.2, "you stupid idiot"),
    Line("debtor", 5.9, "excuse me"),
    Line("agent", 6.9, "your loan is overdue"),
    Line("agent", 8.9, "we will hurt your family"),
)
CLEAN = (
    Line("agent", 0.5, "good morning this call is recorded for quality purposes"),
    Line("debtor", 3.7, "yes speaking"),
    Line("agent", 4.9, "can you make a payment on friday"),
    Line("debtor", 7.1, "yes i will"),
)


def main() -> None:
    flagged, truth = render(FLAGGED, "piper", tail=0.6)
    write("en_flagged", noisy(flagged, 4), truth)
    clean, truth = render(CLEAN, "piper", tail=0.6)
    write("en_clean", noisy(clean, 5), truth)


if __name__ == "__main__":
    main()
