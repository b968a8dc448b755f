"""The pipeline's exceptions. Each message names the file or config key at fault and what to do."""


class ConfigError(ValueError):
    """A setting that cannot be used: a config key, a command-line option or a settings file."""


class IndexFormatError(ValueError):
    """An index file that cannot be read: names the file and the line or key."""


class InvalidEntry(ValueError):
    """An index entry (id, URL or label) that cannot be used safely."""


class MediaError(Exception):
    """A problem with one video's content (unavailable, no audio, too short, undecodable).

    Such a problem is recorded and the run goes on, unless its message shows a fault of the machine
    or the network (a full disk in ffmpeg's words, say): ``iquery.pipeline.core.faults`` decides,
    and such a fault fails the job without recording anything. Any other exception fails the job.
    ``checked``: the cause was decided where the error was met (ffmpeg crashed on the file twice;
    its report of a damaged file, with the operating system reading the file through), so the
    words of the message are not read again for a fault of the machine.
    """

    def __init__(self, message: str, *, checked: bool = False):
        super().__init__(message)
        self.checked = checked


class DetectionError(ValueError):
    """A detection file that cannot be used: names the file and the fault."""


class ShardError(ValueError):
    """A missing or inconsistent input of a shard: names the file."""
