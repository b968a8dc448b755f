"""One self-contained HTML page per run: results table, training curves, separated examples.

Reads from each run folder ``metrics.json`` and ``per_pair.tsv`` (evaluate), ``train_summary.json``
and the CSV logs (train); from the main run also ``examples.npz`` (evaluate --examples). Figures
are PNGs and sounds WAVs, both embedded as data URIs, so the page opens from disk, can be mailed,
and needs no network. A short script marks the page with what loaded (``data-check`` on
``<body>``), which the tests read from a headless browser.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iquery.pipeline.core.files import read_json
from iquery.pipeline.core.layout import RunFolder

METRICS = ("sdr", "sir", "sar")


# ----------------------------------------------------------------------------------------------
# Reading a run


@dataclass
class Run:
    folder: RunFolder
    name: str
    metrics: dict
    summary: dict
    per_pair: list[dict]
    history: list[dict] = field(default_factory=list)

    @property
    def variant(self) -> str:
        return str(self.metrics.get("variant") or self.summary.get("variant") or "?")

    @property
    def label(self) -> str:
        """The method's name (evaluation records it) and the run's, as the tables show them."""
        return f"{self.metrics.get('label') or self.variant} ({self.name})"


def read_history(folder: RunFolder) -> list[dict]:
    """Per-epoch rows (train/loss_epoch, val/sdr, ...) from every CSV log version of a run; a
    resumed run writes a new version, whose rows win for the epochs it repeats."""
    epochs: dict[int, dict] = {}
    logs = Path(folder.logs).glob("version_*/metrics.csv")
    for path in sorted(logs, key=_version_number):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("epoch"):
                    continue
                entry = epochs.setdefault(int(row["epoch"]), {"epoch": int(row["epoch"])})
                for key, value in row.items():
                    if key != "epoch" and value not in ("", None):
                        entry[key] = float(value)
    return [epochs[e] for e in sorted(epochs)]


def _version_number(path: Path) -> int:
    try:
        return int(path.parent.name.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def read_run(path: str | Path) -> Run:
    folder = RunFolder(str(path))
    try:
        with open(folder.per_pair, newline="") as f:
            per_pair = list(csv.DictReader(f, delimiter="\t"))
    except OSError as err:
        raise ValueError(f"{folder.per_pair}: unreadable ({err}); evaluate first") from err
    summary = Path(folder.summary)
    return Run(
        folder=folder,
        name=Path(path).name,
        metrics=read_json(folder.metrics, "evaluate the run first"),
        summary=read_json(summary, "train the run first") if summary.is_file() else {},
        per_pair=per_pair,
        history=read_history(folder),
    )


# ----------------------------------------------------------------------------------------------
# Tables (from the comparison: ``iquery/model/comparison.py``)


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _span(entry: dict | None, digits: int = 2, sign: str = "") -> str:
    """'8.51 [7.60, 9.43]': a mean and its interval."""
    if not entry or entry.get("mean") is None:
        return "–"
    low, high = entry.get("low"), entry.get("high")
    mean = f"{entry['mean']:{sign}.{digits}f}"
    if low is None or high is None:
        return mean
    return f"{mean} <span class='interval'>[{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]</span>"


def _seed_spread(entry: dict) -> str:
    per_seed = entry.get("per_seed") or []
    if len(per_seed) < 2:
        return "–"
    values = ", ".join(f"{v:.2f}" for v in per_seed)
    return f"{_fmt(entry.get('seed_sd'))} <span class='interval'>({values})</span>"


def differences_to_mixture(comparison: dict) -> dict[str, dict]:
    return {d["a"]: d for d in comparison["differences"] if d["b"] == "mixture"}


def results_table(comparison: dict) -> str:
    """Every method: SDR, SIR, SAR with their intervals (over the test videos), the median pair,
    the gain over the mixture (paired), the spread over seeds and what chose the checkpoint."""
    gains = differences_to_mixture(comparison)
    several = len(comparison.get("seeds") or []) > 1
    head = (
        "<tr><th>method</th><th>SDR</th><th>SIR</th><th>SAR</th><th>SDR median pair</th>"
        "<th>SDR − mixture (paired)</th>"
        + ("<th>SDR: SD over seeds (each seed)</th>" if several else "")
        + "<th>checkpoint chosen on</th></tr>"
    )
    body = []
    for m in comparison["methods"]:
        label = f"{m['label']} ({m['name']})" if m["kind"] == "model" else m["label"]
        cells = [html.escape(label)]
        cells += [_span(m[k]) for k in METRICS]
        cells.append(_fmt(m["sdr"].get("median")))
        gain = gains.get(m["name"])
        cells.append(_span(gain, sign="+") if gain else "–")
        if several:
            cells.append(_seed_spread(m["sdr"]) if m["kind"] == "model" else "–")
        cells.append(html.escape(", ".join(m.get("selection") or [])))
        body.append(f'<tr class="{m["kind"]}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="results">{head}{"".join(body)}</table>'


def _over(comparison: dict) -> str:
    """What the intervals of a comparison draw again, in words."""
    return comparison.get("bootstrap", {}).get("over", "pairs")


def differences_table(comparison: dict) -> str:
    """Each pair of methods scored on the same pairs: the paired difference in SDR, its interval
    over the test videos (what decides "resolved"), and the narrower one over these videos'
    pairs only, labelled as such."""
    head = (
        f"<tr><th>difference (SDR)</th><th>mean</th><th>95 % interval over "
        f"{html.escape(_over(comparison))}</th>"
        "<th>over pairs only (these videos)</th>"
        "<th>pairs won (first / second / tied)</th><th>resolved (over videos)</th></tr>"
    )
    body = []
    for d in comparison["differences"]:
        pairs_only = d.get("pairs_only")
        cells = [
            html.escape(f"{d['label_a']} − {d['label_b']}"),
            f"{d['mean']:+.2f}",
            f"[{d['low']:+.2f}, {d['high']:+.2f}]" if d["low"] is not None else "– (too few)",
            f"[{pairs_only['low']:+.2f}, {pairs_only['high']:+.2f}]" if pairs_only else "–",
            f"{d['wins_a']} / {d['wins_b']} / {d['ties']}",
            "yes" if d["resolved"] else "no: the interval holds 0",
        ]
        kind = "resolved" if d["resolved"] else "unresolved"
        body.append(f'<tr class="{kind}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="differences">{head}{"".join(body)}</table>'


def resolution_text(comparison: dict) -> str:
    """Plain sentences: what the test set resolves, and what it cannot, and over what."""
    seeds = comparison.get("seeds") or []
    pairs = comparison["pairs"]["compared"]
    videos = (comparison.get("test_videos") or {}).get("count")
    if videos:
        over = f"the {videos} test videos (drawn again within each class; a pair weighted by both "
        over += f"its videos), over {pairs} pairs"
    else:
        over = f"the {pairs} test pairs"
    over += f", and the {len(seeds)} training seeds" if len(seeds) > 1 else ""
    lines = [
        f"Intervals: 95 %, from a bootstrap over {over} "
        f"({comparison['bootstrap']['draws']} draws, seeded). They say what another set of test "
        "videos of these classes would give. Differences are paired: both methods on the same "
        "pairs. A difference is resolved when its interval leaves out 0."
    ]
    if videos:
        lines.append(
            "Beside them, the interval over the pairs alone: it says only what other pairs of "
            "these same videos would give, and is narrower than the test set's real chance "
            "(a hard video is hard in every pair it is in); it decides nothing here."
        )
    width = comparison.get("resolvable_db")
    if width is not None:
        lines.append(
            f"Between two trained methods these test videos resolve differences of about "
            f"±{width:.2f} dB or more; a smaller one cannot be told from chance here."
        )
    if len(seeds) < 2:
        lines.append(
            "One training seed: the intervals carry the test videos' chance, not training's. "
            "Another seed may move a method by as much as the differences between methods "
            "(the evaluate_&lt;dataset&gt;_seeds targets train several)."
        )
    items = "".join(f"<li>{html.escape(d['sentence'])}</li>" for d in comparison["differences"])
    return "".join(f"<p>{line}</p>" for line in lines) + f"<ul class='verdicts'>{items}</ul>"


def per_class_table(comparison: dict) -> str:
    """SDR per source class, with its interval over the test videos: the unprocessed mixture and
    the ideal ratio mask (the floor and the ceiling of the same clips), then each run, marked
    where it is below the mixture; then, per class, whether its test videos rank the methods."""
    methods = {m["name"]: m for m in comparison["methods"]}
    mixture = methods.get("mixture", {}).get("per_class", {})
    if not mixture:
        return ""
    order = ["mixture", "irm"] + [m["name"] for m in comparison["methods"] if m["kind"] == "model"]
    order = [name for name in order if name in methods]
    head = "<tr><th>class</th><th>test videos</th>" + "".join(
        f"<th>{html.escape(methods[n]['label'])}</th>" for n in order
    )
    body = []
    for cls, floor in mixture.items():
        cells = [f"<td>{html.escape(cls)}</td><td>{floor.get('videos', '–')}</td>"]
        for name in order:
            entry = methods[name]["per_class"].get(cls)
            below = methods[name]["kind"] == "model" and entry and entry["mean"] < floor["mean"]
            mark = ' class="below" title="below the unprocessed mixture"' if below else ""
            cells.append(f"<td{mark}>{_span(entry)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = f'<table class="per-class">{head}</tr>{"".join(body)}</table>'
    verdicts = comparison.get("per_class_differences") or {}
    if not verdicts:
        return table
    items = "".join(f"<li>{html.escape(v['sentence'])}</li>" for v in verdicts.values())
    return (
        table + "<p>Whether each class's own test videos rank the methods (paired differences on "
        "that class's sources, intervals over the test videos):</p>"
        f"<ul class='class-verdicts'>{items}</ul>"
    )


def motion_note(runs: dict[str, list[Run]]) -> str:
    """Which motion weights the runs used, and what a motion ablation can show with them."""
    uses_motion = any(seeds and seeds[0].variant == "iquery" for seeds in runs.values())
    for seeds in runs.values():
        data = seeds[0].summary.get("data", {}) if seeds else {}
        learned = Path(data.get("motion_weights_file") or "").parent.name == "motion_encoder"
        if uses_motion and learned:
            return (
                "<p class='note'>The motion features of these runs come from a small I3D "
                "learned on this dataset's own training videos (rule motion_encoder: from each "
                "token, the loudness and the onsets of its stretch of sound; no labels, no "
                "validation or test video), the stand-in for FAME's weights where none can be "
                f"had (weights sha256 {str(data.get('motion_weights'))[:12]}).</p>"
            )
        if uses_motion and data.get("motion_weights_file"):
            return (
                "<p class='note'>The motion features of these runs come from the I3D weights "
                f"in {html.escape(Path(data['motion_weights_file']).name)} (sha256 "
                f"{str(data.get('motion_weights'))[:12]}).</p>"
            )
        if uses_motion and data.get("motion_weights") == "random":
            return (
                "<p class='note'>The motion features of these runs come from an I3D network "
                "with random weights (no trained weights were given): they carry what a "
                "random network keeps of the frames, not learned motion. A difference between "
                "iQuery and its no-motion ablation here says whether the model makes use of "
                "these features, not whether motion helps separation.</p>"
            )
    return ""


# ----------------------------------------------------------------------------------------------
# Figures and sounds as data URIs


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def png_uri(fig_or_png) -> str:
    data = fig_or_png if isinstance(fig_or_png, bytes) else png_bytes(fig_or_png)
    return "data:image/png;base64," + base64.b64encode(data).decode()


def wav_uri(signal: np.ndarray, rate: int) -> str:
    """16-bit mono WAV of a float signal in [-1, 1]."""
    pcm = (np.clip(np.asarray(signal, dtype=np.float64), -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def curves_figure(runs: dict[str, list[Run]]) -> bytes | None:
    """Training loss per epoch, and validation SDR against training batches and against
    training wall time, every seed of a run in its colour: a curve still rising at its end
    says more training would help (PNG)."""
    if not any(seed.history for seeds in runs.values() for seed in seeds):
        return None
    plt = pyplot()
    fig, (ax_loss, ax_steps, ax_time) = plt.subplots(1, 3, figsize=(15, 3.6))
    for k, (name, seeds) in enumerate(runs.items()):
        colour = f"C{k % 10}"
        for i, run in enumerate(seeds):
            label = name if i == 0 else None
            epochs = [h["epoch"] + 1 for h in run.history]
            loss = [h.get("train/loss_epoch", math.nan) for h in run.history]
            sdr = [h.get("val/sdr", math.nan) for h in run.history]
            batches = [h.get("progress/batches", math.nan) for h in run.history]
            minutes = [h.get("progress/train_seconds", math.nan) / 60 for h in run.history]
            style = {"marker": ".", "color": colour, "label": label, "alpha": 1 if i == 0 else 0.5}
            ax_loss.plot(epochs, loss, **style)
            ax_steps.plot(batches, sdr, **style)
            ax_time.plot(minutes, sdr, **style)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss (epoch mean)")
    ax_steps.set(xlabel="training batches", ylabel="SDR (dB)", title="validation SDR")
    ax_time.set(xlabel="training wall time (min)", ylabel="SDR (dB)", title="validation SDR")
    for ax in (ax_loss, ax_steps, ax_time):
        ax.grid(alpha=0.3)
        ax.legend()
    return png_bytes(fig)


def per_class_figure(comparison: dict) -> bytes | None:
    """Test SDR per source class, each bar with its 95 % interval (PNG)."""
    methods = [m for m in comparison["methods"] if m.get("per_class")]
    classes = sorted({c for m in methods for c in m["per_class"]})
    if not classes:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(classes) * len(methods) ** 0.5), 3.6))
    width = 0.8 / len(methods)
    x = np.arange(len(classes))
    for i, m in enumerate(methods):
        entries = [m["per_class"].get(c) for c in classes]
        means = np.array([e["mean"] if e else np.nan for e in entries])
        # No bar where the class has too few videos to draw them again.
        below = np.array(
            [e["mean"] - e["low"] if e and e["low"] is not None else np.nan for e in entries]
        )
        above = np.array(
            [e["high"] - e["mean"] if e and e["high"] is not None else np.nan for e in entries]
        )
        hatch = "//" if m["kind"] == "reference" else None
        ax.bar(x + i * width, means, width, label=m["label"], hatch=hatch, alpha=0.9)
        # A percentile interval of a few, very uneven draws can leave out the mean itself.
        yerr = np.clip([below, above], 0, None)
        ax.errorbar(x + i * width, means, yerr=yerr, fmt="none", ecolor="black", linewidth=0.8)
    ax.set_xticks(x + 0.4 - width / 2, classes, rotation=30, ha="right")
    ax.set(
        ylabel="SDR (dB)",
        title="test SDR per source class, with 95 % intervals over the test videos",
    )
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    return png_bytes(fig)


def example_figure(examples: dict, k: int) -> str:
    """Mixture spectrogram, then per source: predicted mask, true mask, estimated and true
    log-magnitude on the warped grid."""
    plt = pyplot()
    net_input = examples["net_input"][k].astype(np.float32)
    pred = examples["pred_masks"][k].astype(np.float32)
    true = examples["gt_masks"][k].astype(np.float32)
    n = pred.shape[0]
    fig, axes = plt.subplots(n, 5, figsize=(15, 2.6 * n), squeeze=False)
    # log1p(mixture) is the network's input; estimated and true sources are masks × mixture
    # magnitude on the same grid, shown on the same log1p scale.
    mixture_mag = np.expm1(net_input)
    vmax = float(net_input.max()) or 1.0
    for i in range(n):
        panels = [
            (net_input, "mixture (network input)", "magma", 0, vmax),
            (pred[i], f"predicted mask {i + 1}", "viridis", 0, 1),
            (np.clip(true[i], 0, 1), f"true mask {i + 1} (clamped to 1)", "viridis", 0, 1),
            (np.log1p(pred[i] * mixture_mag), f"estimate {i + 1}", "magma", 0, vmax),
            (np.log1p(true[i] * mixture_mag), f"truth {i + 1}", "magma", 0, vmax),
        ]
        for ax, (image, title, cmap, lo, hi) in zip(axes[i], panels, strict=True):
            ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[-1][0].set_xlabel("time →")
    axes[-1][0].set_ylabel("log frequency →")
    return png_uri(fig)


def examples_html(path: Path) -> str:
    if not path.is_file():
        return "<p>No examples (run evaluate with --examples).</p>"
    with np.load(path) as data:
        examples = {k: data[k] for k in data.files}
    rate = int(examples["audio_rate"])
    parts = []
    for k in range(len(examples["pair"])):
        cls_a, vid_a, cls_b, vid_b = (str(v) for v in examples["names"][k])
        sdr = float(examples["model_sdr"][k])
        title = f"pair {int(examples['pair'][k])}: {cls_a}/{vid_a} + {cls_b}/{vid_b}"
        rank = ""
        share = float(examples["percentile"][k]) if "percentile" in examples else math.nan
        if math.isfinite(share):  # older example files have no rank
            rank = f" · {share:.0f} % of the test pairs score lower"
        players = [("mixture", examples["mixture"][k])]
        for i, cls in enumerate((cls_a, cls_b)):
            players.append((f"estimate {i + 1} ({cls})", examples["estimates"][k][i]))
            players.append((f"truth {i + 1} ({cls})", examples["references"][k][i]))
        audio = "".join(
            f'<figure class="sound"><figcaption>{html.escape(label)}</figcaption>'
            f'<audio controls preload="metadata" src="{wav_uri(signal, rate)}"></audio></figure>'
            for label, signal in players
        )
        parts.append(
            f"<section class='example'><h3>{html.escape(title)} · SDR {_fmt(sdr)} dB{rank}</h3>"
            f"<img alt='{html.escape(title)}' src='{example_figure(examples, k)}'>"
            f"<div class='sounds'>{audio}</div></section>"
        )
    return "".join(parts)


# ----------------------------------------------------------------------------------------------
# The page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.reference td { color: #666; font-style: italic; }
td.below { color: #b00020; font-weight: bold; }
.interval { color: #666; font-size: 0.85em; white-space: nowrap; }
tr.unresolved td { color: #666; }
p.note { background: #f6f6f0; border-left: 3px solid #bb8; padding: 0.5em 1em; }
img { max-width: 100%; }
.sounds { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; }
figure.sound { margin: 0; }
figcaption { font-size: 0.85em; color: #555; }
code, .provenance { font-size: 0.85em; color: #555; }
"""

