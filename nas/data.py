"""Datasets, the DARTS search split, and batches served from device-resident tensors.

A dataset is held as one uint8 tensor [N, C, H, W] per split. Batches are
slices of a random permutation of that tensor, augmented as whole batches on
the device (random crop after zero padding, horizontal flip, cutout), as the
fastest CIFAR trainers do: no DataLoader workers, no per-image PIL transforms.

Names:
  digits               scikit-learn's 8×8 grey digits (ships with scikit-learn; 1,347/450 split)
  cifar10, cifar100    torchvision's format under the data root; downloaded only with download=True
  fashion-mnist        the idx files (train-images-idx3-ubyte.gz, …) under <root>/fashion-mnist or
                       /usr/share/datasets/fashion-mnist (Debian's package dataset-fashion-mnist)
  imagefolder:<path>   a tree <path>/train/<class>/*, <path>/test/<class>/* of images
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas.files import atomic_write

DATASET_NAMES = ("digits", "cifar10", "cifar100", "fashion-mnist", "imagefolder:<path>")
# (channels, image side) of the named datasets, known without loading them (an image folder's
# is not: it is read with its images)
DATASET_SHAPES = {"digits": (1, 8), "cifar10": (3, 32), "cifar100": (3, 32), "fashion-mnist": (1, 28)}
FASHION_MNIST_DIRS = ("fashion-mnist", "/usr/share/datasets/fashion-mnist")  # under the root; Debian's

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class DatasetError(ValueError):
    """A dataset that is unknown, missing, or unreadable; the message says what to do."""


@dataclass(frozen=True)
class Augment:
    """Batched augmentation: crop after zero padding, horizontal flip, cutout (0 = off)."""

    crop_padding: int = 0
    flip: bool = False
    cutout: int = 0


@dataclass
class ImageData:
    """A classification dataset held in memory as uint8 tensors [N, C, H, W]."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment          # the standard training augmentation (search uses it without cutout)
    eval_cutout: int = 0      # the cutout length the DARTS evaluation uses on this dataset

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])


def default_data_root() -> Path:
    """$HYPERDARTS_DATA if set, else ~/.cache/hyperdarts-bench/data."""
    env = os.environ.get("HYPERDARTS_DATA")
    return Path(env) if env else Path.home() / ".cache" / "hyperdarts-bench" / "data"


def dataset_shape(name: str, image_size: int | None = None) -> tuple[int, int] | None:
    """(channels, image side) of a named dataset without loading it, its side `image_size` where
    given (a profile's resize); None for an image folder or a name this module does not know."""
    shape = DATASET_SHAPES.get(name)
    return None if shape is None else (shape[0], image_size or shape[1])


def load_dataset(name: str, root: str | Path | None = None, download: bool = False) -> ImageData:
    """Load a named dataset (see the module docstring); raises DatasetError with one sentence."""
    root = Path(root) if root is not None else default_data_root()
    if name == "digits":
        return _load_digits()
    if name in ("cifar10", "cifar100"):
        return _load_cifar(name, root, download)
    if name == "fashion-mnist":
        return _load_fashion_mnist(root)
    if name.startswith("imagefolder:"):
        path = name.split(":", 1)[1]
        if not path:
            raise DatasetError("imagefolder needs a path: imagefolder:/path/to/tree")
        return _load_imagefolder(Path(path).expanduser())
    raise DatasetError(f"unknown dataset {name!r}; valid datasets are {', '.join(DATASET_NAMES)}")


def train_subset(data: ImageData, n: int) -> ImageData:
    """`data` with a fixed random sample of n training images (the same for every caller, and
    nested: the sample of n is the start of the sample of any larger n), since stored training
    sets are often ordered by class."""
    if n < 1:
        raise DatasetError(f"a training subset needs at least one image, not {n}")
    if n >= len(data.train_y):
        return data
    keep = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))[:n]
    return dataclasses.replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep])


def resized(data: ImageData, size: int) -> ImageData:
    """`data` with every image resized to size × size (area averaging when shrinking, bilinear
    when growing); the crop padding and cutout length scale with the side. The normalisation
    statistics are kept: averaging pixels leaves the channel means unchanged."""
    if size < 1:
        raise DatasetError(f"image size must be a positive number of pixels, not {size}")
    if size == data.image_size:
        return data

    def resize(x: torch.Tensor) -> torch.Tensor:
        out = []
        for chunk in x.split(4096):   # bounded float memory for large datasets
            f = chunk.float()
            f = (F.interpolate(f, size=(size, size), mode="area") if size < data.image_size
                 else F.interpolate(f, size=(size, size), mode="bilinear", align_corners=False))
            out.append(f.round_().clamp_(0, 255).to(torch.uint8))
        return torch.cat(out)

    scale = size / data.image_size
    a = data.augment
    augment = Augment(crop_padding=round(a.crop_padding * scale), flip=a.flip,
                      cutout=round(a.cutout * scale))
    return dataclasses.replace(data, train_x=resize(data.train_x), test_x=resize(data.test_x),
                               augment=augment, eval_cutout=round(data.eval_cutout * scale))


