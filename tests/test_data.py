"""Tests for structrob.data: IDX parsing, checksums, directory resolution, downloads, caching.

Downloads are exercised for real against an HTTP server on 127.0.0.1 serving the local MNIST
mirror; the real network is never touched (every download passes ``mirrors=``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import shutil
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from structrob import data
from structrob.data import DataError, data_dir, fetch, load, read_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IMAGE_FILES = (data.TRAIN_IMAGES, data.TEST_IMAGES)
LABEL_FILES = (data.TRAIN_LABELS, data.TEST_LABELS)


def idx_bytes(array: np.ndarray, type_code: int = 0x08, magic: int | None = None) -> bytes:
    """An IDX encoding written independently of the parser (struct, big-endian)."""
    if magic is None:
        magic = (type_code << 8) | array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    return header + array.astype(dtype[type_code]).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- real MNIST


def test_mnist_shapes_dtypes_range(mnist):
    assert mnist.name == "mnist"
    assert mnist.train_x.shape == (60000, 784) and mnist.test_x.shape == (10000, 784)
    assert mnist.train_y.shape == (60000,) and mnist.test_y.shape == (10000,)
    assert mnist.train_x.dtype == torch.float32 and mnist.train_y.dtype == torch.int64
    assert mnist.train_x.min().item() == 0.0 and mnist.train_x.max().item() == 1.0
    assert mnist.test_x.min().item() == 0.0 and mnist.test_x.max().item() == 1.0


def test_mnist_label_counts(mnist):
    assert torch.bincount(mnist.train_y, minlength=10).tolist() == TRAIN_COUNTS
    assert torch.bincount(mnist.test_y, minlength=10).tolist() == TEST_COUNTS


def test_mnist_pixel_statistics(mnist):
    pixels = mnist.train_x.to(torch.float64)
    assert round(pixels.mean().item(), 4) == 0.1307
    assert round(pixels.std().item(), 4) == 0.3081


def test_mnist_matches_independent_decoding(mnist, mnist_dir):
    # Decode the test images with gzip + numpy directly, skipping the 16-byte header.
    raw = gzip.decompress((mnist_dir / data.TEST_IMAGES).read_bytes())
    assert struct.unpack(">4I", raw[:16]) == (0x803, 10000, 28, 28)
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 784)
    expected = torch.from_numpy(pixels.astype(np.float32) / np.float32(255))
    assert torch.equal(mnist.test_x, expected)
    raw_labels = gzip.decompress((mnist_dir / data.TEST_LABELS).read_bytes())
    assert mnist.test_y[:5].tolist() == list(raw_labels[8:13]) == [7, 2, 1, 0, 4]


def test_uint8_route_and_float_agree(mnist, mnist_dir):
    raw = load("mnist", root=mnist_dir, download=False, dtype="uint8")
    assert raw.train_x.dtype == torch.uint8 and raw.train_x.shape == (60000, 784)
    assert torch.equal(raw.train_x.float() / 255, mnist.train_x)
    assert torch.equal(raw.test_y, mnist.test_y)
    same = load("mnist", root=mnist_dir, download=False, dtype=torch.uint8)
    assert torch.equal(same.test_x, raw.test_x)


def test_returned_tensors_do_not_alias_the_cache(mnist_dir):
    first = load("mnist", root=mnist_dir, download=False)
    first.train_x[0, 0] = 7.0
    first.train_y[0] = 9
    raw = load("mnist", root=mnist_dir, download=False, dtype="uint8")
    raw.test_x[0, 0] = 200
    again = load("mnist", root=mnist_dir, download=False)
    assert again.train_x[0, 0].item() == 0.0
    assert again.train_y[0].item() == 5  # the first training digit is a 5
    assert load("mnist", root=mnist_dir, download=False, dtype="uint8").test_x[0, 0].item() == 0


def test_mnist_checksums_match_mirror_sums(mnist_dir):
    sums_file = mnist_dir / "SHA256SUMS"
    if not sums_file.is_file():
        pytest.skip("mirror has no SHA256SUMS file")
    sums = dict(reversed(line.split()) for line in sums_file.read_text().splitlines() if line)
    for filename in data.FILENAMES:
        assert data._CHECKSUMS["mnist"][filename][0] == "sha256:" + sums[filename]
        actual = hashlib.md5((mnist_dir / filename).read_bytes()).hexdigest()
        assert data._CHECKSUMS["mnist"][filename][1] == "md5:" + actual


# ---------------------------------------------------------------------------- corrupt files


@pytest.fixture
def mnist_copy(mnist_dir, tmp_path):
    target = tmp_path / "copy"
    target.mkdir()
    for filename in data.FILENAMES:
        shutil.copyfile(mnist_dir / filename, target / filename)
    return target


def test_flipped_byte_is_a_checksum_error_naming_the_file(mnist_copy):
    path = mnist_copy / data.TRAIN_LABELS
    content = bytearray(path.read_bytes())
    content[5000] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(DataError) as info:
        load("mnist", root=mnist_copy, download=False)
    message = str(info.value)
    assert "checksum mismatch" in message and str(path) in message
    assert data._CHECKSUMS["mnist"][data.TRAIN_LABELS][0].split(":")[1] in message
    assert hashlib.sha256(bytes(content)).hexdigest() in message


def test_verify_checks_the_checksums_without_decoding(mnist_copy, tmp_path, monkeypatch):
    assert data.verify("mnist", root=mnist_copy, download=False) == mnist_copy
    decoded = []
    monkeypatch.setattr(data, "_decode", lambda *args: decoded.append(args))
    data.verify("mnist", root=mnist_copy, download=False)
    assert decoded == []
    path = mnist_copy / data.TEST_LABELS
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x80  # the last label: the headers are intact, the checksum is not
    path.write_bytes(bytes(content))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        data.verify("mnist", root=mnist_copy, download=False)
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match=r"missing train-images.*in .*empty"):
        data.verify("mnist", root=tmp_path / "empty", download=False)


def test_truncated_file_is_an_error(mnist_copy):
    path = mnist_copy / data.TEST_IMAGES
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DataError, match="checksum mismatch.*100,000 bytes") as info:
        load("mnist", root=mnist_copy, download=False)
    assert data.TEST_IMAGES in str(info.value)
    # Without checksum verification the parser itself refuses the short gzip stream.
    with pytest.raises(DataError, match=r"truncated gzip stream in .*t10k-images"):
        read_idx(path)


def test_wrong_data_set_in_directory_is_identified(mnist_copy):
    # MNIST files where Fashion-MNIST is expected: the mismatch says which file it really is.
    with pytest.raises(DataError, match=r"It is mnist's train-images-idx3-ubyte\.gz"):
        load("fashion_mnist", root=mnist_copy, download=False)


def test_cache_notices_a_replaced_file(mnist_copy):
    load("mnist", root=mnist_copy, download=False, dtype="uint8")
    path = mnist_copy / data.TEST_LABELS
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match="checksum mismatch"):
        load("mnist", root=mnist_copy, download=False)


# ---------------------------------------------------------------------------- IDX parser


def test_read_idx_roundtrip_all_types(tmp_path):
    rng = np.random.default_rng(0)
    cases = {
        0x08: rng.integers(0, 256, size=(3, 4, 5)),
        0x09: rng.integers(-128, 128, size=(7,)),
        0x0B: rng.integers(-30000, 30000, size=(2, 3)),
        0x0C: rng.integers(-(2**31), 2**31, size=(4,)),
        0x0D: rng.standard_normal((2, 2)).astype(np.float32),
        0x0E: rng.standard_normal((3,)),
    }
    for type_code, array in cases.items():
        path = write_gz(tmp_path / f"a{type_code}.gz", idx_bytes(array, type_code))
        result = read_idx(path)
        assert result.shape == array.shape and result.dtype.isnative
        np.testing.assert_array_equal(result, array)
        assert result.flags.writeable


def test_read_idx_plain_file_and_checksum(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(path, checksum=sha256(path), magic=0x801), labels)
    md5 = "md5:" + hashlib.md5(path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(read_idx(path, checksum=md5), labels)
    mismatch = r"checksum mismatch for .*labels-idx1-ubyte: expected md5 0{32}"
    with pytest.raises(DataError, match=mismatch):
        read_idx(path, checksum="md5:" + "0" * 32)
    with pytest.raises(ValueError, match="sha256:<hex digest>"):
        read_idx(path, checksum="0" * 64)


def test_read_idx_bad_magic(tmp_path):
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    path = write_gz(tmp_path / "x.gz", idx_bytes(images, magic=0x00000903))
    expected = r"bad magic number in .*x\.gz: expected 0x00000803.*found 0x00000903 \(int8"
    with pytest.raises(DataError, match=expected):
        read_idx(path, magic=data.IMAGES_MAGIC)
    for magic in (0x01000803, 0x00000A03, 0x00000800):  # nonzero lead byte, unknown type, ndim 0
        path = write_gz(tmp_path / f"m{magic}.gz", struct.pack(">I", magic) + bytes(8))
        with pytest.raises(DataError, match="is not an IDX header"):
            read_idx(path)


def test_read_idx_payload_size_must_match_header(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    encoded = idx_bytes(images)
    short = write_gz(tmp_path / "short.gz", encoded[:-1])
    expected = r"truncated data in .*short\.gz.*\(2, 28, 28\) \(1,568 bytes\).*1,567"
    with pytest.raises(DataError, match=expected):
        read_idx(short)
    long = write_gz(tmp_path / "long.gz", encoded + b"\x00")
    with pytest.raises(DataError, match=r"trailing data in .*long\.gz"):
        read_idx(long)
    header_only = write_gz(tmp_path / "header.gz", encoded[:9])
    with pytest.raises(DataError, match="truncated IDX header.*9 of 16 bytes"):
        read_idx(header_only)
    tiny = write_gz(tmp_path / "tiny.gz", b"\x00\x00")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tiny)


def test_read_idx_corrupt_gzip(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.zeros(1000, dtype=np.uint8))))
    compressed[-6] ^= 0xFF  # inside the CRC32 trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(DataError, match=r"corrupt gzip stream in .*crc\.gz"):
        read_idx(path)


def _synthetic_set(
    directory: Path, n_train: int, n_test: int, label: int = 3, side: int = 28
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for filename, n in ((data.TRAIN_IMAGES, n_train), (data.TEST_IMAGES, n_test)):
        write_gz(directory / filename, idx_bytes(np.full((n, side, side), 255, dtype=np.uint8)))
    for filename, n in ((data.TRAIN_LABELS, n_train), (data.TEST_LABELS, n_test)):
        write_gz(directory / filename, idx_bytes(np.full(n, label, dtype=np.uint8)))


def _checksums_of(monkeypatch, directory: Path) -> None:
    sums = {f: (sha256(directory / f),) for f in data.FILENAMES}
    monkeypatch.setitem(data._CHECKSUMS, "kmnist", sums)


def test_load_synthetic_set_and_consistency_checks(tmp_path, monkeypatch):
    good = tmp_path / "good"
    _synthetic_set(good, 4, 2)
    _checksums_of(monkeypatch, good)
    loaded = load("kmnist", root=good, download=False)
    assert loaded.train_x.shape == (4, 784) and loaded.test_x.shape == (2, 784)
    assert loaded.train_x.unique().tolist() == [1.0] and loaded.test_y.tolist() == [3, 3]

    mismatched = tmp_path / "counts"
    _synthetic_set(mismatched, 4, 2)
    write_gz(mismatched / data.TRAIN_LABELS, idx_bytes(np.zeros(3, dtype=np.uint8)))
    _checksums_of(monkeypatch, mismatched)
    with pytest.raises(DataError, match="holds 4 images but .*train-labels.* holds 3 labels"):
        load("kmnist", root=mismatched, download=False)

    bad_label = tmp_path / "label"
    _synthetic_set(bad_label, 4, 2, label=10)
    _checksums_of(monkeypatch, bad_label)
    with pytest.raises(DataError, match=r"holds label 10; labels must be in 0\.\.9"):
        load("kmnist", root=bad_label, download=False)

    wrong_side = tmp_path / "side"
    _synthetic_set(wrong_side, 4, 2, side=32)
    _checksums_of(monkeypatch, wrong_side)
    with pytest.raises(DataError, match="32x32 images, expected 28x28"):
        load("kmnist", root=wrong_side, download=False)


# ---------------------------------------------------------------------------- where files live


def test_unknown_name_lists_supported():
    expected = "unknown data set 'cifar10'; supported: mnist, fashion_mnist, kmnist"
    with pytest.raises(ValueError, match=expected):
        load("cifar10")
    with pytest.raises(ValueError, match="supported: mnist, fashion_mnist, kmnist"):
        data_dir("MNIST")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'uint8'"):
        load("mnist", root=tmp_path, dtype="float64")
    with pytest.raises(ValueError, match="non-empty list of base URLs"):
        fetch("mnist", root=tmp_path, mirrors=[])
    with pytest.raises(ValueError, match="timeout must be a positive"):
        fetch("mnist", root=tmp_path, timeout=0)


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("STRUCTROB_DATA", str(mirror))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir("mnist", root=tmp_path / "explicit") == tmp_path / "explicit"
    assert data_dir("fashion_mnist") == mirror
    (mirror / "fashion_mnist").mkdir()
    assert data_dir("fashion_mnist") == mirror / "fashion_mnist"
    assert data_dir("mnist") == mirror
    monkeypatch.delenv("STRUCTROB_DATA")
    assert data_dir("kmnist") == tmp_path / "xdg" / "structrob" / "kmnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir("mnist") == tmp_path / "home" / ".cache" / "structrob" / "mnist"


def test_missing_files_without_download_names_them(tmp_path, mnist_dir, monkeypatch):
    shutil.copyfile(mnist_dir / data.TRAIN_LABELS, tmp_path / data.TRAIN_LABELS)
    with pytest.raises(DataError) as info:
        load("mnist", root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path) in message and data.TRAIN_LABELS not in message
    for filename in (data.TRAIN_IMAGES, data.TEST_IMAGES, data.TEST_LABELS):
        assert filename in message
    monkeypatch.setenv("STRUCTROB_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"missing train-images.*in .*empty"):
        load("mnist", download=False)


# ---------------------------------------------------------------------------- downloads


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /good/F serves F; /corrupt/F flips one byte; /drop/F closes half-way; else 404."""

    source: Path
    requests: list[str]

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.requests.append(self.path)
        _, mode, filename = self.path.split("/", 2)
        path = self.source / filename
        if mode not in ("good", "corrupt", "drop") or not path.is_file():
            self.send_error(404)
            return
        body = bytearray(path.read_bytes())
        if mode == "corrupt":
            body[len(body) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":
            self.wfile.write(bytes(body[: len(body) // 2]))
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(bytes(body))

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(source: Path):
    """Yield (base URL, list of requested paths) of an HTTP server on 127.0.0.1 serving source."""
    handler = type("Handler", (_Handler,), {"source": source, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(mnist_dir):
    with _serve(mnist_dir) as served:
        yield served


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in data.FILENAMES)


def test_clean_download_into_user_cache(server, tmp_path, monkeypatch, mnist_dir):
    base, requests = server
    monkeypatch.delenv("STRUCTROB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    requests.clear()
    downloaded = load("mnist", mirrors=[base + "/good/"])
    cache = tmp_path / "xdg" / "structrob" / "mnist"
    assert sorted(requests) == sorted("/good/" + f for f in data.FILENAMES)
    for filename in data.FILENAMES:
        assert (cache / filename).read_bytes() == (mnist_dir / filename).read_bytes()
    assert _leftovers(cache) == []
    assert torch.bincount(downloaded.test_y).tolist() == TEST_COUNTS
    requests.clear()
    load("mnist", download=False)  # now present: no request
    fetch("mnist", mirrors=[base + "/good/"])
    assert requests == []


def test_corrupt_first_mirror_falls_back_to_second(server, tmp_path, mnist_dir):
    base, requests = server
    requests.clear()
    directory = fetch("mnist", root=tmp_path / "d", mirrors=[base + "/corrupt", base + "/good/"])
    assert directory == tmp_path / "d"
    for filename in data.FILENAMES:
        assert (directory / filename).read_bytes() == (mnist_dir / filename).read_bytes()
        assert requests.count("/corrupt/" + filename) == 1
        assert requests.count("/good/" + filename) == 1
    assert _leftovers(directory) == []


def test_dropped_connection_leaves_no_partial_file(server, tmp_path, mnist_dir):
    base, _ = server
    for filename in IMAGE_FILES:  # only the small label files need downloading
        shutil.copyfile(mnist_dir / filename, tmp_path / filename)
    with pytest.raises(DataError) as info:
        fetch("mnist", root=tmp_path, mirrors=[base + "/drop/"])
    message = str(info.value)
    assert f"{base}/drop/{data.TRAIN_LABELS}" in message
    assert "connection closed after 14,440 of 28,881 bytes" in message
    assert str(tmp_path) in message and "STRUCTROB_DATA" in message
    assert not (tmp_path / data.TRAIN_LABELS).exists() and _leftovers(tmp_path) == []


def test_all_mirrors_bad_lists_every_mirror(server, tmp_path, mnist_dir):
    base, _ = server
    for filename in IMAGE_FILES:
        shutil.copyfile(mnist_dir / filename, tmp_path / filename)
    refused = _closed_port_url()
    mirrors = [base + "/corrupt/", base + "/drop/", base + "/absent/", refused]
    with pytest.raises(DataError) as info:
        load("mnist", root=tmp_path, mirrors=mirrors, timeout=5)
    message = str(info.value)
    assert message.startswith(f"could not download {data.TRAIN_LABELS} from any mirror")
    for mirror in mirrors:
        assert mirror.rstrip("/") + "/" + data.TRAIN_LABELS in message
    assert "checksum mismatch" in message and "HTTPError" in message and "404" in message
    assert "URLError" in message
    assert "Download the file manually into" in message
    assert _leftovers(tmp_path) == [] and not (tmp_path / data.TRAIN_LABELS).exists()


def test_download_of_synthetic_set_then_load(tmp_path, monkeypatch):
    # A full download-then-load pass on small files, so it runs without the MNIST mirror too.
    source = tmp_path / "source"
    _synthetic_set(source, 5, 3, label=7)
    _checksums_of(monkeypatch, source)
    with _serve(source) as (base, requests):
        loaded = load("kmnist", root=tmp_path / "target", mirrors=base + "/good/")
    assert len(requests) == 4
    assert loaded.train_y.tolist() == [7] * 5 and loaded.test_x.shape == (3, 784)
    assert _leftovers(tmp_path / "target") == []
