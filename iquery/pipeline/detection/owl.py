"""Open-vocabulary detection with OWLv2 (transformers), prompted with the dataset's class names.

This backend plays the role Detic plays in the paper. The model is a hub id
(``google/owlv2-base-patch16-ensemble``) or a local folder saved with ``save_pretrained``; it runs
batched, on the GPU when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

import numpy as np


def prompts_for(classes: Sequence[str], template: str = "a photo of a {}") -> list[str]:
    """One text query per class; "acoustic_guitar" reads as "acoustic guitar"."""
    return [template.format(c.replace("_", " ")) for c in classes]


class OwlDetector:
    def __init__(self, model: str, *, threshold: float, device: str | None = None):
        import torch
        from transformers import Owlv2ForObjectDetection, Owlv2Processor

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = Owlv2Processor.from_pretrained(model)
        self.model = Owlv2ForObjectDetection.from_pretrained(model).to(self.device).eval()
        self.threshold = threshold

    def detect(
        self,
        images: Iterable,
        prompts: list[str],
        *,
        first_frame: int = 1,
        batch_size: int = 8,
    ) -> np.ndarray:
        """(K, 7) rows for PIL images numbered from ``first_frame``; class = prompt index."""
        images, out, start = iter(images), [], 0
        # A batch at a time from the iterable: a long video's frames are never held together.
        while batch := list(islice(images, batch_size)):
            texts = [prompts] * len(batch)
            # OWL's text tower takes 16 tokens: pad and cut every prompt to that, as OWL does.
            inputs = self.processor(
                text=texts,
                images=batch,
                return_tensors="pt",
                padding="max_length",
                truncation=True,
                max_length=16,
            ).to(self.device)
            with self.torch.inference_mode():
                outputs = self.model(**inputs)
            # OWLv2 pads every image to a square before resizing: boxes come back in that square.
            sizes = [(max(im.size), max(im.size)) for im in batch]
            results = self.processor.post_process_grounded_object_detection(
                outputs, threshold=self.threshold, target_sizes=sizes, text_labels=texts
            )
            for offset, (image, result) in enumerate(zip(batch, results, strict=True)):
                boxes = result["boxes"].float().cpu().numpy()
                if boxes.size == 0:
                    continue
                w, h = image.size
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
                frame = np.full(keep.sum(), first_frame + start + offset, dtype=np.float32)
                labels = result["labels"].cpu().numpy()[keep].astype(np.float32)
                scores = result["scores"].float().cpu().numpy()[keep].clip(0, 1)
                out.append(np.column_stack([frame, labels, scores, boxes[keep]]))
            start += len(batch)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 7), np.float32)
