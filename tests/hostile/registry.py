"""Where cases register. A case is a function `fn(ctx, p)` that records problems in `p`
(`harness.Problems`); a group is a function `fn(ctx, selected)` over named sub-cases that runs
them together (e.g. submitted concurrently) and returns `{sub: Problems}`. Names are what `-k`
matches; the registration order is the run order (by `order`, then registration)."""

from typing import Callable, List, Optional


class Case:
    def __init__(self, name: str, fn: Callable, order: int, subcases: Optional[List[str]] = None):
        self.name, self.fn, self.order, self.subcases = name, fn, order, subcases

    def full_names(self) -> List[str]:
        return [f"{self.name}/{s}" for s in self.subcases] if self.subcases is not None else [self.name]


CASES: List[Case] = []


def case(name: str, order: int):
    def deco(fn):
        CASES.append(Case(name, fn, order))
        return fn
    return deco


def group(name: str, order: int, subcases: List[str]):
    def deco(fn):
        CASES.append(Case(name, fn, order, list(subcases)))
        return fn
    return deco


def ordered() -> List[Case]:
    return sorted(CASES, key=lambda c: (c.order, CASES.index(c)))
