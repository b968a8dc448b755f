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

from pipeline.files import read_json
from pipeline.layout import RunFolder

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
# Tables


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _difference(value: float | None, reference: float | None) -> float | None:
    return value - reference if value is not None and reference is not None else None


def results_rows(main: Run, others: list[Run]) -> list[dict]:
    """One row per trained run (its model row), then the mixture and the ideal ratio mask of
    the main run (the reference rows only depend on the test clips)."""
    methods = main.metrics["methods"]
    mixture_sdr = methods.get("mixture", {}).get("sdr")
    rows = []
    for run in [main, *others]:
        model = run.metrics["methods"].get("model", {})
        rows.append(
            {
                "label": run.label,
                "kind": "model",
                **{m: model.get(m) for m in METRICS},
                "sdr_median": model.get("sdr_median"),
                "gain": _difference(model.get("sdr"), mixture_sdr),
                "scored": run.metrics.get("scored"),
                "selection": run.metrics.get("selection", "?"),
            }
        )
    for method, label in (("mixture", "unprocessed mixture"), ("irm", "ideal ratio mask")):
        if method in methods:
            entry = methods[method]
            rows.append(
                {
                    "label": label,
                    "kind": "reference",
                    **{m: entry.get(m) for m in METRICS},
                    "sdr_median": entry.get("sdr_median"),
                    "gain": _difference(entry.get("sdr"), mixture_sdr),
                    "scored": main.metrics.get("scored"),
                    "selection": "",
                }
            )
    return rows


def results_table(rows: list[dict]) -> str:
    head = (
        "<tr><th>method</th><th>SDR</th><th>SIR</th><th>SAR</th><th>SDR median</th>"
        "<th>SDR − mixture</th><th>pairs</th><th>checkpoint chosen on</th></tr>"
    )
    body = []
    for r in rows:
        cells = [html.escape(r["label"])]
        cells += [_fmt(r[m]) for m in METRICS]
        cells += [_fmt(r["sdr_median"]), _fmt(r["gain"]), str(r["scored"] or "–")]
        cells.append(html.escape(str(r["selection"])))
        body.append(f'<tr class="{r["kind"]}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="results">{head}{"".join(body)}</table>'


def per_class_sdr(run: Run, method: str = "model") -> dict[str, float]:
    """Mean SDR of ``method`` (model, mixture, irm) per source class, over both sources of
    every scored pair."""
    values: dict[str, list[float]] = {}
    for row in run.per_pair:
        if row.get("skipped") == "True":
            continue
        for side in ("a", "b"):
            cls, sdr = row.get(f"class_{side}"), row.get(f"{method}_sdr_{side}")
            if cls and sdr not in (None, ""):
                values.setdefault(cls, []).append(float(sdr))
    return {cls: float(np.mean(v)) for cls, v in sorted(values.items())}


def per_class_table(main: Run, others: list[Run]) -> str:
    """SDR per source class: the unprocessed mixture and the ideal ratio mask (the floor and
    the ceiling of the same clips), then each run, marked where it is below the mixture."""
    mixture, irm = per_class_sdr(main, "mixture"), per_class_sdr(main, "irm")
    runs = {run.label: per_class_sdr(run) for run in [main, *others]}
    if not mixture:
        return ""
    head = "<tr><th>class</th><th>mixture</th><th>ideal ratio mask</th>" + "".join(
        f"<th>{html.escape(label)}</th>" for label in runs
    )
    body = []
    for cls, floor in mixture.items():
        cells = [f"<td>{html.escape(cls)}</td>", f"<td>{_fmt(floor)}</td>"]
        cells.append(f"<td>{_fmt(irm.get(cls))}</td>")
        for values in runs.values():
            value = values.get(cls)
            below = value is not None and value < floor
            mark = ' class="below" title="below the unprocessed mixture"' if below else ""
            cells.append(f"<td{mark}>{_fmt(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="per-class">{head}</tr>{"".join(body)}</table>'


# ----------------------------------------------------------------------------------------------
# Figures and sounds as data URIs


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def png_uri(fig) -> str:
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


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


def curves_figure(runs: list[Run]) -> str | None:
    """Training loss per epoch, and validation SDR against training batches and against
    training wall time: a curve still rising at its end says more training would help."""
    if not any(run.history for run in runs):
        return None
    plt = pyplot()
    fig, (ax_loss, ax_steps, ax_time) = plt.subplots(1, 3, figsize=(15, 3.6))
    for run in runs:
        epochs = [h["epoch"] + 1 for h in run.history]
        loss = [h.get("train/loss_epoch", math.nan) for h in run.history]
        sdr = [h.get("val/sdr", math.nan) for h in run.history]
        ax_loss.plot(epochs, loss, marker=".", label=run.name)
        batches = [h.get("progress/batches", math.nan) for h in run.history]
        minutes = [h.get("progress/train_seconds", math.nan) / 60 for h in run.history]
        ax_steps.plot(batches, sdr, marker=".", label=run.name)
        ax_time.plot(minutes, sdr, marker=".", label=run.name)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss (epoch mean)")
    ax_steps.set(xlabel="training batches", ylabel="SDR (dB)", title="validation SDR")
    ax_time.set(xlabel="training wall time (min)", ylabel="SDR (dB)", title="validation SDR")
    for ax in (ax_loss, ax_steps, ax_time):
        ax.grid(alpha=0.3)
        ax.legend()
    return png_uri(fig)


def per_class_figure(runs: list[Run]) -> str | None:
    per_run = {run.name: per_class_sdr(run) for run in runs}
    classes = sorted({c for values in per_run.values() for c in values})
    if not classes:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(classes) * len(runs) ** 0.5), 3.4))
    width = 0.8 / len(runs)
    x = np.arange(len(classes))
    for i, (name, values) in enumerate(per_run.items()):
        ax.bar(x + i * width, [values.get(c, np.nan) for c in classes], width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, classes, rotation=30, ha="right")
    ax.set(ylabel="SDR (dB)", title="test SDR per source class")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return png_uri(fig)


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