# Marks the page with what the browser loaded, for the tests (a headless browser) to read.
CHECK_SCRIPT = """
window.addEventListener('load', () => {
  const images = [...document.images];
  const sounds = [...document.querySelectorAll('audio')];
  const ready = sounds.map(a => a.readyState >= 1 ? Promise.resolve() : new Promise(done => {
    a.addEventListener('loadedmetadata', done); a.addEventListener('error', done); a.load();
  }));
  Promise.all(ready).then(() => {
    document.body.dataset.check = JSON.stringify({
      images: images.length,
      broken_images: images.filter(i => !i.complete || i.naturalWidth === 0).length,
      sounds: sounds.length,
      playable_sounds: sounds.filter(a => isFinite(a.duration) && a.duration > 0).length,
    });
  });
});
"""


def provenance_html(name: str, run: Run) -> str:
    m = run.metrics
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    summary = run.summary
    seed = (summary.get("config") or {}).get("seed", "?")
    lines = [
        f"config hash <code>{html.escape(str(m.get('config_hash', '?')))}</code>",
        f"code version <code>{html.escape(str(m.get('code_version', '?')))}</code>",
        f"packages: {html.escape(packages)}",
        f"checkpoint: <code>{html.escape(str(m.get('checkpoint', '?')))}</code>",
        html.escape(str(m.get("selection_note", ""))),
    ]
    if summary:
        machine = (summary.get("provenance") or {}).get("machine") or {}
        lines.append(
            f"trained {summary.get('epochs_completed', '?')} epochs, "
            f"{summary.get('optimizer_steps', '?')} optimiser steps, "
            f"{_fmt(summary.get('seconds_per_batch'), 3)} s per batch "
            f"on {html.escape(str(summary.get('runtime', {}).get('precision', '?')))}"
            + (f", {html.escape(machine_text(machine))}" if machine else "")
        )
    items = "".join(f"<li>{line}</li>" for line in lines)
    heading = f"{html.escape(name)}, seed {html.escape(str(seed))}"
    return f"<h3>{heading}</h3><ul class='provenance'>{items}</ul>"


