"""Media engine bench: N bridged and recorded calls over loopback, engine measured alone.

For each N (default 50 100 200 400) the engine process opens 2N RTP streams (a debtor
leg and an agent leg per call), bridges each pair and taps each call into a stereo WAV
(one shared writer thread, flushes spread over ticks). The far ends, one UDP socket per
leg sending a 20 ms tone stream and counting what comes back, run in a separate plain
(epoll, no asyncio) process, pinned to another core when there is one, so the figures
below are the engine's own. The engine learns the far ends by latching.

Per N it prints the engine's CPU (process_time over wall time, so 100% = one core),
packets per second in and out, tick lateness against the absolute deadlines (start of
tick = first packet out; end of tick = last packet out), packet loss seen by the engine
(far ends -> engine) and by the far ends (engine -> far ends, after the bridge), and
skipped ticks.

    .venv/bin/python bench/media_bench.py                  # uvloop if installed
    .venv/bin/python bench/media_bench.py --no-uvloop -n 200 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import select
import socket
import struct
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telephony.media.engine import MediaEngine
from telephony.media.g711 import PCMA, PCMU
from telephony.media.wavtap import WavTapWriter

HEADER = struct.Struct("!BBHII")
SO_TIMESTAMPNS = 35  # Linux: kernel receive time of each datagram, as a timespec
TIMESPEC = struct.Struct("qq")


# -- far ends (separate process, no asyncio) -------------------------------------------


@dataclass
class FarLeg:
    sock: socket.socket
    target: tuple[str, int]
    payload_type: int
    ssrc: int
    seq: int = 0
    received: int = 0
    first: int | None = None
    highest: int = 0
    jitter: float = 0.0  # RFC 3550 A.8, in timestamp units
    jitter_sum: float = 0.0  # of the estimate after each packet, for its mean
    transit: float | None = None


def tone_frames(payload_type: int, freq: float) -> list[bytes]:
    codec = PCMA if payload_type == 8 else PCMU
    t = np.arange(8000) / 8000
    pcm = (6000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    encoded = codec.encode(pcm)
    return [encoded[i : i + 160] for i in range(0, 8000, 160)]


def count(leg: FarLeg, data: bytes, arrival: float) -> None:
    if len(data) < 12:
        return
    _, _, seq, timestamp, _ = HEADER.unpack_from(data)
    transit = arrival * 8000 - timestamp
    if leg.transit is not None:
        delta = abs(transit - leg.transit)
        if delta < 8000:  # not across a timestamp jump (start, skipped ticks)
            leg.jitter += (delta - leg.jitter) / 16
    leg.jitter_sum += leg.jitter
    leg.transit = transit
    leg.received += 1
    if leg.first is None:
        leg.first = leg.highest = seq
        return
    distance = ((seq - (leg.highest & 0xFFFF) + 0x8000) & 0xFFFF) - 0x8000
    if distance > 0:
        leg.highest += distance


def far_end(spec: dict[str, object]) -> None:
    """Send 20 ms frames to every engine port until stdin closes; report on stdout."""
    host = str(spec["host"])
    legs = []
    for index, (port, pt) in enumerate(zip(spec["ports"], spec["pts"], strict=True)):  # type: ignore[call-overload]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        legs.append(FarLeg(sock, (host, int(port)), int(pt), 0x1000 + index))
    frames = {pt: tone_frames(pt, 440 + 7 * pt) for pt in (0, 8)}
    print("ready", flush=True)
    start = time.monotonic()
    tick = 0
    # No epoll on the RTP sockets: like a NIC, the far ends never have to be woken by
    # the engine's sends. They wake once a tick (stdin closing ends the run), read what
    # has queued on every socket, and send the next frame on every socket.
    while not select.select([sys.stdin], [], [], max(0.0, start + tick * 0.02 - time.monotonic()))[
        0
    ]:
        for leg in legs:
            drain(leg)
        send_all(legs, frames, tick)
        tick += 1
    expected = sum(leg.highest - leg.first + 1 for leg in legs if leg.first is not None)
    received = sum(leg.received for leg in legs)
    print(
        json.dumps(
            {
                "sent": tick * len(legs),
                "received": received,
                "lost": max(0, expected - received),
                "silent_legs": sum(leg.first is None for leg in legs),
                "jitter_ms": sorted(leg.jitter_sum / 8 / max(1, leg.received) for leg in legs),
                "cpu": time.process_time(),
                "wall": time.monotonic() - start,
            }
        ),
        flush=True,
    )


def drain(leg: FarLeg) -> None:
    """Read what queued since the last tick, with the kernel's arrival times (the far
    end reads once a tick, so the time it reads at says nothing about jitter)."""
    while True:
        try:
            data, ancillary, _, _ = leg.sock.recvmsg(2048, 64)
        except BlockingIOError:
            return
        arrival = time.time()
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack(value[: TIMESPEC.size])
                arrival = seconds + nanoseconds * 1e-9
        count(leg, data, arrival)


def send_all(legs: list[FarLeg], frames: dict[int, list[bytes]], tick: int) -> None:
    timestamp = (tick * 160) & 0xFFFF_FFFF
    for leg in legs:
        header = HEADER.pack(0x80, leg.payload_type, leg.seq, timestamp, leg.ssrc)
        leg.seq = (leg.seq + 1) & 0xFFFF
        with contextlib.suppress(OSError):  # an engine port closing at the end of the run
            leg.sock.sendto(header + frames[leg.payload_type][tick % 50], leg.target)


# -- the engine under test -----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    calls: int
    cpu: float
    pps_in: float
    pps_out: float
    lateness: str
    completion: str
    finish: str
    p99_end_ms: float
    loss_in: float
    loss_out: float
    skipped: int
    far_cpu: float
    far_jitter: str


async def run_calls(calls: int, args: argparse.Namespace, folder: Path) -> Row:
    engine = MediaEngine(port_range=(args.port_base, args.port_base + 8 * calls + 64))
    executor = ThreadPoolExecutor(max_workers=1) if args.wav_thread else None
    async with engine:
        debtor_pt, agent_pt = (8, 0) if args.transcode else (0, 0)
        writers = []
        for call in range(calls):
            debtor = await engine.open_stream(debtor_pt)
            agent = await engine.open_stream(agent_pt)
            engine.bridge(debtor, agent)
            writer = WavTapWriter(folder / f"call-{call}.wav", executor=executor)
            debtor.add_tap(writer)
            writers.append(writer)
        spec = {
            "host": "127.0.0.1",
            "ports": [s.port for s in engine.streams],
            "pts": [s.codec.payload_type for s in engine.streams],
            "cpu": args.far_cpu,
        }
        far = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--far-end",
            json.dumps(spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert far.stdout is not None and far.stdin is not None
        await far.stdout.readline()
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        await engine.wait_ticks(int(args.warmup / 0.02))
        before, cpu0, wall0 = engine.stats(), time.process_time(), time.monotonic()
        engine.clock.reset_latency()
        await engine.wait_ticks(int(args.seconds / 0.02))
        after, cpu1, wall1 = engine.stats(), time.process_time(), time.monotonic()
        far.stdin.close()
        report = json.loads(await far.stdout.readline())
        if args.verbose:
            print("far end:", report, "engine:", after, flush=True)
        await far.wait()
        for writer in writers:
            await writer.aclose()
    if executor is not None:
        executor.shutdown()
    wall = wall1 - wall0
    received = after.packets_received - before.packets_received
    lost = after.packets_lost - before.packets_lost
    return Row(
        calls=calls,
        cpu=100 * (cpu1 - cpu0) / wall,
        pps_in=received / wall,
        pps_out=(after.packets_sent - before.packets_sent) / wall,
        lateness=after.lateness.as_ms(),
        completion=after.completion.as_ms(),
        finish=after.finish.as_ms(),
        p99_end_ms=after.completion.p99 * 1e3,
        loss_in=100 * lost / max(1, received + lost),
        loss_out=100 * report["lost"] / max(1, report["received"] + report["lost"]),
        skipped=after.skipped_ticks - before.skipped_ticks,
        far_cpu=100 * report["cpu"] / report["wall"],
        far_jitter=jitter_line(report["jitter_ms"]),
    )


def jitter_line(per_leg: list[float]) -> str:
    """Interarrival jitter the far ends measured (RFC 3550 estimate, averaged over the
    run per leg), across legs."""
    if not per_leg:
        return "no legs"
    median, worst = per_leg[len(per_leg) // 2], per_leg[-1]
    return f"median leg {median:.2f} ms, worst leg {worst:.2f} ms"


def print_row(row: Row) -> None:
    print(
        f"N={row.calls:4d} calls ({2 * row.calls} streams): engine CPU {row.cpu:5.1f}% "
        f"| pkt/s in {row.pps_in:7.0f} out {row.pps_out:7.0f} "
        f"| loss in {row.loss_in:.3f}% out {row.loss_out:.3f}% | skipped {row.skipped} "
        f"| far-end CPU {row.far_cpu:.0f}%\n"
        f"        first packet of tick: {row.lateness}\n"
        f"        last packet of tick:  {row.completion}\n"
        f"        taps fed:             {row.finish}\n"
        f"        jitter at far ends:   {row.far_jitter}",
        flush=True,
    )


async def bench(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    print(
        f"loop: {type(loop).__module__}.{type(loop).__name__}; "
        f"transcode: {args.transcode}; cpus: {os.cpu_count()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="media-bench-") as folder:
        for calls in args.calls:
            print_row(await run_calls(calls, args, Path(folder)))
            remove_recordings(Path(folder))


def remove_recordings(folder: Path) -> None:
    for wav in folder.glob("*.wav"):
        wav.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--calls", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--seconds", type=float, default=12.0, help="measured time per N")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--transcode", action="store_true", help="debtor legs PCMA")
    parser.add_argument(
        "--wav-thread", action="store_true", help="WAV file writes on one worker thread"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() after setup (composition root)"
    )
    parser.add_argument(
        "--drain-always",
        action="store_true",
        help="read each socket until it is empty after every datagram (before 2026-11-30)",
    )
    parser.add_argument("--port-base", type=int, default=30000)
    parser.add_argument("--far-end", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.far_end is not None:
        spec = json.loads(args.far_end)
        if spec["cpu"] is not None:
            os.sched_setaffinity(0, {spec["cpu"]})
        far_end(spec)
        return
    if args.drain_always:
        from telephony.media import stream

        stream.DRAIN_GAP_S = -1.0
    cpus = sorted(os.sched_getaffinity(0))
    args.far_cpu = cpus[-1] if len(cpus) > 1 else None
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})  # the engine on one core, the far ends on another
    use_uvloop = args.uvloop
    if use_uvloop is None:
        use_uvloop = importlib.util.find_spec("uvloop") is not None
    if use_uvloop:
        import uvloop

        uvloop.run(bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