FASHION_CLASSES = ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                   "bag", "ankle boot"]


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _load_fashion_mnist(root: Path) -> ImageData:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    dirs = [root / FASHION_MNIST_DIRS[0], Path(FASHION_MNIST_DIRS[1])]
    found = next((d for d in dirs if all((d / n).is_file() for n in names)), None)
    if found is None:
        raise DatasetError(f"fashion-mnist was not found in {dirs[0]} or {dirs[1]}; install Debian's "
                           "package dataset-fashion-mnist or put its four idx .gz files in the first")
    try:
        trx, try_, tex, tey = (_read_idx(found / n) for n in names)
    except (OSError, ValueError, IndexError) as e:
        raise DatasetError(f"the fashion-mnist files in {found} are unreadable ({e})") from None
    train_x = torch.from_numpy(trx.copy()).unsqueeze(1)
    mean, std = _channel_stats(train_x)
    return ImageData("fashion-mnist", train_x, torch.from_numpy(try_.astype(np.int64)),
                     torch.from_numpy(tex.copy()).unsqueeze(1), torch.from_numpy(tey.astype(np.int64)),
                     list(FASHION_CLASSES), mean, std, Augment(crop_padding=2, flip=True, cutout=0),
                     eval_cutout=0)


def _load_digits() -> ImageData:
    from sklearn.datasets import load_digits  # (a dataset's reader loads when it is asked for)

    d = load_digits()
    x = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(d.target.astype(np.int64))
    # A fixed, stratified-by-chance 75/25 split (seed 0), so that every run tests on the same images.
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_test = len(y) // 4
    test, train = perm[:n_test], perm[n_test:]
    mean, std = _channel_stats(x[train])
    return ImageData("digits", x[train], y[train], x[test], y[test],
                     [str(i) for i in range(10)], mean, std,
                     Augment(crop_padding=1, flip=False, cutout=0), eval_cutout=0)


