import numpy as np
import pytest
import torch

from nas.data import (
    Augment,
    Batches,
    DatasetError,
    cutout,
    load_dataset,
    random_crop,
    random_flip,
    search_split,
)


def test_digits_shapes_and_split(digits):
    assert digits.train_x.dtype == torch.uint8 and digits.train_x.shape[1:] == (1, 8, 8)
    assert len(digits.train_y) + len(digits.test_y) == 1797
    assert digits.num_classes == 10 and digits.in_channels == 1
    assert int(digits.train_x.max()) == 255


def test_search_split_is_disjoint_complete_and_seeded():
    a_train, a_val = search_split(101, seed=3)
    assert len(a_train) == 50 and len(a_val) == 51
    assert sorted(torch.cat([a_train, a_val]).tolist()) == list(range(101))
    b_train, _ = search_split(101, seed=3)
    c_train, _ = search_split(101, seed=4)
    assert torch.equal(a_train, b_train) and not torch.equal(a_train, c_train)


def test_random_crop_takes_a_window_of_the_zero_padded_image():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.uint8).view(2, 3, 6, 6) + 1  # no zeros inside
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert torch.equal(random_crop(x, 0, g), x)


def test_random_crop_uses_every_offset():
    x = torch.ones(400, 1, 4, 4, dtype=torch.uint8)
    out = random_crop(x, 1, torch.Generator().manual_seed(0))
    # zero (padding) pixels in the window: 0 at the centre offset, 4 at an edge, 7 at a corner
    zeros = set((out == 0).view(400, -1).sum(1).tolist())
    assert zeros == {0, 4, 7}


def test_random_flip_flips_about_half():
    x = torch.randn(1000, 1, 2, 3)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert bool((flipped | kept).all())
    assert 400 < int(flipped.sum()) < 600


def test_cutout_zeroes_one_square_at_most_length_wide():
    x = torch.ones(50, 3, 10, 10)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    for o in out:
        zero = o[0] == 0
        assert torch.equal(zero, (o == 0).all(0))  # same square on every channel
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        assert int(zero.sum()) == len(rows) * len(cols)  # a rectangle (clipped square)


def test_batches_cover_the_split_once_per_pass_and_are_seeded(digits):
    x, y = digits.train_x[:100], digits.train_y[:100]
    b = Batches(x, y, 32, digits.mean, digits.std, shuffle=True, seed=1)
    assert len(b) == 4
    seen = torch.cat([yb for _, yb in b])
    assert sorted(seen.tolist()) == sorted(y.tolist())
    first = [xb for xb, _ in Batches(x, y, 32, digits.mean, digits.std, seed=1,
                                     augment=Augment(1, True, 2))]
    again = [xb for xb, _ in Batches(x, y, 32, digits.mean, digits.std, seed=1,
                                     augment=Augment(1, True, 2))]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    dropped = Batches(x, y, 32, digits.mean, digits.std, drop_last=True)
    assert len(dropped) == 3 and all(len(yb) == 32 for _, yb in dropped)


def test_batches_normalise_with_the_dataset_statistics(digits):
    b = Batches(digits.train_x, digits.train_y, 10_000, digits.mean, digits.std, shuffle=False)
    (xb, _), = list(b)
    assert abs(float(xb.mean())) < 1e-3 and abs(float(xb.std()) - 1) < 1e-2
    assert xb.dtype == torch.float32 and xb.device == b.device


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_and_augmentation_stay_on_the_gpu(digits):
    b = Batches(digits.train_x, digits.train_y, 64, digits.mean, digits.std,
                augment=Augment(1, True, 2), device="cuda")
    xb, yb = next(iter(b))
    assert xb.is_cuda and yb.is_cuda and b.x.is_cuda


