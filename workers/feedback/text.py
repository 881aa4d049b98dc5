"""Plain-text helpers shared by the tagger and the moderator: sentences, words, phrase matching.

Phrases are matched on word sequences, not with one big regex alternation: a dictionary keyed by
the first word keeps the cost linear in the text whatever the size of the vocabulary.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: A word: letters/digits with inner apostrophes or hyphens ("didn't", "non-comedogenic").
WORD_RE = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\n\s*")
_END = ""  # the trie key under which a complete sequence keeps its value (no word is empty)
_PART_RE = re.compile(r"\{[^{}]*\}|[^\s{}]+")


def normalize(text: str) -> str:
    """Typographic apostrophes and dashes to ASCII, so "didn’t" negates like "didn't"."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-").replace("\u2014", "-")


def joined(*parts: str | None) -> str:
    """Several fields of one item (title, body, notes) as one text, one field per line."""
    return "\n".join(p.strip() for p in parts if p and p.strip())


def sentences(text: str) -> list[str]:
    """Split on sentence punctuation and line breaks; empty pieces are dropped."""
    return [s for s in (p.strip() for p in _SENTENCE_END_RE.split(text)) if s]


def expand(form: str) -> list[tuple[str, ...]]:
    """``"{broke|break} {my|} skin out"`` -> every word sequence it stands for.

    A brace group is one slot of alternatives, each one or more words; an empty alternative
    drops the slot.
    """
    slots: list[list[tuple[str, ...]]] = []
    for part in _PART_RE.findall(form.lower()):
        if part.startswith("{"):
            slots.append([tuple(alt.split()) for alt in part[1:-1].split("|")])
        else:
            slots.append([(part,)])
    return [tuple(w for alt in combo for w in alt) for combo in itertools.product(*slots)]


class PhraseMatcher(Generic[V]):
    """Finds word sequences of a vocabulary in a list of words, walking a trie of the sequences."""

    def __init__(self, entries: Iterable[tuple[tuple[str, ...], V]]) -> None:
        self._root: dict[str, Any] = {}
        for seq, value in entries:
            if seq:
                node = self._root
                for word in seq:
                    node = node.setdefault(word, {})
                node[_END] = value
        #: The words a sequence can start with: most texts contain none, and are done in C.
        self._first = frozenset(self._root)

    def longest(self, seq: Sequence[str]) -> list[tuple[int, int, V]]:
        """Non-overlapping matches, longest at each position, left to right: (start, end, value)."""
        found: list[tuple[int, int, V]] = []
        if self._first.isdisjoint(seq):
            return found
        i, n, root = 0, len(seq), self._root
        while i < n:
            node = root.get(seq[i])
            end, value, j = 0, None, i + 1
            while node is not None:  # walk as deep as the words allow, remembering the last end
                if _END in node:
                    end, value = j, node[_END]
                if j == n:
                    break
                node = node.get(seq[j])
                j += 1
            if end:
                found.append((i, end, value))  # type: ignore[arg-type]
                i = end
            else:
                i += 1
        return found

    def all(self, seq: Sequence[str]) -> list[tuple[int, int, V]]:
        """Every match, overlapping ones included, by start then length."""
        found: list[tuple[int, int, V]] = []
        if self._first.isdisjoint(seq):
            return found
        root, n = self._root, len(seq)
        for i, word in enumerate(seq):
            node = root.get(word)
            j = i + 1
            while node is not None:
                if _END in node:
                    found.append((i, j, node[_END]))
                if j == n:
                    break
                node = node.get(seq[j])
                j += 1
        return found
