"""A user's CSV file as a data set: numeric feature columns and one label column.

The file is untrusted input: it is parsed with the ``csv`` module and numpy's number
conversion only (nothing is evaluated), its size is bounded before it is read (the limits
live in ``landscapes.models.data``), and every rejection is a ValueError that names the row
(the file's line number) and the column, so a person can find and fix the cell.
"""

import csv
import io

import numpy as np

from common.params import Interval, shown

from .data import (
    MAX_CLASSES,
    MAX_CSV_BYTES,
    MAX_FEATURES,
    MAX_ROWS,
    MIN_ROWS,
    SPLIT,
    Dataset,
    split_and_scale,
)

_DELIMITERS = ",;\t"


def dataset_from_csv(
    data: str | bytes,
    label_column: str | int | None = None,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    name: str = "csv",
) -> Dataset:
    """The CSV text (or UTF-8 bytes) as a split, standardised :class:`Dataset`.

    ``label_column``: a header name, a column index (negative counts from the end), or None
    for the last column. The first row is a header when any of its feature cells is not a
    number. Labels may be any text; numeric labels are ordered as numbers.
    """
    split = {p.name: p.check("csv", v) for p, v in zip(SPLIT, (val_fraction, seed), strict=True)}
    rows = _read_rows(_text(data))
    first = rows[0][1]
    label, has_header = _label_index(first, label_column)
    header = (
        [c.strip() for c in first] if has_header else [f"column {i + 1}" for i in range(len(first))]
    )
    body = rows[1:] if has_header else rows
    if not MIN_ROWS <= len(body) <= MAX_ROWS:
        raise ValueError(f"CSV: {len(body):,} data rows; {MIN_ROWS} to {MAX_ROWS:,} are supported")
    feature_cols = [i for i in range(len(header)) if i != label]
    if not feature_cols or len(feature_cols) > MAX_FEATURES:
        raise ValueError(
            f"CSV: {len(feature_cols)} feature columns; 1 to {MAX_FEATURES} are supported"
        )
    x = _features(body, feature_cols, header)
    y, classes = _labels(body, label, header[label])
    features = tuple(header[i] for i in feature_cols)
    rng = np.random.default_rng(split["seed"])
    return split_and_scale(name, x, y, features, classes, split["val_fraction"], rng)


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        size = len(data.encode("utf-8", "surrogatepass"))
    elif isinstance(data, bytes | bytearray):
        size = len(data)
    else:
        raise ValueError(f"CSV: expected text or bytes; got {type(data).__name__}")
    if size > MAX_CSV_BYTES:
        raise ValueError(f"CSV: the file has {size:,} bytes; the limit is {MAX_CSV_BYTES:,}")
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"CSV: not UTF-8 text (bad byte at offset {err.start})") from None


def _read_rows(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows as (line number, cells), all as wide as the first."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ValueError("CSV: the file is empty")
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            width = len(rows[0][1]) if rows else len(cells)
            if len(cells) != width:
                raise ValueError(
                    f"CSV: row {reader.line_num} has {len(cells)} fields; expected {width} "
                    "(as in the first row)"
                )
            if len(rows) > MAX_ROWS:  # a header and MAX_ROWS data rows fit
                raise ValueError(f"CSV: more than {MAX_ROWS:,} data rows")
            rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise ValueError(f"CSV: row {reader.line_num}: {err}") from None
    if len(rows[0][1]) < 2:
        raise ValueError("CSV: one column only; expected feature columns and a label column")
    return rows


def _label_index(first: list[str], label_column) -> tuple[int, bool]:
    """(index of the label column, whether the first row is a header)."""
    names = [c.strip() for c in first]
    width = len(names)
    if isinstance(label_column, str):
        if label_column.strip() not in names:
            raise ValueError(
                f"CSV: no column named {shown(label_column)} in the header; columns: {shown(names)}"
            )
        return names.index(label_column.strip()), True
    if label_column is None:
        index = width - 1
    else:
        allowed = Interval(-width, width - 1, integer=True)
        if not allowed.contains(label_column):
            raise ValueError(
                f"CSV: 'label_column' must be a column name or {allowed.describe()}; "
                f"got {shown(label_column)}"
            )
        index = int(label_column) % width
    header = any(not _is_number(c) for i, c in enumerate(names) if i != index)
    return index, header


def _is_number(cell: str) -> bool:
    try:
        return bool(np.isfinite(float(cell)))
    except ValueError:
        return False


def _features(body: list[tuple], cols: list[int], header: list[str]) -> np.ndarray:
    cells = np.array([[cells[i] for i in cols] for _, cells in body], dtype=object)
    try:
        x = cells.astype(np.float64)
        finite = np.isfinite(x)
    except ValueError:  # the slow path, only to find the bad cell
        finite = np.vectorize(_is_number, otypes=[bool])(cells)
    if not finite.all():
        r, j = np.argwhere(~finite)[0]
        cell = cells[r, j]
        what = "the cell is empty" if not cell.strip() else f"{shown(cell)} is not a finite number"
        raise ValueError(
            f"CSV: row {body[r][0]}, column {shown(header[cols[j]])}: {what} "
            "(features must be numbers)"
        )
    return x


def _labels(body: list[tuple], index: int, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    texts = [cells[index].strip() for _, cells in body]
    for (line, _), text in zip(body, texts, strict=True):
        if not text:
            raise ValueError(f"CSV: row {line}, label column {shown(column)}: empty label")
    distinct = sorted(set(texts))
    if all(_is_number(t) for t in distinct):
        distinct.sort(key=float)
    if not 2 <= len(distinct) <= MAX_CLASSES:
        raise ValueError(
            f"CSV: label column {shown(column)} has {len(distinct)} distinct values; "
            f"2 to {MAX_CLASSES} classes are supported (is it a numeric target?)"
        )
    code = {t: k for k, t in enumerate(distinct)}
    return np.array([code[t] for t in texts], dtype=np.int64), tuple(distinct)