def machine_text(machine: dict) -> str:
    return " ".join(str(machine[k]) for k in ("cpu", "cpu_capability", "device") if machine.get(k))


def read_compared(comparison: dict) -> dict[str, list[Run]]:
    """Each model row's seeds as runs (their logs, summaries, examples), in the table's order."""
    return {
        m["name"]: [read_run(folder) for folder in m["folders"]]
        for m in comparison["methods"]
        if m["kind"] == "model"
    }


def report_figures(comparison: dict, runs: dict[str, list[Run]]) -> dict[str, bytes | None]:
    """The report's figures as PNG: the training curves and the per-class SDR."""
    return {"curves.png": curves_figure(runs), "per_class.png": per_class_figure(comparison)}


def report_tables(comparison: dict) -> dict[str, tuple[list[str], list[dict]]]:
    """The report's tables as rows, for TSV files: every method with its intervals, the paired
    differences, the per-class SDR."""

    def span(entry: dict | None) -> str:
        if not entry:
            return ""
        if entry.get("low") is None:
            return f"{entry['mean']:.2f}"
        return f"{entry['mean']:.2f} [{entry['low']:.2f}, {entry['high']:.2f}]"

    gains = differences_to_mixture(comparison)
    over = _over(comparison)
    results = [
        {"method": m["label"], "name": m["name"], **{k.upper(): span(m[k]) for k in METRICS},
         "SDR - mixture (paired)": span(gains.get(m["name"]))}
        for m in comparison["methods"]
    ]  # fmt: skip
    differences = [
        {
            "difference (SDR)": f"{d['label_a']} - {d['label_b']}",
            f"mean [95 % over {over}]": span(d),
            "over pairs only": span({"mean": d["mean"], **(d.get("pairs_only") or {})}),
            "resolved": "yes" if d["resolved"] else "no",
        }
        for d in comparison["differences"]
    ]
    methods = [m for m in comparison["methods"] if m.get("per_class")]
    classes = sorted({c for m in methods for c in m["per_class"]})
    per_class = [
        {"class": c, **{m["label"]: span(m["per_class"].get(c)) for m in methods}} for c in classes
    ]
    return {
        "results.tsv": (["method", "name", "SDR", "SIR", "SAR", "SDR - mixture (paired)"], results),
        "differences.tsv": (list(differences[0]) if differences else [], differences),
        "per_class.tsv": (["class", *(m["label"] for m in methods)], per_class),
    }


