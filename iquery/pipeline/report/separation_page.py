"""What ``separate`` shows of a separated video: a picture of each track's share of the
mixture's spectrogram, and a page to listen with. Both are written beside the tracks.

The page is one self-contained file that opens from disk: the video's pictures, one transport
(play, pause, seek) that plays every track in step, solo and mute per track (the mixture alone
at first), a download link per track, and the masks picture with the playhead drawn across it.
Its state (each track's time and whether it is heard) is kept in ``data-state`` on its body,
for the eye of a test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import atomic_path


def masks_figure(
    mixture: np.ndarray, tracks: dict[str, np.ndarray], seconds: float, rate: int, path: Path
) -> tuple[float, float]:
    """The mixture's spectrogram, and over it each track's share of every bin (its mask).
    ``mixture`` and ``tracks``: magnitude spectrograms (frequency, time) of the same shape.
    Returns where the time axis starts and ends, as shares of the picture's width (for the
    page's playhead)."""
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
    box = axes[-1].get_position()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return float(box.x0), float(box.x1)


PAGE_SCRIPT = """
const tracks = [...document.querySelectorAll("audio")];
const picture = document.querySelector("video");
const play = document.getElementById("play"), seek = document.getElementById("seek");
const clock = document.getElementById("clock"), head = document.getElementById("playhead");
const master = tracks[0];
const heard = new Set(["mixture"]);
function apply() {
  for (const t of tracks) t.muted = !heard.has(t.dataset.name);
  for (const row of document.querySelectorAll("tr[data-name]")) {
    row.querySelector(".mute").checked = !heard.has(row.dataset.name);
  }
  report();
}
function solo(name) { heard.clear(); heard.add(name); apply(); }
function toggle(name) { heard.has(name) ? heard.delete(name) : heard.add(name); apply(); }
function report() {
  document.body.dataset.state = JSON.stringify({
    playing: !master.paused,
    tracks: tracks.map(t => ({name: t.dataset.name, muted: t.muted, time: t.currentTime})),
    picture: picture.currentTime,
  });
}
function everyone() { return [...tracks, picture]; }
play.onclick = () => {
  if (master.paused) {
    for (const m of everyone()) m.currentTime = master.currentTime;
    Promise.all(everyone().map(m => m.play())).then(report);
    play.textContent = "pause";
  } else {
    for (const m of everyone()) m.pause();
    play.textContent = "play";
    report();
  }
};
seek.oninput = () => {
  for (const m of everyone()) m.currentTime = seek.value * master.duration;
  report();
};
function tick() {
  const now = master.currentTime;
  for (const m of everyone()) {
    if (Math.abs(m.currentTime - now) > 0.04) m.currentTime = now;  // drifted: back in step
  }
  if (master.duration) {
    seek.value = now / master.duration;
    head.style.left = (X0 + (X1 - X0) * now / master.duration) * 100 + "%";
  }
  clock.textContent = now.toFixed(1) + " s";
  if (!master.paused) report();
  requestAnimationFrame(tick);
}
apply();
requestAnimationFrame(tick);
// #selftest: play, solo the first track after half a second, and leave the state a second
// later in data-check (what the tests read through a headless browser).
if (location.hash === "#selftest") {
  play.click();
  setTimeout(() => solo(tracks[1].dataset.name), 500);
  setTimeout(() => { report(); document.body.dataset.check = document.body.dataset.state; }, 1500);
}
"""


def write_page(
    out: Path, title: str, names: list[str], facts: dict, axis: tuple[float, float] = (0, 1)
) -> None:
    """index.html beside the files (see the module's docstring); ``axis``: where the masks
    picture's time axis lies, as shares of its width."""
    import base64
    import html

    picture = base64.b64encode((out / "masks.png").read_bytes()).decode()
    rows = "\n".join(
        f"<tr data-name='{html.escape(n)}'><td>{html.escape(n)}</td>"
        f"<td><button class='solo' onclick='solo(\"{html.escape(n)}\")'>solo</button></td>"
        f"<td><label><input type=checkbox class='mute' onclick='toggle(\"{html.escape(n)}\")'>"
        f" mute</label></td><td><a href='{html.escape(n)}.wav' download>{html.escape(n)}.wav</a>"
        f" <a href='{html.escape(n)}.mp4' download>.mp4</a>"
        f"<audio preload=auto data-name='{html.escape(n)}' src='{html.escape(n)}.wav'></audio>"
        "</td></tr>"
        for n in ["mixture", *names, "residual"]
    )
    output = facts.get("output", {})
    script = PAGE_SCRIPT.replace("X0", f"{axis[0]:.4f}").replace("X1", f"{axis[1]:.4f}")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td{{padding:4px 12px}}
#masks{{position:relative}}#masks img{{width:100%;display:block}}
#playhead{{position:absolute;top:0;bottom:0;width:2px;background:#e33;left:0}}
#transport{{display:flex;gap:1em;align-items:center}}#seek{{flex:1}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Separated with {html.escape(facts["checkpoint"])} ({html.escape(facts["variant"])}), classes
chosen {html.escape(facts["classes_from"])}; {facts["seconds_audio"]:.1f} s of sound in
{facts["windows"]} windows; tracks at {output.get("rate", "?")} Hz, {output.get("channels", "?")}
channel(s). The tracks and the residual add up to the mixture.</p>
<video muted playsinline width=480 src="mixture.mp4"></video>
<div id="transport"><button id="play">play</button>
<input id="seek" type="range" min=0 max=1 step=0.001 value=0><span id="clock">0.0 s</span></div>
<table><tr><th>track</th><th></th><th></th><th>download</th></tr>
{rows}</table>
<h2>Masks</h2><div id="masks"><img alt="masks over the mixture's spectrogram"
src="data:image/png;base64,{picture}"><div id="playhead"></div></div>
<script>{script}</script>
</body></html>
"""
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text(page)
