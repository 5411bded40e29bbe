"""`callcase simulate carrier`: a simulated telephone network for demos and trials.

It listens on loopback (127.0.0.1:5070 by default) and answers every number called
through a work line whose trunk points at it, each number its own way, drawn from
the number and `--seed` (see `telephony.simulated.behaviour`): a debtor who talks,
busy, no answer, decline, an answering machine, a wrong number, one who hangs up at
once. The phones speak Mandarin synthesised with espeak-ng (cached in `--cache`), or
babble speech-shaped sound without it. One line per call; a summary at Ctrl-C or
SIGTERM.

    callcase simulate carrier --seed 7 --weights busy=30,no_answer=0
    callcase line add sim --trunk 127.0.0.1:5070 --caller-id 4008001234 --max-channels 100
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from api.settings import Settings
from telephony.media.engine import MediaEngine
from telephony.simulated.behaviour import Profile, Weights
from telephony.simulated.carrier import SimulatedCarrier
from telephony.simulated.report import CallReport
from telephony.simulated.speech import INSTALL_HINT, Speech

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """`simulate` and its `carrier`; returns the `simulate` subcommands so other
    simulated peers can join the group, each naming its coroutine in the `simulate`
    default (`agents.set_defaults(simulate=simulate_agents.run)`)."""
    simulate = sub.add_parser("simulate", help="simulated peers for demos and trials")
    simulate_sub = simulate.add_subparsers(dest="simulate_command", required=True)
    carrier = simulate_sub.add_parser(
        "carrier", help="a telephone network on loopback that answers the debtors' numbers")
    carrier.set_defaults(simulate=run_carrier)
    carrier.add_argument("--host", type=_loopback, default="127.0.0.1",
                         help="a loopback address (default 127.0.0.1)")
    carrier.add_argument("--port", type=int, default=5070, help="SIP port (default 5070)")
    carrier.add_argument("--seed", type=int, default=0,
                         help="another seed gives the numbers other behaviours")
    defaults = ",".join(f"{b}={w:g}" for b, w in Weights().shares.items())
    carrier.add_argument("--weights", type=_weights, default=Weights(), metavar="B=W,...",
                         help=f"behaviour weights; those not named keep theirs ({defaults})")
    carrier.add_argument("--ring", type=_seconds, default=(2.0, 8.0), metavar="MIN-MAX",
                         help="seconds of ringing before an answer or decline (default 2-8)")
    carrier.add_argument("--max-talk", type=float, default=300.0,
                         help="the phone hangs up after this many seconds (default 300)")
    carrier.add_argument("--cache", type=Path, default=Path("var/sim-audio"),
                         help="where synthesised speech is kept (default var/sim-audio)")
    carrier.add_argument("--voice", default="cmn", help="espeak-ng voice (default cmn)")
    carrier.add_argument("--rtp-ports", type=_ports, default=(62000, 64000), metavar="LOW-HIGH",
                         help="RTP port range (default 62000-64000)")
    return simulate_sub


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """`callcase simulate ...`: the chosen subcommand's coroutine."""
    command: Command = args.simulate
    return await command(args, settings)


async def run_carrier(args: argparse.Namespace, settings: Settings) -> int:
    speech = Speech(args.cache, voice=args.voice)
    if speech.missing:
        print(f"callcase: {' and '.join(speech.missing)} not found, so the phones babble "
              f"instead of speaking; for speech: {INSTALL_HINT}", file=sys.stderr)
    profile = Profile(seed=args.seed, weights=args.weights, ring=args.ring)
    async with MediaEngine(host=args.host, port_range=args.rtp_ports) as media:
        carrier = await SimulatedCarrier.open(
            args.host, args.port, profile=profile, speech=speech, media=media,
            max_talk=args.max_talk, on_report=print_report,
        )  # fmt: skip
        try:
            print_banner(carrier)
            await until_signalled()
        finally:
            await carrier.close()
    print("\n".join(["simulated carrier:", *carrier.tally.lines()]), flush=True)
    return 0


def print_banner(carrier: SimulatedCarrier) -> None:
    host, port = carrier.address
    profile, speech = carrier.profile, carrier.speech
    low, high = profile.ring
    voice = (f"espeak-ng voice {speech.voice}, cached in {speech.cache}" if not speech.missing
             else f"babble (no {' and '.join(speech.missing)})")  # fmt: skip
    if speech.babbled and not speech.missing:
        voice += f"; {len(speech.babbled)} sentence(s) babbled, see the log"
    print(f"simulated carrier on {host}:{port}, seed {profile.seed}, ringing {low:g}-{high:g} s\n"
          f"  behaviours: {_shares(profile.weights)}\n"
          f"  speech: {voice}\n"
          f"  reach it through a work line: callcase line add sim --trunk {host}:{port} "
          f"--caller-id 4008001234 --max-channels 100\n"
          "  Ctrl-C or SIGTERM stops it with a summary", flush=True)  # fmt: skip


def print_report(report: CallReport) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {report.line()}", flush=True)


async def until_signalled() -> None:
    """Until SIGINT (Ctrl-C) or SIGTERM."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _shares(weights: Weights) -> str:
    return ", ".join(f"{b} {share:.3g}%" for b, share in weights.percent().items() if share)


def _loopback(host: str) -> str:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError(f"{host!r} is not a loopback address")
    return host


def _weights(text: str) -> Weights:
    try:
        return Weights.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        return Profile(ring=(float(low), float(high or low))).ring
    except ValueError:
        raise argparse.ArgumentTypeError(f"not MIN-MAX seconds: {text!r}") from None


def _ports(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    if not (low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) <= 65536):
        raise argparse.ArgumentTypeError(f"not LOW-HIGH ports above 1023: {text!r}")
    return int(low), int(high)