def build_report(
    comparison: dict,
    runs: dict[str, list[Run]],
    title: str,
    figures: dict[str, bytes | None] | None = None,
) -> str:
    figures = figures if figures is not None else report_figures(comparison, runs)
    curves = png_uri(figures["curves.png"]) if figures["curves.png"] else None
    classes = png_uri(figures["per_class.png"]) if figures["per_class.png"] else None
    first_name, first_seeds = next(iter(runs.items()))
    main = first_seeds[0]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{comparison['pairs']['compared']} test pairs, each scored by every run: centre "
        "clip of each video, mixture phase, mir_eval <code>bss_eval_sources</code> without "
        "permutation (pairs with a silent source or estimate are skipped by every row alike). "
        "The ideal ratio mask is the ceiling of any mask on the mixture's phase.</p>",
        f"<h2>Results (dB; 95 % intervals over {html.escape(_over(comparison))})</h2>",
        results_table(comparison),
        "<h2>Which differences the test videos resolve</h2>",
        differences_table(comparison),
        resolution_text(comparison),
        motion_note(runs),
        "<h2>Per class (dB)</h2>",
        per_class_table(comparison),
    ]
    if classes:
        sections.append(f"<img alt='per-class SDR' src='{classes}'>")
    sections.append("<h2>Training</h2>")
    sections.append(
        f"<img alt='training curves' src='{curves}'>" if curves else "<p>No training logs.</p>"
    )
    seed = (main.summary.get("config") or {}).get("seed", "?")
    sections.append(f"<h2>Examples ({html.escape(first_name)}, seed {html.escape(str(seed))})</h2>")
    sections.append(examples_html(Path(main.folder.examples)))
    sections.append("<h2>Provenance</h2>")
    sections += [provenance_html(name, run) for name, seeds in runs.items() for run in seeds]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}<script>{CHECK_SCRIPT}</script></body></html>\n"
    )