def provenance_html(run: Run) -> str:
    m = run.metrics
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    summary = run.summary
    lines = [
        f"config hash <code>{html.escape(str(m.get('config_hash', '?')))}</code>",
        f"code version <code>{html.escape(str(m.get('code_version', '?')))}</code>",
        f"packages: {html.escape(packages)}",
        f"checkpoint: <code>{html.escape(str(m.get('checkpoint', '?')))}</code>",
        html.escape(str(m.get("selection_note", ""))),
    ]
    if summary:
        lines.append(
            f"trained {summary.get('epochs_completed', '?')} epochs, "
            f"{summary.get('optimizer_steps', '?')} optimiser steps, "
            f"{_fmt(summary.get('seconds_per_batch'), 3)} s per batch "
            f"on {html.escape(str(summary.get('runtime', {}).get('precision', '?')))}"
        )
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f"<h3>{html.escape(run.name)}</h3><ul class='provenance'>{items}</ul>"


def build_report(main: Run, others: list[Run], title: str) -> str:
    runs = [main, *others]
    rows = results_rows(main, others)
    curves = curves_figure(runs)
    classes = per_class_figure(runs)
    scored = main.metrics.get("scored", "?")
    skipped = main.metrics.get("skipped", 0)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{scored} test pairs scored ({skipped} skipped by the silent-source rule): centre "
        "clip of each video, mixture phase, mir_eval <code>bss_eval_sources</code> without "
        "permutation. The ideal ratio mask is the ceiling of any mask on the mixture's "
        "phase.</p>",
        "<h2>Results (dB)</h2>",
        results_table(rows),
    ]
    sections.append("<h2>Per class (dB)</h2>")
    sections.append(per_class_table(main, others))
    if classes:
        sections.append(f"<img alt='per-class SDR' src='{classes}'>")
    sections.append("<h2>Training</h2>")
    sections.append(
        f"<img alt='training curves' src='{curves}'>" if curves else "<p>No training logs.</p>"
    )
    sections.append(f"<h2>Examples ({html.escape(main.name)})</h2>")
    sections.append(examples_html(Path(main.folder.examples)))
    sections.append("<h2>Provenance</h2>")
    sections += [provenance_html(run) for run in runs]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}<script>{CHECK_SCRIPT}</script></body></html>\n"
    )