def test_unknown_and_missing_datasets_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="valid datasets are digits"):
        load_dataset("mnist-ish")
    with pytest.raises(DatasetError, match=r"looked for .*cifar-10-batches-py.*--download"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")


def test_cifar100_reads_torchvision_format(fake_cifar100):
    data = load_dataset("cifar100", root=fake_cifar100)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (10, 3, 32, 32)
    assert data.num_classes == 100 and data.eval_cutout == 16 and data.augment.flip


def test_imagefolder_reads_a_class_tree_and_caches_it(tmp_path):
    from PIL import Image

    root = tmp_path / "tree"
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for c in ("cat", "ant"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
                    root / split / c / f"{i}.png")
    data = load_dataset(f"imagefolder:{root}")
    assert data.classes == ["ant", "cat"]
    assert data.train_x.shape == (6, 3, 12, 12) and data.test_x.shape == (4, 3, 12, 12)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    first = Image.open(root / "train" / "ant" / "0.png")
    assert torch.equal(data.train_x[0], torch.from_numpy(np.array(first)).permute(2, 0, 1))
    cached = list((tmp_path / "imagefolder-cache").glob("*.pt"))
    assert len(cached) == 1
    again = load_dataset(f"imagefolder:{root}")
    assert torch.equal(again.train_x, data.train_x)
    cached[0].write_bytes(cached[0].read_bytes()[:50])      # cut short: decoded again
    assert torch.equal(load_dataset(f"imagefolder:{root}").train_x, data.train_x)


def test_imagefolder_with_mixed_sizes_names_the_file(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / c / "0.png")
    Image.new("RGB", (9, 9)).save(tmp_path / "train" / "a" / "1.png")
    with pytest.raises(DatasetError, match="1.png"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_imagefolder_of_one_class_is_refused_and_a_class_missing_from_a_split_is_said(
        tmp_path, capsys):
    """One class would be learnt to 100% accuracy: refused. A class without test images is
    trained but never tested: a warning names it."""
    from PIL import Image

    for split, classes in (("train", ("a", "b")), ("test", ("a",))):
        for c in classes:
            (tmp_path / split / c).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / c / "0.png")
    (tmp_path / "test" / "b").mkdir()                  # the class's folder, without images
    data = load_dataset(f"imagefolder:{tmp_path}")
    assert data.classes == ["a", "b"] and data.test_y.tolist() == [0]
    assert f"warning: {tmp_path}/test has no images of class(es) b" in capsys.readouterr().err
    (tmp_path / "train" / "b" / "0.png").unlink()
    with pytest.raises(DatasetError) as e:
        load_dataset(f"imagefolder:{tmp_path}")
    assert str(e.value) == (f"{tmp_path}/train has images of 1 class (a); a classifier needs two "
                            "classes or more")


def test_resized_averages_pixels_and_scales_the_augmentation(digits):
    from nas.data import resized

    small = resized(digits, 4)
    assert small.train_x.shape[1:] == (1, 4, 4) and small.test_x.shape[0] == digits.test_x.shape[0]
    block = digits.train_x[0, 0, :2, :2].float().mean().round()
    assert small.train_x[0, 0, 0, 0] == block                      # area averaging of 2×2 blocks
    assert small.augment.crop_padding == round(digits.augment.crop_padding / 2)
    assert resized(digits, 8) is digits
    with pytest.raises(DatasetError, match="positive"):
        resized(digits, 0)


def test_train_subset_is_a_fixed_nested_random_sample(digits):
    from nas.data import train_subset

    a, b = train_subset(digits, 100), train_subset(digits, 300)
    assert torch.equal(a.train_x, b.train_x[:100]) and torch.equal(a.train_y, b.train_y[:100])
    assert not torch.equal(a.train_y, digits.train_y[:100])       # not the first N
    assert len(a.train_y.unique()) == 10 and torch.equal(a.test_y, digits.test_y)


def _write_fashion_mnist(folder, n_train=12, n_test=5):
    import gzip

    folder.mkdir(parents=True)

    def idx(name, arr):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
        with gzip.open(folder / name, "wb") as f:
            f.write(header + arr.astype(np.uint8).tobytes())

    rng = np.random.default_rng(0)
    idx("train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    idx("train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    idx("t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28)))
    idx("t10k-labels-idx1-ubyte.gz", np.arange(n_test))


def test_fashion_mnist_reads_idx_files_under_the_root_first(tmp_path, monkeypatch):
    import nas.data

    _write_fashion_mnist(tmp_path / "fashion-mnist")
    monkeypatch.setattr(nas.data, "FASHION_MNIST_DIRS", ("fashion-mnist", str(tmp_path / "nowhere")))
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.train_x.shape == (12, 1, 28, 28) and data.test_x.shape == (5, 1, 28, 28)
    assert data.train_y.tolist() == [i % 10 for i in range(12)] and data.test_y.tolist() == [0, 1, 2, 3, 4]
    assert data.train_y.dtype == data.test_y.dtype == torch.int64 and data.train_x.dtype == torch.uint8
    assert data.classes[0] == "t-shirt/top" and data.classes[9] == "ankle boot"
    assert data.augment == Augment(crop_padding=2, flip=True, cutout=0) and data.eval_cutout == 0
    xf = data.train_x.double() / 255
    assert data.mean == (round(float(xf.mean()), 4),) and data.std == (round(float(xf.std()), 4),)
    # Debian's copy is the second place looked in
    monkeypatch.setattr(nas.data, "FASHION_MNIST_DIRS", ("elsewhere", str(tmp_path / "fashion-mnist")))
    assert torch.equal(load_dataset("fashion-mnist", tmp_path).train_x, data.train_x)


def _fake_cifar_class(error):
    class Fake:
        def __init__(self, *args, **kwargs):
            raise error

    return Fake


def test_every_dataset_error_is_one_sentence_that_names_the_place_and_the_remedy(tmp_path, monkeypatch):
    """The whole message of each DatasetError that loading raises (a changed word is a regression)."""
    import torchvision.datasets

    import nas.data
    from nas.data import resized, train_subset

    def message(fn, *args):
        with pytest.raises(DatasetError) as e:
            fn(*args)
        return str(e.value)

    assert message(load_dataset, "imagefolder:") == "imagefolder needs a path: imagefolder:/path/to/tree"
    assert message(load_dataset, "mnist-ish") == (
        "unknown dataset 'mnist-ish'; valid datasets are digits, cifar10, cifar100, fashion-mnist, "
        "imagefolder:<path>")
    digits = load_dataset("digits")
    assert message(train_subset, digits, 0) == "a training subset needs at least one image, not 0"
    assert message(resized, digits, 0) == "image size must be a positive number of pixels, not 0"
    # fashion-mnist: missing, then unreadable
    monkeypatch.setattr(nas.data, "FASHION_MNIST_DIRS", ("fm", str(tmp_path / "nowhere")))
    assert message(load_dataset, "fashion-mnist", tmp_path) == (
        f"fashion-mnist was not found in {tmp_path / 'fm'} or {tmp_path / 'nowhere'}; install "
        "Debian's package dataset-fashion-mnist or put its four idx .gz files in the first")
    (tmp_path / "fm").mkdir()
    for n in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "fm" / n).write_bytes(b"not gzip")
    assert message(load_dataset, "fashion-mnist", tmp_path).startswith(
        f"the fashion-mnist files in {tmp_path / 'fm'} are unreadable (Not a gzipped file")
    # CIFAR: missing, unreadable, not downloadable
    assert message(load_dataset, "cifar10", tmp_path) == (
        f"cifar10 was not found: looked for {tmp_path / 'cifar-10-batches-py'}; pass --data-root to "
        "the folder that holds cifar-10-batches-py/, or allow the download with --download, or read "
        "an image-folder copy with --dataset imagefolder:<path>")
    assert message(load_dataset, "cifar100", tmp_path).startswith(
        f"cifar100 was not found: looked for {tmp_path / 'cifar-100-python'}; ")
    (tmp_path / "cifar-10-batches-py").mkdir()
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _fake_cifar_class(RuntimeError("corrupted")))
    assert message(load_dataset, "cifar10", tmp_path) == (
        f"cifar10 under {tmp_path / 'cifar-10-batches-py'} is unreadable (corrupted); delete it and "
        "download again with --download, or point --data-root elsewhere")
    monkeypatch.setattr(torchvision.datasets, "CIFAR100", _fake_cifar_class(OSError("no network")))
    assert message(load_dataset, "cifar100", tmp_path, True) == (
        f"cifar100 could not be downloaded into {tmp_path} (OSError: no network); copy "
        "cifar-100-python/ there by hand or pass --data-root")
    # image folders
    tree = tmp_path / "tree"
    assert message(load_dataset, f"imagefolder:{tree}") == (
        f"the image folder {tree} does not exist; it must hold train/<class>/* and test/<class>/* images")
    (tree / "train" / "a").mkdir(parents=True)
    assert message(load_dataset, f"imagefolder:{tree}") == (
        f"{tree / 'train'} holds no class folders with images")
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tree / "train" / "a" / "0.png")
    assert message(load_dataset, f"imagefolder:{tree}") == (
        f"the image folder {tree} has no test/ subfolder; it must hold train/<class>/* and "
        "test/<class>/* images")
    (tree / "test" / "b").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tree / "test" / "b" / "0.png")
    assert message(load_dataset, f"imagefolder:{tree}") == f"{tree}/test has classes that train lacks: b"
    (tree / "test" / "b").rename(tree / "test" / "a")
    assert message(load_dataset, f"imagefolder:{tree}") == (
        f"{tree}/train has images of 1 class (a); a classifier needs two classes or more")
    (tree / "train" / "b").mkdir()
    Image.new("RGB", (8, 8)).save(tree / "train" / "b" / "0.png")
    Image.new("RGB", (6, 8)).save(tree / "test" / "a" / "0.png")
    assert message(load_dataset, f"imagefolder:{tree}") == (
        f"{tree}: train images are (3, 8, 8) but test images are (3, 8, 6)")
    Image.new("RGB", (7, 5)).save(tree / "train" / "a" / "1.png")
    assert message(load_dataset, f"imagefolder:{tree}") == (
        f"{tree / 'train' / 'a' / '1.png'} is 7×5 but the first image is 8×8; all images must have "
        "one size")
    (tree / "train" / "a" / "1.png").write_bytes(b"not an image")
    assert message(load_dataset, f"imagefolder:{tree}").startswith(
        f"{tree / 'train' / 'a' / '1.png'} is not a readable image (cannot identify image file")


