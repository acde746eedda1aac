"""Copy a report into results/examples/ with only some of its figures, so that a shipped report
links only shipped files: every table (md, tex, csv), report.md, and the named PNG figures; an
image link to any other figure becomes a line that says how to draw it.

    python results/examples/ship_report.py results/cpu/report results/examples/cpu "python analysis/report.py cpu" \\
        accuracy noise transfer search_curves cost
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path


def main(src: str, dest: str, command: str, *keep: str) -> None:
    src_dir, dest_dir = Path(src), Path(dest)
    (dest_dir / "tables").mkdir(parents=True, exist_ok=True)
    (dest_dir / "figures").mkdir(parents=True, exist_ok=True)
    for old in (dest_dir / "figures").glob("*.png"):
        old.unlink()
    for table in (src_dir / "tables").iterdir():
        shutil.copy2(table, dest_dir / "tables" / table.name)
    for name in keep:
        shutil.copy2(src_dir / "figures" / f"{name}.png", dest_dir / "figures" / f"{name}.png")

    def image(m: re.Match) -> str:
        name = m.group(2)
        if name in keep:
            return m.group(0)
        return f"*(figure `{name}.png` not shipped: `{command}` draws it)*"

    text = (src_dir / "report.md").read_text()
    text = re.sub(r"!\[([^\]]*)\]\(figures/([^)]+)\.png\)", image, text)
    (dest_dir / "report.md").write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
