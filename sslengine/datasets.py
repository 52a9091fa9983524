"""Real image datasets as uint8 tensors: Fashion-MNIST IDX files and ImageFolder trees.

Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, MIT licence) ships with Debian's
``dataset-fashion-mnist`` package under :data:`DEFAULT_FASHION_MNIST_DIR`.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 NCHW, integer labels and the class names they index."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _read_idx(path: Path) -> np.ndarray:
    """Read one (optionally gzipped) IDX file as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _idx_file(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{stem}[.gz] not found in {data_dir}; install Debian's dataset-fashion-mnist or pass --data-dir"
    )


def load_fashion_mnist(split: str, data_dir: Path = DEFAULT_FASHION_MNIST_DIR) -> ImageSet:
    """Load the official ``train`` (60k) or ``test`` (10k) split as 1×28×28 uint8 images."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = _read_idx(_idx_file(Path(data_dir), f"{prefix}-images-idx3-ubyte"))
    labels = _read_idx(_idx_file(Path(data_dir), f"{prefix}-labels-idx1-ubyte"))
    return ImageSet(
        images=torch.from_numpy(images.copy()).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=FASHION_MNIST_CLASSES,
    )


def load_image_folder(root: Path, size: int, channels: int = 3) -> ImageSet:
    """Load an ImageFolder tree (``root/<class>/<image>``) resized to ``size``×``size``."""
    from PIL import Image

    root = Path(root)
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    mode = "L" if channels == 1 else "RGB"
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(path) as image:
                array = np.asarray(image.convert(mode).resize((size, size), Image.Resampling.BILINEAR))
            arrays.append(array.reshape(size, size, channels))
            labels.append(index)
    if not arrays:
        raise ValueError(f"no images found under {root}")
    stacked = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images=stacked, labels=torch.tensor(labels, dtype=torch.int64), classes=classes)


def stratified_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of ``per_class`` examples of every class, drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        order = torch.randperm(members.numel(), generator=generator)[:per_class]
        chosen.append(members[order])
    return torch.cat(chosen).sort().values


def write_npz(image_set: ImageSet, path: Path) -> None:
    """Save images, labels and class names in one compressed ``.npz`` file."""
    np.savez_compressed(
        path,
        images=image_set.images.numpy(),
        labels=image_set.labels.numpy(),
        classes=np.array(image_set.classes),
    )


def load_npz(path: Path) -> ImageSet:
    """Load a file written by :func:`write_npz`."""
    with np.load(path) as data:
        return ImageSet(
            images=torch.from_numpy(data["images"]),
            labels=torch.from_numpy(data["labels"]),
            classes=tuple(str(c) for c in data["classes"]),
        )


def write_image_folder_zip(image_set: ImageSet, path: Path) -> None:
    """Write PNGs into a zip laid out as ImageFolder: ``<class>/<index>.png``."""
    import io
    import zipfile

    from PIL import Image

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for index in range(len(image_set)):
            array = image_set.images[index].permute(1, 2, 0).squeeze(-1).numpy()
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG", optimize=True)
            name = image_set.classes[int(image_set.labels[index])]
            archive.writestr(f"{name}/{index:05d}.png", buffer.getvalue())


def subset(image_set: ImageSet, indices: torch.Tensor) -> ImageSet:
    """The images and labels at ``indices``."""
    return ImageSet(images=image_set.images[indices], labels=image_set.labels[indices], classes=image_set.classes)


def main() -> None:
    """Write the small real-image files the repo ships (tests and the demo project)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_FASHION_MNIST_DIR)
    parser.add_argument("--npz", type=Path, help="tests subset: train and test images in one npz each")
    parser.add_argument("--demo-zip", type=Path, help="demo project: ImageFolder zip of PNGs")
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = load_fashion_mnist("train", args.data_dir)
    picked = subset(train, stratified_subset(train.labels, args.per_class, args.seed))
    if args.npz:
        write_npz(picked, args.npz)
    if args.demo_zip:
        write_image_folder_zip(picked, args.demo_zip)


if __name__ == "__main__":
    main()