@pytest.mark.parametrize("length", [4, 5])
def test_cutout_is_darts_cutout_pixel_for_pixel(length):
    """DARTS's Cutout zeroes rows [y − L//2, y + L//2) and the same columns, clipped at the border
    (so an odd L zeroes L − 1 rows); the centres are the generator's next draws."""
    n, h, w = 40, 7, 9
    x = torch.randn(n, 2, h, w)
    out = cutout(x, length, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    cy, cx = torch.randint(0, h, (n, 1), generator=g), torch.randint(0, w, (n, 1), generator=g)
    expected = x.clone()
    for i in range(n):
        y, c = int(cy[i]), int(cx[i])
        expected[i, :, max(0, y - length // 2):min(h, y + length // 2),
                 max(0, c - length // 2):min(w, c + length // 2)] = 0
    assert torch.equal(out, expected)
    assert cutout(x, 0, g) is x


def test_resizing_scales_crop_cutout_and_evaluation_cutout_and_interpolates_every_image(digits):
    import dataclasses

    import torch.nn.functional as F

    from nas.data import resized

    data = dataclasses.replace(digits, augment=Augment(crop_padding=1, flip=True, cutout=3), eval_cutout=4)
    big = resized(data, 16)
    assert big.augment == Augment(crop_padding=2, flip=True, cutout=6) and big.eval_cutout == 8
    for size, mode in ((16, {"mode": "bilinear", "align_corners": False}), (4, {"mode": "area"})):
        out = resized(data, size)
        for got, x in ((out.train_x, data.train_x), (out.test_x, data.test_x)):
            want = F.interpolate(x.float(), size=(size, size), **mode).round().clamp(0, 255).to(torch.uint8)
            assert got.dtype == torch.uint8 and torch.equal(got, want)


def test_cifar_is_read_and_downloaded_through_torchvision_with_the_options_given(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class Fake:
        def __init__(self, root, train, download=False):
            calls.append((root, train, download))
            n = 6 if train else 4
            self.data = np.full((n, 32, 32, 3), 7 if train else 9, dtype=np.uint8)
            self.targets = list(range(n))
            self.classes = [f"c{i}" for i in range(10)]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Fake)
    data = load_dataset("cifar10", tmp_path, download=True)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    assert data.train_x.shape == (6, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    assert int(data.train_x[0, 2, 5, 5]) == 7 and data.test_y.tolist() == [0, 1, 2, 3]
    assert data.name == "cifar10" and data.classes[3] == "c3" and data.eval_cutout == 16
    assert data.augment == Augment(crop_padding=4, flip=True, cutout=0)
    assert data.mean == (0.4914, 0.4822, 0.4465)
    calls.clear()
    (tmp_path / "cifar-10-batches-py").mkdir()
    load_dataset("cifar10", tmp_path)
    assert calls == [(str(tmp_path), True, False), (str(tmp_path), False, False)]


def test_an_image_folder_dataset_is_named_by_its_path_and_augmented_for_its_size(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            Image.new("RGB", (24, 24), (10, 20, 30)).save(tmp_path / split / c / "0.png")
    data = load_dataset(f"imagefolder:{tmp_path}")
    assert data.name == f"imagefolder:{tmp_path}"
    assert data.augment == Augment(crop_padding=3, flip=True, cutout=0) and data.eval_cutout == 12
    assert data.train_x.dtype == torch.uint8 and data.train_x[0, :, 0, 0].tolist() == [10, 20, 30]
