"""The reports' arithmetic as tables: months in a client's zone, rates, rows, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cases.errors import InvalidInput
from cases.report_math import (
    COLUMNS,
    DEFINITIONS,
    AgentFigures,
    Counts,
    GroupBy,
    MonthlyReport,
    ReportRow,
    figures,
    json_row,
    merge,
    month_bounds,
    next_month,
    parse_month,
    rate,
    report_rows,
    safe_cell,
    to_csv,
)

D = Decimal


@pytest.mark.parametrize(("text", "month"), [
    ("2026-11", date(2026, 11, 1)), ("2026-01", date(2026, 1, 1)),
    ("2027-12", date(2027, 12, 1)),
])
def test_a_month_is_year_dash_month(text: str, month: date) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026-11-01",
                                  "", "1999-12", "november"])
def test_anything_else_is_refused_with_its_reason(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_month(text)
    assert caught.value.error_id == "report.bad_month"
    assert caught.value.details == {"month": text}


@pytest.mark.parametrize(("month", "after"), [
    (date(2026, 11, 1), date(2026, 12, 1)), (date(2026, 12, 1), date(2027, 1, 1)),
    (date(2026, 1, 1), date(2026, 2, 1)),
])
def test_next_month(month: date, after: date) -> None:
    assert next_month(month) == after


@pytest.mark.parametrize(("zone", "month", "start", "end"), [
    # Shanghai is UTC+8 all year: local midnight is 16:00 UTC the day before.
    ("Asia/Shanghai", date(2026, 10, 1), datetime(2026, 9, 30, 16, tzinfo=UTC),
     datetime(2026, 10, 31, 16, tzinfo=UTC)),
    ("Asia/Shanghai", date(2026, 12, 1), datetime(2026, 11, 30, 16, tzinfo=UTC),
     datetime(2026, 12, 31, 16, tzinfo=UTC)),
    # New York leaves daylight saving time on 1 November 2026 at 02:00: the month
    # starts at 00:00 EDT (UTC-4) and ends at 00:00 EST (UTC-5), 1 hour longer.
    ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 4, tzinfo=UTC),
     datetime(2026, 12, 1, 5, tzinfo=UTC)),
    # ... and enters it on 8 March 2026: March is 1 hour shorter.
    ("America/New_York", date(2026, 3, 1), datetime(2026, 3, 1, 5, tzinfo=UTC),
     datetime(2026, 4, 1, 4, tzinfo=UTC)),
    ("UTC", date(2026, 2, 1), datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
])
def test_a_month_runs_from_local_midnight_to_local_midnight(
        zone: str, month: date, start: datetime, end: datetime) -> None:
    assert month_bounds(month, ZoneInfo(zone)) == (start, end)


@pytest.mark.parametrize(("num", "den", "places", "expected"), [
    (1, 3, 4, D("0.3333")), (2, 3, 4, D("0.6667")), (1, 8, 4, D("0.1250")),
    (0, 5, 4, D("0.0000")), (5, 5, 4, D("1.0000")), (7, 5, 4, D("1.4000")),
    (1, 20000, 4, D("0.0001")),  # 0.00005: half up, not to even
    (3, 80000, 4, D("0.0000")),  # 0.0000375
    (10, 4, 2, D("2.50")), (1, 200, 2, D("0.01")),
    (D("1234.56"), D("20000.00"), 4, D("0.0617")),  # 0.061728
    (5, 0, 4, None), (0, 0, 4, None), (D("10.00"), D("0"), 4, None),
])
def test_rates_round_half_up_and_none_without_a_denominator(
        num: int | Decimal, den: int | Decimal, places: int, expected: Decimal | None) -> None:
    assert rate(num, den, places) == expected
    if expected is not None:
        assert rate(num, den, places).as_tuple().exponent == -places  # type: ignore[union-attr]


SAMPLE = Counts(accounts=8, amount_assigned=D("40000.00"), amount_recovered=D("3000.50"),
                attempts=30, calls=28, connected=10, right_party_contacts=6, promises_to_pay=2,
                abandoned=1, promises_due=5, promises_kept=2, promises_broken=1, floor_due=4,
                floor_met=3, qa_failed_accounts=1, complaint_accounts=1, compliant_accounts=6,
                recorded_calls=10, sampled_calls=3, reviewed_calls=2)


@pytest.mark.parametrize(("name", "expected"), [
    ("recovery_rate", D("0.0750")),  # 3000.50 / 40000 = 0.0750125
    ("attempts_per_case", D("3.75")),  # 30 / 8
    ("right_party_contact_rate", D("0.6000")),  # 6 / 10
    ("ptp_rate", D("0.3333")),  # 2 / 6
    ("ptp_kept_rate", D("0.6667")),  # 2 / (2 + 1): pending and cancelled left out
    ("floor_adherence", D("0.7500")),  # 3 / 4
    ("abandon_rate", D("0.0909")),  # 1 / (1 + 10)
    ("compliance_rate", D("0.7500")),  # 6 / 8
    ("qa_sampled_rate", D("0.3000")),  # 3 / 10
    ("qa_reviewed_rate", D("0.6667")),  # 2 / 3
    ("refusal_overrides", 0),  # the check fails closed: no override exists
])
def test_every_rate_comes_from_its_counts(name: str, expected: object) -> None:
    assert figures(SAMPLE)[name] == expected


def test_a_group_without_calls_has_no_rates_rather_than_zeros() -> None:
    shown = figures(Counts(accounts=2, amount_assigned=D("100.00")))
    assert shown["recovery_rate"] == D("0.0000")
    assert [name for name, value in shown.items() if value is None] == [
        "right_party_contact_rate", "ptp_rate", "ptp_kept_rate", "floor_adherence",
        "abandon_rate", "qa_sampled_rate", "qa_reviewed_rate"]


def test_the_columns_are_the_group_then_every_figure() -> None:
    assert COLUMNS[:5] == ("month", "by", "group_id", "group_name", "client_id")
    assert set(COLUMNS[5:]) == set(figures(Counts()))


def test_partial_results_merge_per_group_and_ignore_other_keys() -> None:
    total = merge({1: {"accounts": 2, "amount_assigned": D("10.00"), "key": 1}},
                  {1: Counts(calls=4), 2: Counts(calls=1)},
                  {2: {"amount_recovered": None, "sampled_calls": 1}})
    assert total == {1: Counts(accounts=2, amount_assigned=D("10.00"), calls=4),
                     2: Counts(calls=1, sampled_calls=1)}


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("催收一组", "催收一组"), ("a=b", "a=b"), (None, ""), (12, "12"), (D("0.1250"), "0.1250"),
])
def test_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_csv_is_utf8_with_a_bom_crlf_and_safe_cells() -> None:
    body = to_csv(("name", "amount"), [{"name": "催收一组, 上海", "amount": "=1+1"},
                                       {"name": None, "amount": 3}])
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\r\n") == 3
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [["name", "amount"], ["催收一组, 上海", "'=1+1"], ["", "3"]]


def test_a_json_row_has_money_as_exact_strings_and_rates_as_numbers() -> None:
    row = json_row({"month": date(2026, 10, 1), "amount_assigned": D("40000"),
                    "amount_recovered": D("3000.5"), "recovery_rate": D("0.0750"),
                    "attempts_per_case": D("3.75"), "ptp_rate": None, "accounts": 8})
    assert row == {"month": "2026-10", "amount_assigned": "40000.00",
                   "amount_recovered": "3000.50", "recovery_rate": 0.075,
                   "attempts_per_case": 3.75, "ptp_rate": None, "accounts": 8}


def test_rows_are_by_group_id_with_the_no_group_row_last() -> None:
    rows = report_rows({0: Counts(calls=1), 7: Counts(accounts=1), 3: Counts(accounts=2),
                        9: Counts(calls=2)},
                       {3: ("王伟", None), 7: ("batch 7", 2)}, 5)
    assert [(r.group_id, r.group_name, r.client_id) for r in rows] == [
        (3, "王伟", 5), (7, "batch 7", 2), (9, "9", 5), (None, "(none)", 5)]


def test_a_report_as_json_and_as_csv() -> None:
    report = MonthlyReport(date(2026, 10, 1), GroupBy.CAMPAIGN, 1, (
        ReportRow(4, "=催收一组", 1, SAMPLE),))
    body = report.as_json()
    assert body["month"] == "2026-10" and body["by"] == "campaign"
    assert body["definitions"] == DEFINITIONS and "compliance_rate" in DEFINITIONS
    assert "no override" in DEFINITIONS["compliance_rate"]
    rows = body["rows"]
    assert isinstance(rows, list)
    [row] = rows
    assert row["group_name"] == "=催收一组" and row["amount_recovered"] == "3000.50"
    assert row["recovery_rate"] == 0.075 and row["refusal_overrides"] == 0
    lines = list(csv.DictReader(io.StringIO(report.as_csv().decode("utf-8-sig"))))
    assert list(lines[0]) == list(COLUMNS)
    assert lines[0]["group_name"] == "'=催收一组" and lines[0]["month"] == "2026-10"
    assert lines[0]["amount_assigned"] == "40000.00" and lines[0]["ptp_rate"] == "0.3333"


@pytest.mark.parametrize(("figures_", "recovery", "compliance"), [
    (AgentFigures(1, D("20000.00"), D("500.00"), 4, 3), D("0.0250"), D("0.7500")),
    (AgentFigures(2, D("0"), D("0"), 0, 0), None, None),
])
def test_agent_figures_carry_their_rates(figures_: AgentFigures, recovery: Decimal | None,
                                         compliance: Decimal | None) -> None:
    assert (figures_.recovery_rate, figures_.compliance_rate) == (recovery, compliance)
