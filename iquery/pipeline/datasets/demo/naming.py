"""Names of the demo's instruments and videos.

Imported while the Snakefile is parsed (the DAG needs the video ids before anything is made), so
it must stay free of heavy imports.
"""

from __future__ import annotations

# General MIDI programs, 0-based (as pretty_midi and the MIDI bytes count them).
INSTRUMENT_PROGRAMS: dict[str, int] = {
    "accordion": 21,
    "acoustic_guitar": 24,
    "cello": 42,
    "clarinet": 71,
    "flute": 73,
    "saxophone": 65,
    "trumpet": 56,
    "tuba": 58,
    "violin": 40,
    "xylophone": 13,
}


def check_classes(classes: list[str]) -> None:
    """Raise ValueError naming the first class the demo cannot make."""
    for cls in classes:
        if cls not in INSTRUMENT_PROGRAMS:
            raise ValueError(
                f"demo class {cls!r} is not supported; choose from {', '.join(INSTRUMENT_PROGRAMS)}"
            )
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if duplicates:
        raise ValueError(f"demo classes listed twice: {', '.join(duplicates)}")


def demo_video_ids(classes: list[str], videos_per_class: int) -> list[tuple[str, str]]:
    """(class, video id) of every demo video, in class order then index."""
    check_classes(classes)
    if videos_per_class < 0:
        raise ValueError(f"videos_per_class must be >= 0, got {videos_per_class}")
    return [(cls, f"{cls}-{i:02d}") for cls in classes for i in range(videos_per_class)]
