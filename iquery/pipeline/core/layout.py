"""Where every artifact lives: the one place that spells a path under ``data/`` or ``results/``.

Rules and command-line tools both use this module. Every argument may be a value (``"demo"``,
``"cello"``) or a Snakemake wildcard (``"{dataset}"``, ``"{cls}"``), so the same function gives
a rule its output pattern and a test the file to open::

    layout = Layout("data", "results")
    layout.audio("{dataset}", "{cls}", "{vid}")   # 'data/{dataset}/audio/{cls}/{vid}.wav'
    layout.audio("demo", "cello", "cello-00")     # 'data/demo/audio/cello/cello-00.wav'

The per-video folders keep the layout of the published code (``audio/``, ``frames/``,
``detection_results/``, ``motion_features/``), so copies in that layout can be dropped in place.

::

    data/{dataset}/
      index/                                fetched copies of the index URLs in config
      index.json, videos.tsv                the normalised index: one row a video
      source/                               the demo's made videos, index and true boxes
      videos/{cls}/{vid}.mp4                downloaded
      audio/{cls}/{vid}.wav                 mono 16-bit at the dataset's rate
      frames/{cls}/{vid}.mp4/000001.jpg     at the dataset's frame rate
      records/{stage}/{cls}/{vid}.json      what each per-video stage did, from what, why not
      records/{stage}-{k}.json              the records of chunk k: the output of its job
      manifest.tsv, excluded.tsv            videos every stage accepted; the others, with reasons
      availability.tsv                      each listed video: downloaded, on disk, copied, missing
      splits/{split}.tsv, test_pairs.tsv    train/val/test lists and the fixed test pairs
      detection_results/{cls}/{vid}.mp4.npy (K, 7) boxes
      motion_features/{cls}/{vid}.mp4.npz   I3D tokens
      shards/{split}-{k}.h5, {split}.json   everything training reads, and the split's index
      logs/, benchmarks/                    each job's log and its time and memory
    data/weights/{name}                     fetched network weights
    results/{dataset}/{run}/seed-{seed}/    one training run, one seed: see ``RunFolder``
    results/{dataset}/comparison.json, report.html    the runs compared, over config train.seeds
    results/{dataset}/seeds/comparison.json, report.html   the same over train.seed_study
    results/{dataset}/logs/, benchmarks/
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")
# Comparisons of a dataset's runs: over the seeds of config key train.seeds ("main"), and over
# those of train.seed_study ("seeds", the evaluate_<dataset>_seeds targets).
STUDIES = ("main", "seeds")
# The stages every listed video goes through before the splits; each may refuse a video (its
# record says why). Detection and motion follow for the videos the splits use.
VIDEO_STAGES = ("download", "audio", "frames")
FEATURE_STAGES = ("detect", "motion")
# A video's files inside a dataset folder, in the published code's layout (which copies of the
# datasets have too): each stage's folder and the file name after the video id. Frames are a
# folder of JPEGs; published motion features are .mp4.npy, this pipeline's tokens .mp4.npz.
VIDEO_FILES = {
    "audio": ("audio", ".wav"),
    "frames": ("frames", ".mp4"),
    "detect": ("detection_results", ".mp4.npy"),
    "motion": ("motion_features", ".mp4.npz"),
}
PUBLISHED_MOTION = ".mp4.npy"


def video_file(root: object, stage: str, cls: str, vid: str, suffix: str | None = None) -> str:
    """A video's file (or frames folder) of ``stage`` under the dataset folder ``root``."""
    folder, default = VIDEO_FILES[stage]
    return f"{root}/{folder}/{cls}/{vid}{suffix or default}"


def _number(k: int | str) -> str:
    """Chunk and shard numbers as three digits; a wildcard passes through."""
    return f"{k:03d}" if isinstance(k, int) else k


def deal_to_shards(videos: list, per_shard: int) -> list[list]:
    """A split's videos, in the split list's order, dealt to shards of ``per_shard`` (the last
    may hold fewer)."""
    return [videos[i : i + per_shard] for i in range(0, len(videos), per_shard)]


