"""Immutable postings for a set of documents (a "part" of a lexical index), built, merged, saved.

A part is a term-major compressed-sparse layout over the documents it holds:

- ``terms``: the part's vocabulary, sorted; ``terms[i]`` owns postings ``indptr[i]:indptr[i+1]``;
- ``docs``: ``(nnz,) int32`` (``int64`` past 2**31) slots, ascending within each term;
- ``tf``: ``(nnz,) uint16`` term frequency in that document (clipped at 65,535);
- ``slots`` / ``lengths``: ``(m,) int64`` the part's documents, ascending, and ``(m,) uint32`` how
  many terms each has (documents without terms are kept: they count in ``N``).

On disk a part is a directory of ``.npy`` files (:func:`part_arrays`; the vocabulary as
``'\\n'``-joined UTF-8 bytes — an analyser never emits whitespace inside a term), written and
loaded by :class:`vecnest.derived.DerivedDir`: no pickles; the big arrays are memory-mapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vecnest.errors import LexicalIndexError
from vecnest.lexical.analyzer import AnalyzedBatch

__all__ = ["Part", "build_part", "merge_parts", "part_arrays", "part_from_arrays"]

_ARRAYS = ("indptr", "docs", "tf", "slots", "lengths")
_TF_MAX = np.iinfo(np.uint16).max


@dataclass(frozen=True, eq=False)
class Part:
    """Postings of one set of documents; never mutated after construction."""

    terms: tuple[str, ...]
    indptr: np.ndarray  # (n_terms + 1,) int64
    docs: np.ndarray  # (nnz,) int32 or int64
    tf: np.ndarray  # (nnz,) uint16
    slots: np.ndarray  # (m,) int64 ascending
    lengths: np.ndarray  # (m,) uint32
    _lookup: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_docs(self) -> int:
        """Documents in the part."""
        return int(self.slots.shape[0])

    @property
    def nnz(self) -> int:
        """Postings in the part."""
        return int(self.docs.shape[0])

    @property
    def max_slot(self) -> int:
        """Largest slot held, ``-1`` when empty."""
        return int(self.slots[-1]) if self.slots.size else -1

    def row(self, term: str) -> int:
        """Row of ``term`` in the vocabulary, ``-1`` when absent (the lookup table is built on
        first use: about 15 ms per 100k terms)."""
        lookup = self._lookup
        if not lookup and self.terms:
            lookup.update(zip(self.terms, range(len(self.terms)), strict=True))
        return lookup.get(term, -1)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """``(docs, tf)`` views for ``term`` (empty when absent)."""
        r = self.row(term)
        if r < 0:
            return self.docs[:0], self.tf[:0]
        a, b = int(self.indptr[r]), int(self.indptr[r + 1])
        return self.docs[a:b], self.tf[a:b]


def _slot_dtype(max_slot: int) -> type:
    return np.int32 if max_slot < 2**31 - 1 else np.int64


def _assemble(
    terms: np.ndarray,
    term_ids: np.ndarray,
    docs: np.ndarray,
    tf: np.ndarray,
    slots: np.ndarray,
    lengths: np.ndarray,
    *,
    presorted: bool = False,
) -> Part:
    """A part from (term id, slot, tf) triples with distinct (term, slot) pairs; ``terms`` sorted.
    ``presorted``: the triples are already ordered by (term id, slot)."""
    n_terms = len(terms)
    used = np.zeros(n_terms, bool)
    used[term_ids] = True
    if not used.all():  # drop terms left without postings (after a purge)
        remap = np.cumsum(used) - 1
        term_ids = remap[term_ids]
        terms = terms[used]
        n_terms = len(terms)
    if not presorted:
        order = np.lexsort((docs, term_ids))
        term_ids, docs, tf = term_ids[order], docs[order], tf[order]
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(np.bincount(term_ids, minlength=n_terms), out=indptr[1:])
    max_slot = int(slots[-1]) if slots.size else 0
    return Part(
        terms=tuple(terms.tolist()),
        indptr=indptr,
        docs=docs.astype(_slot_dtype(max_slot)),
        tf=tf.astype(np.uint16),
        slots=slots.astype(np.int64),
        lengths=lengths.astype(np.uint32),
    )


def build_part(slots: np.ndarray, batch: AnalyzedBatch) -> Part:
    """Postings for analysed documents.

    Args:
        slots: ``(m,) int64`` strictly ascending slots, one per document of ``batch``.
        batch: the documents' terms (:meth:`Analyzer.analyze_batch`).

    Returns:
        The part (vocabulary sorted, postings ascending by slot within each term).
    """
    slots = np.asarray(slots, dtype=np.int64)
    m = slots.size
    names = np.array(batch.terms, dtype=object)
    order = np.argsort(names.astype(str), kind="stable") if names.size else np.empty(0, np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    # (term rank, document) keys: np.unique sorts them, so the postings come out term-major
    keys, tf = np.unique(rank[batch.ids] * m + batch.doc, return_counts=True)
    term_ids, doc_index = np.divmod(keys, max(m, 1))
    return _assemble(
        names[order],
        term_ids,
        slots[doc_index],
        np.minimum(tf, _TF_MAX),
        slots,
        np.asarray(batch.lengths),
        presorted=True,
    )


def merge_parts(parts: Sequence[Part], drop: np.ndarray | None = None) -> Part:
    """One part holding the documents of ``parts`` (whose slots are disjoint), minus ``drop``.

    Args:
        parts: the parts to merge.
        drop: ``(d,) int64`` sorted slots to purge (deleted documents), or ``None``.

    Returns:
        The merged part; identical to :func:`build_part` over the kept documents.
    """
    vocab = sorted(set().union(*(p.terms for p in parts)))
    index = {t: i for i, t in enumerate(vocab)}
    tids, docs, tfs, slots, lengths = [], [], [], [], []
    for p in parts:
        remap = np.fromiter((index[t] for t in p.terms), np.int64, len(p.terms))
        counts = np.diff(p.indptr)
        tids.append(np.repeat(remap, counts))
        docs.append(np.asarray(p.docs, dtype=np.int64))
        tfs.append(np.asarray(p.tf))
        slots.append(p.slots)
        lengths.append(p.lengths)
    tid = np.concatenate(tids) if tids else np.empty(0, np.int64)
    doc = np.concatenate(docs) if docs else np.empty(0, np.int64)
    tf = np.concatenate(tfs) if tfs else np.empty(0, np.uint16)
    slot = np.concatenate(slots) if slots else np.empty(0, np.int64)
    length = np.concatenate(lengths) if lengths else np.empty(0, np.uint32)
    order = np.argsort(slot, kind="stable")
    slot, length = slot[order], length[order]
    if drop is not None and drop.size and slot.size:
        dead = np.zeros(int(slot[-1]) + 1, bool)
        dead[drop[drop <= slot[-1]]] = True
        keep = ~dead[doc]
        tid, doc, tf = tid[keep], doc[keep], tf[keep]
        keep_docs = ~dead[slot]
        slot, length = slot[keep_docs], length[keep_docs]
    return _assemble(np.array(vocab, dtype=object), tid, doc, tf, slot, length)


def part_arrays(part: Part) -> dict[str, np.ndarray]:
    """The arrays a part is stored as (the vocabulary as ``'\\n'``-joined UTF-8 bytes)."""
    blob = np.frombuffer("\n".join(part.terms).encode("utf-8"), dtype=np.uint8)
    return {"terms": blob, **{name: np.asarray(getattr(part, name)) for name in _ARRAYS}}


def part_from_arrays(arrays: dict[str, np.ndarray], where: str) -> Part:
    """Inverse of :func:`part_arrays`.

    Raises:
        LexicalIndexError: an array is missing or the arrays disagree.
    """
    missing = [k for k in ("terms", *_ARRAYS) if k not in arrays]
    if missing:
        raise LexicalIndexError(f"lexical part {where} lacks {missing}; rebuild the lexical index")
    text = bytes(np.asarray(arrays["terms"])).decode("utf-8")
    terms = tuple(text.split("\n")) if text else ()
    part = Part(
        terms=terms,
        indptr=np.asarray(arrays["indptr"]),
        docs=arrays["docs"],
        tf=arrays["tf"],
        slots=np.asarray(arrays["slots"]),
        lengths=np.asarray(arrays["lengths"]),
    )
    n_terms = len(terms)
    if (
        part.indptr.shape != (n_terms + 1,)
        or int(part.indptr[-1]) != part.nnz
        or part.tf.shape != part.docs.shape
        or part.slots.shape != part.lengths.shape
    ):
        raise LexicalIndexError(
            f"lexical part {where}: arrays disagree ({n_terms} terms, indptr "
            f"{part.indptr.shape}, {part.nnz} postings, {part.tf.shape[0]} frequencies, "
            f"{part.n_docs} slots, {part.lengths.shape[0]} lengths); rebuild the lexical index"
        )
    return part
