"""A picture of a separation's page, as a browser shows it after playing a few seconds with one
track soloed (the page's own ``#selftest``): for the README and for checking the page by eye.

    .venv/bin/python tools/page_screenshot.py results/demo/separated/VIDEO docs/separation_page.png

Needs Chromium (``./setup.sh --test`` installs it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
    "--hide-scrollbars",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="what separate wrote (index.html and the rest)")
    parser.add_argument("png", type=Path)
    parser.add_argument("--size", default="1100,1400", help="the window, width,height")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: run ./setup.sh --test, which installs it")
    page = args.folder / "index.html"
    if not page.is_file():
        raise SystemExit(f"{page}: no such page; run iquery separate first")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=4000"]
            + [f"--screenshot={args.png.resolve()}", f"--window-size={args.size}"]
            + [page.resolve().as_uri() + "#selftest"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(args.png)


if __name__ == "__main__":
    main()
