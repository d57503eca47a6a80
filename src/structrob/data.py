"""MNIST-like image data sets: where the files live, how they are checked and parsed.

The three supported data sets (MNIST [2]_, Fashion-MNIST [3]_, Kuzushiji-MNIST [4]_) ship as the
same four gzip-compressed IDX files: 60,000 training and 10,000 test images of 28 x 28 uint8
pixels, with labels 0..9. The study [1]_ trains and attacks on MNIST.

Every file is checked against a known digest *before* it is parsed, and every parse checks the
IDX header (magic number, dimensions, item count against the payload size), so a corrupt or
truncated file is an error naming the file, never a silent partial load.

Where the files come from, in order: the ``root`` argument; else the environment variable
``STRUCTROB_DATA`` (its ``<name>`` subdirectory when there is one, otherwise the folder itself);
else the per-user cache ``$XDG_CACHE_HOME/structrob/<name>`` (``~/.cache/structrob/<name>``).
Missing files are downloaded from a list of mirrors, tried in order, with an atomic write.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document
   recognition", Proc. IEEE 86(11), 1998. IDX format: http://yann.lecun.com/exdb/mnist/
.. [3] H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a novel image dataset for benchmarking
   machine learning algorithms", arXiv:1708.07747, 2017.
.. [4] T. Clanuwat et al., "Deep learning for classical Japanese literature",
   arXiv:1812.01718, 2018.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import tempfile
import threading
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

__all__ = [
    "SUPPORTED",
    "DataError",
    "Dataset",
    "data_dir",
    "fetch",
    "load",
    "read_idx",
    "verify",
]

logger = logging.getLogger(__name__)

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILENAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# Checksums are "algorithm:hexdigest"; the first one listed is verified.
# MNIST: sha256 of the official files, md5 as published by the mirrors.
# Fashion-MNIST: md5 from the README of zalandoresearch/fashion-mnist.
# KMNIST: md5 as listed for the files of codh.rois.ac.jp (the digests torchvision checks).
_CHECKSUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "mnist": {
        TRAIN_IMAGES: (
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        TRAIN_LABELS: (
            "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "md5:d53e105ee54ea40749a09fcbcd1e9432",
        ),
        TEST_IMAGES: (
            "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "md5:9fb629c4189551a2d022fa330f9573f3",
        ),
        TEST_LABELS: (
            "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "md5:ec29112dd5afa0611ce80d1b7f02629c",
        ),
    },
    "fashion_mnist": {
        TRAIN_IMAGES: ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",),
        TRAIN_LABELS: ("md5:25c81989df183df01b3e8a0aad5dffbe",),
        TEST_IMAGES: ("md5:bef4ecab320f06d8554ea6380940ec79",),
        TEST_LABELS: ("md5:bb300cfdad3c16e7a12a480ee83cd310",),
    },
    "kmnist": {
        TRAIN_IMAGES: ("md5:bdb82020997e1d708af4cf47b453dcf7",),
        TRAIN_LABELS: ("md5:e144d726b3acfaa3e44228e80efcd344",),
        TEST_IMAGES: ("md5:5c965bf0a639b31b8f53240b1b52f4d7",),
        TEST_LABELS: ("md5:7320c461ea6c1c855c0b718fb2a4b134",),
    },
}

_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    # The official Fashion-MNIST bucket is served over plain http only; the md5 guards integrity.
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "kmnist": ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
}

SUPPORTED: tuple[str, ...] = tuple(_CHECKSUMS)
"""Names accepted by :func:`load`, :func:`fetch` and :func:`data_dir`."""

# IDX type codes -> big-endian numpy dtypes (LeCun's format description).
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_DOWNLOAD_CHUNK = 1 << 20


class DataError(ValueError):
    """A data file is missing, corrupt, truncated or malformed, or could not be downloaded.

    The message names the file (or directory) and says what is wrong and what to do.

    Examples
    --------
    >>> issubclass(DataError, ValueError)
    True
    """


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled image data set split into training and test parts.

    Attributes
    ----------
    name : str
        One of :data:`SUPPORTED`.
    train_x : Tensor [N_train, 784]
        Training images, flattened row by row; float32 in [0, 1] (pixel / 255), or uint8 in
        0..255 when loaded with ``dtype="uint8"``.
    train_y : Tensor [N_train], int64
        Training labels in 0..9.
    test_x : Tensor [N_test, 784]
        Test images, same encoding as ``train_x``.
    test_y : Tensor [N_test], int64
        Test labels in 0..9.

    Examples
    --------
    >>> import torch
    >>> d = Dataset("toy", torch.zeros(2, 784), torch.tensor([0, 1]),
    ...             torch.zeros(1, 784), torch.tensor([1]))
    >>> d
    Dataset(name='toy', train=2, test=1, dtype=torch.float32)
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.train_y)}, "
            f"test={len(self.test_y)}, dtype={self.train_x.dtype})"
        )


def _check_name(name: str) -> str:
    if name not in _CHECKSUMS:
        raise ValueError(f"unknown data set {name!r}; supported: {', '.join(SUPPORTED)}")
    return name


def data_dir(name: str = "mnist", root: str | PathLike[str] | None = None) -> Path:
    """Directory in which the four files of data set ``name`` are looked for (and downloaded).

    Resolution order: ``root`` if given; else ``$STRUCTROB_DATA/<name>`` if that directory
    exists, else ``$STRUCTROB_DATA`` itself; else the per-user cache
    ``$XDG_CACHE_HOME/structrob/<name>`` (``~/.cache/structrob/<name>`` when
    ``XDG_CACHE_HOME`` is unset). The directory need not exist yet.

    Parameters
    ----------
    name : str
        One of :data:`SUPPORTED`.
    root : path-like or None
        Explicit directory holding the files.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If ``name`` is not supported.

    Examples
    --------
    >>> data_dir("kmnist", root="/tmp/kmnist-files").as_posix()
    '/tmp/kmnist-files'
    """
    _check_name(name)
    if root is not None:
        return Path(root).expanduser()
    mirror = os.environ.get("STRUCTROB_DATA")
    if mirror:
        mirror_dir = Path(mirror).expanduser()
        per_name = mirror_dir / name
        return per_name if per_name.is_dir() else mirror_dir
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "structrob" / name


def _split_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, digest = checksum.partition(":")
    if not digest or algorithm not in hashlib.algorithms_guaranteed:
        raise ValueError(
            f"checksum must look like 'sha256:<hex digest>' or 'md5:<hex digest>', got {checksum!r}"
        )
    return algorithm, digest.lower()


def _identify(raw: bytes) -> str:
    """Name the known file whose digest ``raw`` has, to explain a mismatch; '' if none."""
    computed: dict[str, str] = {}
    for dataset, files in _CHECKSUMS.items():
        for filename, checksums in files.items():
            for checksum in checksums:
                algorithm, digest = _split_checksum(checksum)
                if algorithm not in computed:
                    computed[algorithm] = hashlib.new(algorithm, raw).hexdigest()
                if computed[algorithm] == digest:
                    return f" It is {dataset}'s {filename}."
    return ""


def _verify(raw: bytes, checksum: str, path: Path) -> None:
    algorithm, expected = _split_checksum(checksum)
    actual = hashlib.new(algorithm, raw).hexdigest()
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {path}: expected {algorithm} {expected}, got {actual} "
            f"({len(raw):,} bytes).{_identify(raw)} The file is corrupt, incomplete or the wrong "
            "file: delete it and load again with download=True, or copy a good file there."
        )


def _describe_magic(magic: int) -> str:
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    dtype = _IDX_TYPES.get(type_code)
    kind = dtype.name if dtype is not None else f"unknown type 0x{type_code:02x}"
    return f"0x{magic:08x} ({kind}, {ndim} dimension{'s' if ndim != 1 else ''})"


def _parse_idx(data: bytes, path: Path, magic: int | None) -> np.ndarray:
    if len(data) < 4:
        raise DataError(f"{path} is not an IDX file: only {len(data)} bytes after decompression")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise DataError(
            f"bad magic number in {path}: expected {_describe_magic(magic)}, "
            f"found {_describe_magic(found)}"
        )
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise DataError(
            f"bad magic number in {path}: {_describe_magic(found)} is not an IDX header "
            "(expected two zero bytes, a type code 0x08-0x0e and at least one dimension)"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"truncated IDX header in {path}: {len(data)} of {header_size} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header_size
    if payload < expected:
        raise DataError(
            f"truncated data in {path}: the header declares shape {shape} ({expected:,} bytes) "
            f"but only {payload:,} bytes follow"
        )
    if payload > expected:
        raise DataError(
            f"unexpected trailing data in {path}: the header declares shape {shape} "
            f"({expected:,} bytes) but {payload:,} bytes follow"
        )
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_size)
    # astype copies: the result is writable, native-endian and owns its memory.
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(
    path: str | PathLike[str], checksum: str | None = None, magic: int | None = None
) -> np.ndarray:
    """Read an IDX file (gzip-compressed or plain) into a numpy array, checking it first.

    The IDX format [2]_ is a 4-byte magic number ``0x0000TTDD`` (type code ``TT``, number of
    dimensions ``DD``), ``DD`` big-endian uint32 sizes, then the big-endian data. The checksum,
    when given, is verified on the file's bytes *before* anything is parsed; the payload must
    hold exactly as many items as the header declares.

    Parameters
    ----------
    path : path-like
        An IDX file; gzip compression is detected from its first two bytes.
    checksum : str or None
        ``"sha256:<hex>"`` or ``"md5:<hex>"`` (any ``hashlib`` algorithm) of the file as stored
        (compressed bytes for a .gz file); None skips verification.
    magic : int or None
        Expected magic number, e.g. ``0x00000803`` for uint8 images or ``0x00000801`` for uint8
        labels; None accepts any valid IDX header.

    Returns
    -------
    numpy.ndarray
        Array of the header's shape (e.g. uint8 [60000, 28, 28]) in native byte order; writable
        and not shared with anything else.

    Raises
    ------
    DataError
        Naming the file, on a checksum mismatch (expected and actual digest), a truncated or
        corrupt gzip stream, a bad magic number, or a payload shorter or longer than declared.
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(path, magic=0x00000801)
    array([7, 2, 1], dtype=uint8)
    >>> read_idx(path, magic=0x00000803)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    structrob.data.DataError: bad magic number ... found 0x00000801 (uint8, 1 dimension)
    """
    path = Path(path)
    raw = path.read_bytes()
    if checksum is not None:
        _verify(raw, checksum, path)
    return _decode(raw, path, magic)


def _decode(raw: bytes, path: Path, magic: int | None) -> np.ndarray:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError as error:
            raise DataError(f"truncated gzip stream in {path}: {error}") from error
        except (OSError, zlib.error) as error:
            raise DataError(f"corrupt gzip stream in {path}: {error}") from error
    return _parse_idx(raw, path, magic)


def _missing(directory: Path) -> list[str]:
    return [name for name in FILENAMES if not (directory / name).is_file()]


def _normalise_mirrors(name: str, mirrors: Sequence[str] | str | None) -> tuple[str, ...]:
    if mirrors is None:
        return _MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    mirrors = tuple(mirrors)
    if not mirrors or not all(isinstance(m, str) and m for m in mirrors):
        raise ValueError(f"mirrors must be a non-empty list of base URLs, got {mirrors!r}")
    return mirrors


def _stream(url: str, out: BinaryIO, algorithm: str, timeout: float) -> str:
    """Copy ``url`` into the open binary file ``out``; return the hex digest of the bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": "structrob"})
    hasher = hashlib.new(algorithm)
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        declared = response.headers.get("Content-Length")
        while chunk := response.read(_DOWNLOAD_CHUNK):
            out.write(chunk)
            hasher.update(chunk)
            received += len(chunk)
    # http.client returns b"" instead of raising when the peer closes early, so check here.
    if declared is not None and declared.isdigit() and received != int(declared):
        raise DataError(f"connection closed after {received:,} of {int(declared):,} bytes")
    return hasher.hexdigest()