def _load_cifar(name: str, root: Path, download: bool) -> ImageData:
    from torchvision import datasets  # (a dataset's reader loads when it is asked for)

    cls, folder = ((datasets.CIFAR10, "cifar-10-batches-py") if name == "cifar10"
                   else (datasets.CIFAR100, "cifar-100-python"))
    if not (root / folder).is_dir() and not download:
        raise DatasetError(
            f"{name} was not found: looked for {root / folder}; pass --data-root to the folder "
            f"that holds {folder}/, or allow the download with --download, or read an image-folder "
            "copy with --dataset imagefolder:<path>")
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise DatasetError(f"{name} under {root / folder} is unreadable ({e}); delete it and "
                           "download again with --download, or point --data-root elsewhere") from None
    except OSError as e:  # no network, DNS failure, …
        raise DatasetError(f"{name} could not be downloaded into {root} ({e.__class__.__name__}: "
                           f"{e}); copy {folder}/ there by hand or pass --data-root") from None

    def to_tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.as_tensor(ds.targets, dtype=torch.int64)

    (trx, try_), (tex, tey) = to_tensors(train), to_tensors(test)
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if name == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
    return ImageData(name, trx, try_, tex, tey, list(train.classes), mean, std,
                     Augment(crop_padding=4, flip=True, cutout=0), eval_cutout=16)


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def _list_split(root: Path, split: str) -> dict[str, list[Path]]:
    d = root / split
    if not d.is_dir():
        raise DatasetError(f"the image folder {root} has no {split}/ subfolder; it must hold "
                           f"train/<class>/* and test/<class>/* images")
    classes = {c.name: sorted(p for p in c.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
               for c in sorted(d.iterdir()) if c.is_dir()}
    if not classes or not any(classes.values()):
        raise DatasetError(f"{d} holds no class folders with images")
    return classes


def _load_imagefolder(root: Path) -> ImageData:
    if not root.is_dir():
        raise DatasetError(f"the image folder {root} does not exist; it must hold "
                           "train/<class>/* and test/<class>/* images")
    train_files, test_files = _list_split(root, "train"), _list_split(root, "test")
    classes = sorted(train_files)
    extra = sorted(set(test_files) - set(classes))
    if extra:
        raise DatasetError(f"{root}/test has classes that train lacks: {', '.join(extra)}")
    learnt = [c for c in classes if train_files[c]]
    if len(learnt) < 2:
        raise DatasetError(f"{root}/train has images of {len(learnt)} class ({', '.join(learnt)}); "
                           "a classifier needs two classes or more")
    for split, missing in (("train", [c for c in classes if not train_files[c]]),
                           ("test", [c for c in classes if not test_files.get(c)])):
        if missing:
            print(f"warning: {root}/{split} has no images of class(es) {', '.join(missing)}",
                  file=sys.stderr)
    # Decoding tens of thousands of images takes a while: cache the tensors, keyed
    # on the tree's path, file count and newest modification time.
    files = [p for c in classes for p in train_files[c]] + [
        p for c in classes for p in test_files.get(c, [])]
    key = hashlib.sha1(f"{root.resolve()}|{len(files)}|"
                       f"{max(p.stat().st_mtime_ns for p in files)}".encode()).hexdigest()[:16]
    cache = default_data_root().parent / "imagefolder-cache" / f"{key}.pt"
    cached = None
    if cache.is_file():
        try:
            cached = torch.load(cache, weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError):   # cut short: decoded again
            print(f"warning: the cache {cache} cannot be read; decoding {root} again", file=sys.stderr)
    if cached is not None:
        trx, try_, tex, tey = cached
    else:
        trx, try_ = _decode(train_files, classes)
        tex, tey = _decode(test_files, classes)
        if trx.shape[1:] != tex.shape[1:]:
            raise DatasetError(f"{root}: train images are {tuple(trx.shape[1:])} but test images "
                               f"are {tuple(tex.shape[1:])}")

        atomic_write(cache, lambda tmp: torch.save((trx, try_, tex, tey), tmp))
    mean, std = _channel_stats(trx)
    size = trx.shape[-1]
    return ImageData(f"imagefolder:{root}", trx, try_, tex, tey, classes, mean, std,
                     Augment(crop_padding=max(1, size // 8), flip=True, cutout=0),
                     eval_cutout=size // 2)


def _decode(files: dict[str, list[Path]], classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image  # (a dataset's reader loads when it is asked for)

    images, labels = [], []
    shape = None
    for label, c in enumerate(classes):
        for p in files.get(c, []):
            try:
                with Image.open(p) as im:
                    a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            except OSError as e:
                raise DatasetError(f"{p} is not a readable image ({e})") from None
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise DatasetError(f"{p} is {a.shape[1]}×{a.shape[0]} but the first image is "
                                   f"{shape[1]}×{shape[0]}; all images must have one size")
            images.append(a)
            labels.append(label)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    xf = x.double() / 255.0
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(s), 4) for s in std)


def search_split(n: int, seed: int, train_fraction: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices 0..n-1 into DARTS's search-train and search-val halves (seeded, disjoint)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = math.floor(n * train_fraction)
    return perm[:k], perm[k:]


# -- augmentation on whole batches ------------------------------------------

def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Crop every image of x [N, C, H, W] at a random offset after zero padding by `padding`."""
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of x [N, C, H, W] left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a length×length square (clipped at the border) centred on a random pixel of each image.

    As DARTS's Cutout, applied after normalisation, so the square is the mean colour.
    """
    if length <= 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (n, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_rows = (rows >= cy - length // 2) & (rows < cy + length // 2)  # [n, h]
    in_cols = (cols >= cx - length // 2) & (cols < cx + length // 2)  # [n, w]
    mask = in_rows[:, :, None] & in_cols[:, None, :]
    return x.masked_fill(mask[:, None], 0.0)


class Batches:
    """Mini-batches (x float normalised, y int64) of a uint8 image tensor held on `device`.

    Each pass draws a fresh permutation from the batches' own seeded generator,
    so the sequence of batches is a function of the seed. `augment` applies to
    every batch (crop and flip on the uint8 pixels, cutout after
    normalisation); pass None for test batches.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                 mean: tuple[float, ...], std: tuple[float, ...], *,
                 augment: Augment | None = None, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0, device: str | torch.device = "cpu"):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        if len(x) == 0:
            raise ValueError("cannot draw batches from an empty split")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device)
        self.batch_size = min(batch_size, len(x)) if drop_last else batch_size
        self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1)
        self.augment = augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = (torch.randperm(n, generator=self.generator, device=self.device) if self.shuffle
                 else torch.arange(n, device=self.device))
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.transform(self.x[idx]), self.y[idx]

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] → augmented, normalised float32."""
        a = self.augment
        if a is not None:
            x = random_crop(x, a.crop_padding, self.generator)
            if a.flip:
                x = random_flip(x, self.generator)
        x = (x.float().div_(255.0) - self.mean) / self.std
        if a is not None and a.cutout > 0:
            x = cutout(x, a.cutout, self.generator)
        return x
