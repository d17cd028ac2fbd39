"""A transition matrix (recorded or active answer → candidate answer) as plain text."""

ANSWERS = ("allow", "escalate", "deny")


def matrix_text(matrix: dict, *, rows_label: str, columns_label: str) -> str:
    """Rows are the first answer, columns the second; the diagonal is 'unchanged'."""
    corner = f"{rows_label} → {columns_label}"
    width = max(len(corner), 10) + 2
    lines = [corner.ljust(width) + "".join(f"{a:>10}" for a in ANSWERS)]
    for before in ANSWERS:
        cells = matrix.get(before, {})
        lines.append(before.ljust(width) + "".join(f"{cells.get(after, 0):>10}" for after in ANSWERS))
    return "\n".join(lines)
