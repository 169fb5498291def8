"""What a search may be asked to do: its strategy, effort and target (validated, cached)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vecnest.errors import InvalidInputError


class Strategy(StrEnum):
    """How one search was (or must be) executed."""

    EXACT = "exact"  #: brute force over every live row
    EXACT_FILTERED = "exact_filtered"  #: brute force over the rows that match the filter
    ANN = "ann"  #: approximate index (+ exact delta), no filter
    ANN_FILTERED = "ann_filtered"  #: index search restricted to the filter bitmap, adaptive effort
    #: the matching rows ranked by sign sketches, the best rescored exactly (chosen per filter:
    #: see :mod:`vecnest.search.sketch_filter`)
    SKETCH_FILTERED = "sketch_filtered"
    POST_FILTER = "post_filter"  #: oversampled unfiltered index search, filtered afterwards
    LEXICAL = "lexical"  #: BM25 only (``mode="lexical"``): no dense strategy ran


@dataclass(frozen=True)
class SearchOptions:
    """Per-search knobs; ``None`` means "calibrated default".

    Attributes:
        ef_search: HNSW candidate list size.
        nprobe: IVF cells to visit.
        target_recall: pick ``ef_search``/``nprobe`` from the build-time recall table.
        strategy: force a strategy (for experiments); the planner otherwise chooses.
        exact_below: scan matching rows exactly below this selectivity (overrides calibration).
        post_filter_above: post-filter at or above this selectivity (overrides calibration).
        rescore_multiplier: a collection with compression tiers: the first tier keeps
            ``k × this`` candidates for the next tiers to rescore (default: the pipeline's).
        tiers: a collection with compression tiers: which of the pipeline's tiers to run
            (increasing indices starting at 0, the RAM tier; default all).
    """

    ef_search: int | None = None
    nprobe: int | None = None
    target_recall: float | None = None
    strategy: Strategy | None = None
    exact_below: float | None = None
    post_filter_above: float | None = None
    rescore_multiplier: int | None = None
    tiers: tuple[int, ...] | None = None

    def validated(self) -> SearchOptions:
        """Raise a clear error for out-of-range knobs."""
        rm = self.rescore_multiplier
        if rm is not None and (isinstance(rm, bool) or not isinstance(rm, int) or not 1 <= rm <= 10_000):
            raise InvalidInputError(f"rescore_multiplier must be an int in 1..10000; got {rm!r}")
        if self.tiers is not None:
            if isinstance(self.tiers, (str, bytes)) or not isinstance(self.tiers, (list, tuple)) or not all(
                isinstance(t, int) and not isinstance(t, bool) for t in self.tiers
            ):
                raise InvalidInputError(f"tiers must be a list of tier indices (0 = the RAM tier); got {self.tiers!r}")
            object.__setattr__(self, "tiers", tuple(self.tiers))
        for name in ("ef_search", "nprobe"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000):
                raise InvalidInputError(f"{name} must be an int in 1..100000; got {value!r}")
        if self.target_recall is not None and not (
            isinstance(self.target_recall, (int, float)) and 0 < self.target_recall <= 1
        ):
            raise InvalidInputError(f"target_recall must be in (0, 1]; got {self.target_recall!r}")
        for name in ("exact_below", "post_filter_above"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1.1):
                raise InvalidInputError(f"{name} must be a selectivity in [0, 1]; got {value!r}")
        if self.strategy is not None:
            try:
                object.__setattr__(self, "strategy", Strategy(self.strategy))
                if self.strategy is Strategy.LEXICAL:
                    raise ValueError
            except ValueError:
                raise InvalidInputError(
                    f"strategy must be one of {[s.value for s in Strategy if s is not Strategy.LEXICAL]}; got "
                    f"{self.strategy!r} (for BM25 alone, search with mode='lexical')"
                ) from None
        return self


#: Validated search options by their arguments (a search usually repeats the same few).
_OPTIONS: dict[tuple[object, ...], SearchOptions] = {}


def search_options(
    ef_search: object, nprobe: object, target_recall: object, strategy: object,
    rescore_multiplier: object = None, tiers: object = None,
) -> SearchOptions:
    """Validated :class:`SearchOptions` for a search's arguments, cached (types are part of the
    key, so ``True`` is not taken for ``1``)."""
    key = (type(ef_search), ef_search, type(nprobe), nprobe, type(target_recall), target_recall, strategy,
           type(rescore_multiplier), rescore_multiplier, tuple(tiers) if isinstance(tiers, list) else tiers)
    try:
        opts = _OPTIONS.get(key)
    except TypeError:  # unhashable: let validation explain
        opts = None
    if opts is None:
        opts = SearchOptions(
            ef_search, nprobe, target_recall, strategy, rescore_multiplier=rescore_multiplier, tiers=tiers,  # type: ignore[arg-type]
        ).validated()
        if len(_OPTIONS) < 1024:
            _OPTIONS[key] = opts
    return opts
