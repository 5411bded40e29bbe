"""What the cyclic garbage collector frees, counted: which objects of a running
process die only in a collection (in a reference cycle) and not by reference count.

The soak calls :func:`census` for a few seconds of its steady run. With
``gc.DEBUG_SAVEALL`` every collection keeps what it would have freed in
``gc.garbage``; the census counts those objects by kind, naming the code of frames,
coroutines, functions and bound methods, so that the cycles a call leaves behind can
be traced to the code that makes them.
"""

from __future__ import annotations

import asyncio
import gc
import types
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


def label(obj: object) -> str:
    """The object's type, and for code-bearing objects the code's qualified name."""
    kind = type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" \
        else kind.__qualname__  # fmt: skip
    code = None
    if isinstance(obj, types.FrameType):
        code = obj.f_code
    elif isinstance(obj, types.CoroutineType):
        code = obj.cr_code
    elif isinstance(obj, types.GeneratorType):
        code = obj.gi_code
    elif isinstance(obj, types.FunctionType):
        code = obj.__code__
    elif isinstance(obj, types.MethodType):
        return f"{name} {getattr(obj.__func__, '__qualname__', '?')}"
    elif isinstance(obj, types.TracebackType):
        code = obj.tb_frame.f_code
    elif isinstance(obj, BaseException):
        return f"{name} (exception)"
    if code is not None:
        return f"{name} {code.co_qualname}"
    return name


def count(objects: Iterable[object]) -> tuple[Counter[str], Counter[str]]:
    """By type, and by label (:func:`label`)."""
    by_type: Counter[str] = Counter()
    by_label: Counter[str] = Counter()
    for obj in objects:
        by_type[type(obj).__qualname__] += 1
        by_label[label(obj)] += 1
    return by_type, by_label


@dataclass(frozen=True, slots=True)
class Census:
    garbage: int  # objects freed only by collections in the census's seconds
    by_type: Counter[str]
    by_label: Counter[str]
    tracked: Counter[str]  # what a full collection walks (not frozen), by type


def tracked() -> Counter[str]:
    """The objects a full collection walks now, by type: its pause grows with them."""
    return Counter(type(obj).__qualname__ for obj in gc.get_objects())


async def census(seconds: float) -> Census:
    """Count what a full collection walks, then keep what every collection of the
    next ``seconds`` frees, and count it; the objects are let go after."""
    walked = tracked()
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await asyncio.sleep(seconds)
        gc.collect()
    finally:
        gc.set_debug(0)
    garbage = list(gc.garbage)
    gc.garbage.clear()
    try:
        by_type, by_label = count(garbage)
        return Census(len(garbage), by_type, by_label, walked)
    finally:
        del garbage
        gc.collect()  # now, not in a pause of the process's own after the census


def lines(found: Census, seconds: float, calls_ended: int, most: int = 25) -> list[str]:
    total = found.garbage
    per_call = f", {total / calls_ended:.0f} per call ended" if calls_ended else ""
    out = [f"gc census: {sum(found.tracked.values())} objects walked by a full collection;"
           " by type:"]
    out += [f"    {n:8d}  {name}" for name, n in found.tracked.most_common(most)]
    out += [f"gc census: {total} objects freed only by collections in {seconds:g} s"
            f"{per_call}; by type:"]
    out += [f"    {n:8d}  {name}" for name, n in found.by_type.most_common(most)]
    out.append("  by code or class:")
    out += [f"    {n:8d}  {name}" for name, n in found.by_label.most_common(most)]
    return out
