"""`callcase transcribe FILE`: the same pipeline outside the queue, with the QA flags
the default lexicon raises (what an operator checks before deploying a lexicon)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main

DATA = Path(__file__).parents[1] / "data" / "transcription"


def test_transcribe_prints_the_dialogue_and_its_flags(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    args = ["transcribe", "--engine", "pocketsphinx", str(DATA / "en_flagged.wav")]
    assert main([*args, "--json", "--action-code", "TPC"]) == 0
    body = json.loads(capsys.readouterr().out)
    kinds = {flag["kind"] for flag in body["flags"]}
    assert {"impersonation", "abusive", "threat", "third_party_disclosure"} <= kinds
    assert all(flag["speaker"] == "agent" for flag in body["flags"])
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "QA flag threat" in text and "agent" in text


def test_a_clean_call_raises_no_flag(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["transcribe", "--engine", "pocketsphinx", str(DATA / "en_clean.wav"), "--json",
            "--action-code", "TPC"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["flags"] == []
