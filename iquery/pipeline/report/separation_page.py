"""What ``separate`` shows of a separated video: a picture of each track's share of the
mixture's spectrogram, and a page with a player per track. Both are written beside the tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import atomic_path


def masks_figure(
    mixture: np.ndarray, tracks: dict[str, np.ndarray], seconds: float, rate: int, path: Path
) -> None:
    """The mixture's spectrogram, and over it each track's share of every bin (its mask).
    ``mixture`` and ``tracks``: magnitude spectrograms (frequency, time) of the same shape."""
    from iquery.pipeline.report.report import pyplot

    plt = pyplot()
    mix = mixture + 1e-8
    extent = (0, seconds, 0, rate / 2000)
    fig, axes = plt.subplots(len(tracks) + 1, 1, figsize=(10, 2.2 * (len(tracks) + 1)))
    axes = np.atleast_1d(axes)
    axes[0].imshow(20 * np.log10(mix), origin="lower", aspect="auto", extent=extent, cmap="magma")
    axes[0].set_title("mixture (dB)")
    for ax, (name, track) in zip(axes[1:], tracks.items(), strict=True):
        share = np.clip(track / mix, 0, 1)
        share[mix < 1e-3 * mix.max()] = np.nan  # near silence: no share worth showing
        ax.imshow(20 * np.log10(mix), origin="lower", aspect="auto", extent=extent, cmap="gray")
        ax.imshow(share, origin="lower", aspect="auto", extent=extent, cmap="viridis", alpha=0.7)
        ax.set_title(f"{name}: its share of each time-frequency bin")
    for ax in axes:
        ax.set_ylabel("kHz")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def write_page(out: Path, title: str, names: list[str], facts: dict) -> None:
    """index.html beside the files: a player per track (video and sound), and the masks."""
    import base64
    import html

    picture = base64.b64encode((out / "masks.png").read_bytes()).decode()
    rows = "\n".join(
        f"<tr><td>{html.escape(n)}</td><td><video controls width=320 src='{html.escape(n)}.mp4'>"
        f"</video></td><td><audio controls src='{html.escape(n)}.wav'></audio></td></tr>"
        for n in ["mixture", *names, "residual"]
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td{{padding:4px 12px}}
</style></head><body><h1>{html.escape(title)}</h1>
<p>Separated with {html.escape(facts["checkpoint"])} ({html.escape(facts["variant"])}), classes
chosen {html.escape(facts["classes_from"])}; {facts["seconds_audio"]:.1f} s of sound in
{facts["windows"]} windows. The tracks and the residual add up to the mixture.</p>
<table><tr><th>track</th><th>video</th><th>sound</th></tr>
{rows}</table>
<h2>Masks</h2><img alt="masks over the mixture's spectrogram" style="width:100%"
src="data:image/png;base64,{picture}">
</body></html>
"""
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text(page)