@dataclass(frozen=True)
class RunFolder:
    """One training run's folder: what training writes, then evaluation and the report."""

    path: str

    def _in(self, name: str) -> str:
        return f"{self.path}/{name}"

    @property
    def summary(self) -> str:  # settings, steps, timing, provenance; the train rule's output
        return self._in("train_summary.json")

    @property
    def settings(self) -> str:  # the settings the checkpoints were trained with
        return self._in("config.json")

    @property
    def checkpoints(self) -> str:
        return self._in("checkpoints")

    @property
    def last_checkpoint(self) -> str:
        return self._in("checkpoints/last.ckpt")

    @property
    def logs(self) -> str:  # Lightning's CSV logs: logs/version_N/metrics.csv
        return self._in("logs")

    @property
    def tensorboard(self) -> str:
        return self._in("tensorboard")

    @property
    def metrics(self) -> str:
        return self._in("metrics.json")

    @property
    def per_pair(self) -> str:
        return self._in("per_pair.tsv")

    @property
    def examples(self) -> str:
        return self._in("examples.npz")

    def training_files(self) -> tuple[str, ...]:
        """What a restarted run clears away."""
        return (self.checkpoints, self.logs, self.tensorboard, self.settings, self.summary)


@dataclass(frozen=True)
class Layout:
    """Paths under the data root and the results root (config key ``paths``)."""

    data: str = "data"
    results: str = "results"

    # --- a dataset's index ---------------------------------------------------------------------

    def dataset(self, dataset: str) -> str:
        return f"{self.data}/{dataset}"

    def index_cache(self, dataset: str) -> str:
        """Folder of the fetched copies of index files given as URLs."""
        return f"{self.dataset(dataset)}/index"

    def index_file(self, dataset: str, name: str) -> str:
        """One fetched index file (``iquery.pipeline.datasets.sources.cache_name`` names it)."""
        return f"{self.index_cache(dataset)}/{name}"

    def index_json(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/index.json"

    def videos_table(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/videos.tsv"

    # --- the demo's made videos ----------------------------------------------------------------

    def demo_source(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/source"

    def demo_index(self, dataset: str) -> str:
        return f"{self.demo_source(dataset)}/index.json"

    def demo_meta(self, dataset: str) -> str:
        return f"{self.demo_source(dataset)}/meta.json"

    def demo_video(self, dataset: str, cls: str, vid: str) -> str:
        return f"{self.demo_source(dataset)}/{cls}/{vid}.mp4"

    def demo_boxes_folder(self, dataset: str) -> str:
        return f"{self.demo_source(dataset)}/boxes"

    def demo_boxes(self, dataset: str, cls: str, vid: str) -> str:
        """The generator's true box of every video frame."""
        return f"{self.demo_boxes_folder(dataset)}/{cls}/{vid}.npy"

    # --- per-video stages ----------------------------------------------------------------------

    def video(self, dataset: str, cls: str, vid: str) -> str:
        return f"{self.dataset(dataset)}/videos/{cls}/{vid}.mp4"

    def stage_file(self, dataset: str, stage: str, cls: str, vid: str) -> str:
        """What per-video stage ``stage`` (a key of VIDEO_FILES) makes of one video."""
        return video_file(self.dataset(dataset), stage, cls, vid)

    def audio(self, dataset: str, cls: str, vid: str) -> str:
        return video_file(self.dataset(dataset), "audio", cls, vid)

    def frames(self, dataset: str, cls: str, vid: str) -> str:
        """A folder of JPEGs 000001.jpg, ... named like the video, as the published code has it."""
        return video_file(self.dataset(dataset), "frames", cls, vid)

    def record(self, dataset: str, stage: str, cls: str, vid: str) -> str:
        """What a per-video stage did to one video (ok, failed or skipped, and why), and what
        from: a rerun keeps the result while that has not changed
        (``iquery.pipeline.stages.batches``)."""
        return f"{self.dataset(dataset)}/records/{stage}/{cls}/{vid}.json"

    def chunk_table(self, dataset: str, stage: str, chunk: int | str) -> str:
        """The records of one chunk of videos of a per-video stage: its job's declared output."""
        return f"{self.dataset(dataset)}/records/{stage}-{_number(chunk)}.json"

    def retry_marker(self, dataset: str, chunk: int | str) -> str:
        """Written by ``retry_downloads`` for a download chunk with failed videos: an input of
        that chunk's job, so that the next run reruns it (and tries those videos again)."""
        return f"{self.dataset(dataset)}/records/download-{_number(chunk)}.retry"

    # --- the dataset as a whole ----------------------------------------------------------------

    def manifest(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/manifest.tsv"

    def excluded(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/excluded.tsv"

    def copy_unmatched(self, dataset: str) -> str:
        """Files of the dataset's copy that belong to no video of its index."""
        return f"{self.dataset(dataset)}/copy_unmatched.tsv"

    def availability(self, dataset: str) -> str:
        """Whether each listed video was downloaded, found on disk, or is missing, and why."""
        return f"{self.dataset(dataset)}/availability.tsv"

    def split(self, dataset: str, split: str) -> str:
        return f"{self.dataset(dataset)}/splits/{split}.tsv"

    def test_pairs(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/splits/test_pairs.tsv"

    def splits_summary(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/splits/summary.json"

    def detections(self, dataset: str, cls: str, vid: str) -> str:
        return video_file(self.dataset(dataset), "detect", cls, vid)

    def detection_summary(self, dataset: str) -> str:
        return f"{self.dataset(dataset)}/detection_results/summary.json"

    def motion(self, dataset: str, cls: str, vid: str) -> str:
        return video_file(self.dataset(dataset), "motion", cls, vid)

    def shard(self, dataset: str, split: str, k: int | str) -> str:
        return f"{self.dataset(dataset)}/shards/{split}-{_number(k)}.h5"

    def shard_index(self, dataset: str, split: str) -> str:
        """The split's videos and the shard each sits in: what training opens."""
        return f"{self.dataset(dataset)}/shards/{split}.json"

    def log(self, dataset: str, name: str) -> str:
        return f"{self.dataset(dataset)}/logs/{name}.log"

    def benchmark(self, dataset: str, name: str) -> str:
        return f"{self.dataset(dataset)}/benchmarks/{name}.tsv"

    # --- shared downloads ----------------------------------------------------------------------

    def visual_encoder(self, dataset: str) -> str:
        """The small object encoder trained on the dataset's crops (its facts: ``.json``)."""
        return f"{self.data}/{dataset}/visual_encoder/encoder.pt"

    def motion_encoder(self, dataset: str) -> str:
        """The I3D learned on the dataset's training videos (its facts: ``.json``)."""
        return f"{self.data}/{dataset}/motion_encoder/i3d.pt"

    def weights(self, name: str) -> str:
        return f"{self.data}/weights/{name}"

    def weights_log(self, name: str) -> str:
        return f"{self.data}/logs/weights-{name}.log"

    # --- results -------------------------------------------------------------------------------

    def run(self, dataset: str, run: str, seed: int | str) -> RunFolder:
        """One run of a dataset trained with one seed (each seed is its own job and folder)."""
        return RunFolder(f"{self.results}/{dataset}/{run}/seed-{seed}")

    def study(self, dataset: str, study: str) -> str:
        """Where a comparison of the dataset's runs goes (``STUDIES``)."""
        if study not in STUDIES:
            raise ValueError(f"unknown comparison {study!r}; choose from {STUDIES}")
        return f"{self.results}/{dataset}" + ("" if study == "main" else f"/{study}")

    def comparison(self, dataset: str, study: str = "main") -> str:
        """Every method over its seeds with intervals, and the paired differences."""
        return f"{self.study(dataset, study)}/comparison.json"

    def report(self, dataset: str, study: str = "main") -> str:
        """The page that shows the comparison: tables, figures, curves, examples with sound."""
        return f"{self.study(dataset, study)}/report.html"

    def report_figure(self, dataset: str, study: str, name: str) -> str:
        """One of the report's figures (PNG) or tables (TSV) as its own file, for
        ``snakemake --report``: per_class.png, curves.png, results.tsv, differences.tsv,
        per_class.tsv."""
        return f"{self.study(dataset, study)}/report/{name}"

    def separated(self, dataset: str, name: str) -> str:
        """What ``separate`` wrote for one video with a model of ``dataset``: a folder."""
        return f"{self.results}/{dataset}/separated/{name}"

    def results_log(self, dataset: str, name: str) -> str:
        return f"{self.results}/{dataset}/logs/{name}.log"

    def results_benchmark(self, dataset: str, name: str) -> str:
        return f"{self.results}/{dataset}/benchmarks/{name}.tsv"
