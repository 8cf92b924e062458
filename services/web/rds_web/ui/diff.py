"""Side-by-side diff of two texts, as rows a template renders as a table."""
import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffRow:
    #: same, del (left only), add (right only), chg (changed line on both sides)
    kind: str
    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None


def side_by_side(old: str, new: str) -> list[DiffRow]:
    """Every line of ``old`` and ``new`` aligned, unchanged ones included."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [DiffRow("same", i + 1, a[i], j + 1, b[j])
                     for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
            continue
        left, right = list(range(i1, i2)), list(range(j1, j2))
        for k in range(max(len(left), len(right))):
            i = left[k] if k < len(left) else None
            j = right[k] if k < len(right) else None
            kind = "chg" if i is not None and j is not None else ("del" if j is None else "add")
            rows.append(DiffRow(kind, None if i is None else i + 1,
                                None if i is None else a[i], None if j is None else j + 1,
                                None if j is None else b[j]))
    return rows


def stats(rows: list[DiffRow]) -> tuple[int, int]:
    """(lines removed, lines added)."""
    removed = sum(1 for r in rows if r.kind in ("del", "chg"))
    added = sum(1 for r in rows if r.kind in ("add", "chg"))
    return removed, added