def _download(
    filename: str, checksum: str, directory: Path, mirrors: Sequence[str], timeout: float
) -> None:
    algorithm, expected = _split_checksum(checksum)
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        logger.info("downloading %s", url)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                actual = _stream(url, out, algorithm, timeout)
                out.flush()
                os.fsync(out.fileno())
            if actual != expected:
                raise DataError(f"checksum mismatch: expected {algorithm} {expected}, got {actual}")
            os.chmod(temporary, 0o644)
            os.replace(temporary, directory / filename)
            return
        except (OSError, http.client.HTTPException, ValueError) as error:
            # URLError, HTTPError and timeouts are OSErrors; DataError is a ValueError.
            errors.append(f"  {url}: {type(error).__name__}: {error}")
        finally:
            Path(temporary).unlink(missing_ok=True)
    raise DataError(
        f"could not download {filename} from any mirror:\n" + "\n".join(errors) + "\n"
        f"Download the file manually into {directory}, or set STRUCTROB_DATA to a directory "
        "that holds it."
    )


def fetch(
    name: str = "mnist",
    root: str | PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make sure the four files of data set ``name`` are present, downloading the missing ones.

    Each missing file is downloaded from the mirrors in order into a temporary file in the
    target directory, verified against its known checksum, and only then moved into place
    with ``os.replace``; a failed or corrupt transfer leaves no file behind and the next mirror
    is tried. Files already present are not touched (and not verified here; :func:`load` does).

    Default mirrors: MNIST ``https://ossci-datasets.s3.amazonaws.com/mnist/`` and
    ``https://storage.googleapis.com/cvdf-datasets/mnist/``; Fashion-MNIST
    ``http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/``; KMNIST
    ``https://codh.rois.ac.jp/kmnist/dataset/kmnist/``.

    Parameters
    ----------
    name : str
        One of :data:`SUPPORTED`.
    root : path-like or None
        Target directory; None resolves it as :func:`data_dir` does.
    mirrors : sequence of str or None
        Base URLs (the file name is appended), tried in order; None uses the defaults above.
    timeout : float
        Seconds to wait for the connection and for each read, > 0.

    Returns
    -------
    pathlib.Path
        The directory holding the four files.

    Raises
    ------
    DataError
        If a file could not be downloaded from any mirror; the message lists every mirror URL
        with its error and says where to put the files by hand.
    ValueError
        If ``name`` is not supported or ``mirrors`` is empty.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for f in FILENAMES:
    ...     _ = open(os.path.join(folder, f), "wb").write(b"")
    >>> fetch("mnist", root=folder) == Path(folder)  # nothing missing: no network access
    True
    """
    directory = data_dir(name, root)
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    missing = _missing(directory)
    if not missing:
        return directory
    mirrors = _normalise_mirrors(name, mirrors)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cannot create the data directory {directory}: {error}. Pass root= or set "
            "STRUCTROB_DATA to a writable directory."
        ) from error
    for filename in missing:
        _download(filename, _CHECKSUMS[name][filename][0], directory, mirrors, timeout)
    return directory


# (name, resolved directory) -> (file stamps, uint8 images/labels as torch tensors). Never handed
# out: every load converts or clones, so callers cannot mutate what later calls see.
_cache: dict[tuple[str, Path], tuple[tuple, dict[str, torch.Tensor]]] = {}
_cache_lock = threading.Lock()


def _stamps(directory: Path) -> tuple:
    stats = [(directory / f).stat() for f in FILENAMES]
    return tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in stats)


def _read_split(name: str, directory: Path) -> dict[str, torch.Tensor]:
    checksums = _CHECKSUMS[name]
    raws = {}
    for filename in FILENAMES:  # verify all four before decompressing any
        path = directory / filename
        raws[filename] = path.read_bytes()
        _verify(raws[filename], checksums[filename][0], path)
    arrays = {}
    for filename in FILENAMES:
        path = directory / filename
        magic = IMAGES_MAGIC if "images" in filename else LABELS_MAGIC
        arrays[filename] = _decode(raws.pop(filename), path, magic)
    tensors = {}
    for images_file, labels_file, part in (
        (TRAIN_IMAGES, TRAIN_LABELS, "train"),
        (TEST_IMAGES, TEST_LABELS, "test"),
    ):
        images, labels = arrays[images_file], arrays[labels_file]
        if images.shape[1:] != IMAGE_SHAPE:
            raise DataError(
                f"{directory / images_file} holds {images.shape[1]}x{images.shape[2]} images, "
                f"expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{directory / images_file} holds {len(images):,} images but "
                f"{directory / labels_file} holds {len(labels):,} labels"
            )
        if len(labels) and labels.max() >= N_CLASSES:
            raise DataError(
                f"{directory / labels_file} holds label {int(labels.max())}; labels must be in "
                f"0..{N_CLASSES - 1}"
            )
        tensors[f"{part}_x"] = torch.from_numpy(images.reshape(len(images), -1))
        tensors[f"{part}_y"] = torch.from_numpy(labels)
    return tensors


_DTYPES = {"float32": torch.float32, "uint8": torch.uint8}


def _present(
    name: str,
    root: str | PathLike[str] | None,
    download: bool,
    mirrors: Sequence[str] | None,
    timeout: float,
) -> Path:
    """The data set's folder, its missing files downloaded first (or an error naming them)."""
    directory = data_dir(name, root)
    missing = _missing(directory)
    if missing:
        if not download:
            raise DataError(
                f"missing {', '.join(missing)} in {directory}; copy the {name} files there, "
                "set STRUCTROB_DATA to a directory holding them, or pass download=True"
            )
        fetch(name, directory, mirrors=mirrors, timeout=timeout)
    return directory


def verify(
    name: str = "mnist",
    root: str | PathLike[str] | None = None,
    download: bool = True,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Check that a data set's four files are there and are the published ones, not decoding them.

    What :func:`load` checks first, in a tenth of its time: the files are looked for as
    :func:`load` does (missing ones downloaded with ``download=True``) and each is checked
    against its published checksum. A file that passes is the published file byte for byte,
    so its headers are the published ones too. A study's driver checks its data this way
    before it starts (its workers load the files).

    Parameters
    ----------
    name, root, download, mirrors, timeout
        As for :func:`load`.

    Returns
    -------
    pathlib.Path
        The folder holding the four files.

    Raises
    ------
    ValueError
        If ``name`` is not supported.
    DataError
        As :func:`load`: files missing (with ``download=False``), a failed download, or a
        checksum mismatch (naming the file).

    Examples
    --------
    >>> verify("mnist").name  # doctest: +SKIP
    'mnist'
    >>> verify("cifar10")
    Traceback (most recent call last):
    ...
    ValueError: unknown data set 'cifar10'; supported: mnist, fashion_mnist, kmnist
    """
    _check_name(name)
    directory = _present(name, root, download, mirrors, timeout)
    for filename in FILENAMES:
        path = directory / filename
        _verify(path.read_bytes(), _CHECKSUMS[name][filename][0], path)
    return directory


def load(
    name: str = "mnist",
    root: str | PathLike[str] | None = None,
    download: bool = True,
    *,
    dtype: str | torch.dtype = "float32",
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> Dataset:
    """Load an MNIST-like data set as flat image tensors with integer labels.

    The files are looked for in :func:`data_dir` ``(name, root)``; missing ones are downloaded
    (``download=True``) with :func:`fetch`. All four files are checksum-verified before any is
    parsed, and the parsed headers are checked (magic numbers, 28 x 28 images, as many labels
    as images, labels in 0..9). The decoded uint8 arrays are cached in memory per
    (name, directory) for the life of the process; each call returns fresh tensors (about
    0.1-0.2 s to convert MNIST to float32), so mutating them never affects later calls.

    Parameters
    ----------
    name : str
        ``"mnist"`` [2]_, ``"fashion_mnist"`` [3]_ or ``"kmnist"`` [4]_.
    root : path-like or None
        Directory holding the four ``*-ubyte.gz`` files; None resolves ``STRUCTROB_DATA`` and
        then the per-user cache (see :func:`data_dir`).
    download : bool
        Download missing files from the mirrors; with False, missing files are an error.
    dtype : {"float32", "uint8"} or torch.dtype
        ``"float32"`` gives pixels / 255 in [0, 1] (the range the models and attacks expect);
        ``"uint8"`` gives the raw pixels 0..255.
    mirrors : sequence of str or None
        Base URLs to download from, tried in order; None uses the data set's default mirrors.
    timeout : float
        Network timeout in seconds for each connection and read.

    Returns
    -------
    Dataset
        ``train_x`` [60000, 784], ``train_y`` [60000] int64, ``test_x`` [10000, 784],
        ``test_y`` [10000] int64.

    Raises
    ------
    ValueError
        If ``name`` or ``dtype`` is not supported (the message lists the supported ones).
    DataError
        If files are missing and ``download`` is False (naming the files and the directory),
        if a download fails on every mirror, or if a file fails its checksum or header checks.

    Examples
    --------
    >>> data = load("mnist")  # doctest: +SKIP
    >>> data.train_x.shape, data.train_x.dtype, data.test_y.shape  # doctest: +SKIP
    (torch.Size([60000, 784]), torch.float32, torch.Size([10000]))
    >>> load("cifar10")
    Traceback (most recent call last):
    ...
    ValueError: unknown data set 'cifar10'; supported: mnist, fashion_mnist, kmnist
    """
    _check_name(name)
    if dtype not in _DTYPES and dtype not in _DTYPES.values():
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    target_dtype = _DTYPES.get(dtype, dtype)  # type: ignore[arg-type]
    directory = _present(name, root, download, mirrors, timeout)
    key = (name, directory.resolve())
    stamps = _stamps(directory)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is None or entry[0] != stamps:
            _cache[key] = entry = (stamps, _read_split(name, directory))
    tensors = entry[1]
    if target_dtype == torch.uint8:
        images = {part: tensors[f"{part}_x"].clone() for part in ("train", "test")}
    else:
        images = {
            part: tensors[f"{part}_x"].to(torch.float32).div_(255.0) for part in ("train", "test")
        }
    return Dataset(
        name=name,
        train_x=images["train"],
        train_y=tensors["train_y"].to(torch.int64),
        test_x=images["test"],
        test_y=tensors["test_y"].to(torch.int64),
    )
