"""Import benchmark: generate a bank batch of N rows and import it end to end.

    python bench/import_bench.py [--rows 100000] [--encoding utf-8|gb18030] [--repeat 3]

Uses the database `callcase_bench` (recreated) on the server of
CALLCASE_DATABASE_URL (default 127.0.0.1:5432). Prints generation, parse and
full import times (parse + COPY + upserts + commit) and rows per second; with
--repeat it prints each run and the median. A second import of the same file
(the idempotent replay) and an update batch (the same accounts in a new file)
are timed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, date, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from api.migrate import recreate_database
from cases import audit, batches, samplebatch, store
from cases.batchfile import parse_batch


async def fresh_database(base_url: str) -> str:
    parts = urlsplit(base_url)
    url = urlunsplit(parts._replace(path="/callcase_bench"))
    await recreate_database(url)
    return url


async def one_run(base_url: str, data: bytes, update: bytes) -> dict[str, float]:
    url = await fresh_database(base_url)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        client = await store.add_client(pool, code="BENCH", name="bench",
                                        time_zone="Asia/Shanghai", default_region="CN",
                                        rule_pack="cn-bank", retention_years=5)
        now = datetime.now(UTC)
        figures: dict[str, float] = {}
        for label, payload in (("import", data), ("replay", data), ("update", update)):
            started = time.perf_counter()
            result = await batches.import_batch(pool, audit.SYSTEM, client, "bench.csv",
                                                payload, received_at=now, now=now)
            figures[label] = time.perf_counter() - started
            figures[f"{label}_accepted"] = result.rows_accepted
        figures["cases"] = await pool.fetchval("SELECT count(*) FROM cases")
        figures["phones"] = await pool.fetchval("SELECT count(*) FROM phones")
        return figures
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "gb18030"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base_url = os.environ.get("CALLCASE_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/callcase")
    today = date.today()
    started = time.perf_counter()
    data = samplebatch.generate_batch(args.rows, seed=7, encoding=args.encoding, today=today)
    # The same accounts re-sent as a new file (a trailing blank line changes its hash):
    # every row takes the update path.
    update = data + b"\r\n"
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}")
    print(f"generated {args.rows} rows ({len(data) / 1e6:.1f} MB, {args.encoding}) in "
          f"{time.perf_counter() - started:.1f} s")
    parses = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        parsed = parse_batch(data, default_region="CN", today=today)
        parses.append(time.perf_counter() - t0)
    print(f"parse only: median {statistics.median(parses):.2f} s "
          f"({args.rows / statistics.median(parses):,.0f} rows/s), "
          f"{len(parsed.accepted)} accepted, {parsed.rows_rejected} rejected")
    runs = [asyncio.run(one_run(base_url, data, update)) for _ in range(args.repeat)]
    for n, r in enumerate(runs, 1):
        print(f"run {n}: import {r['import']:.2f} s, replay {r['replay'] * 1000:.0f} ms, "
              f"update {r['update']:.2f} s; {r['cases']:.0f} cases, {r['phones']:.0f} phones")
    median = statistics.median(r["import"] for r in runs)
    print(f"full import median: {median:.2f} s = {args.rows / median:,.0f} rows/s "
          f"(target: 100,000 rows under 60 s)")
    print(f"update median: {statistics.median(r['update'] for r in runs):.2f} s; "
          f"replay median: {statistics.median(r['replay'] for r in runs) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
