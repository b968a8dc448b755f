"""Fetch one file a config key gives as a URL (an index list, network weights), once.

    python -m iquery.cli.fetch --url https://.../Annotations.txt \
        --key datasets.ave.index.annotations --out data/ave/index/1a2b3c4d-Annotations.txt

Written atomically, with retries; its size and sha256 are logged. ``--offline`` fetches nothing
and fails with a message naming the key and the URL.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from iquery.pipeline.core.errors import ConfigError
from iquery.pipeline.datasets.sources import fetch_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True, help="the config key giving the URL")
    parser.add_argument("--out", required=True)
    parser.add_argument("--offline", action="store_true", help="fetch nothing")
    args = parser.parse_args(argv)
    if not args.offline:
        print(f"config key {args.key}: fetching {args.url}", file=sys.stderr)
    try:
        out = fetch_url(args.url, Path(args.out), offline=args.offline)
    except ConfigError as err:
        raise SystemExit(f"config key {args.key}: {err}") from err
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out}: {out.stat().st_size} bytes, sha256 {digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
