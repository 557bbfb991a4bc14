"""predict_tiled on a dask.distributed cluster: the same result, also when a worker dies mid-run."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask")

from convlab import ConvlabError  # noqa: E402
from convlab.models import UNet, UNetConfig  # noqa: E402
from convlab.tiling import TilingStats, predict_tiled  # noqa: E402

CONFIG = UNetConfig(width=4, depth=2, classes=2)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def model():
    return UNet(CONFIG, seed=5, dtype=np.float64)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(8).standard_normal((230, 190))


def test_dask_equals_in_process(client, model, image, tmp_path):
    expected = predict_tiled(model, image, 92)
    # In-memory source: this process reads the windows and ships them.
    np.testing.assert_array_equal(predict_tiled(model, image, 92, scheduler=client), expected)
    # A file source: the workers read their own windows.
    np.save(tmp_path / "image.npy", image)
    out = predict_tiled(model, tmp_path / "image.npy", 92, scheduler=client, out=tmp_path / "out.npy")
    np.testing.assert_array_equal(np.load(out), expected)
    # By address: a client of its own, closed afterwards.
    stats = TilingStats()
    by_address = predict_tiled(model, image, 92, scheduler=client.scheduler.address, stats=stats)
    np.testing.assert_array_equal(by_address, expected)
    assert stats.tiles == 20 and stats.compute > 0


@pytest.mark.worker_kill
def test_dask_survives_a_killed_worker(client, model, image, tmp_path):
    expected = predict_tiled(model, image, 92)
    pids = client.run(os.getpid)
    victim = next(iter(pids.values()))
    killed = []

    def kill_after_two(done, total):
        # Two tiles back, the rest in flight or queued: kill one worker
        # process outright; its tasks must be recomputed elsewhere.
        if done == 2:
            os.kill(victim, signal.SIGKILL)
            killed.append(done)

    np.save(tmp_path / "image.npy", image)
    for source in (image, tmp_path / "image.npy"):
        killed.clear()
        result = predict_tiled(model, source, 92, scheduler=client, progress=kill_after_two)
        np.testing.assert_array_equal(result, expected)
        assert killed == [2]
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        victim = next(iter(pids.values()))


def test_bad_scheduler(model, image):
    with pytest.raises(TypeError, match=r"scheduler must be a dask\.distributed\.Client or an address"):
        predict_tiled(model, image, 92, scheduler=3)
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConvlabError, match="cannot be reached"),
    ):
        predict_tiled(model, image[:20, :20], 92, scheduler="tcp://127.0.0.1:9")


def test_segment_command_on_the_cluster(client, tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    from convlab.cli import main
    from convlab.io import save_weights

    model = UNet(CONFIG, seed=6)
    save_weights(model.state_dict(), tmp_path / "w.safetensors")
    image = np.random.default_rng(9).random((200, 150)).astype(np.float32)
    tifffile.imwrite(tmp_path / "img.tif", image)
    argv = ["segment", str(tmp_path / "img.tif"), "-w", str(tmp_path / "w.safetensors"), "--tile", "92"]
    assert main([*argv, "-o", str(tmp_path / "local.tif")]) == 0
    assert main([*argv, "-o", str(tmp_path / "dask.tif"), "--scheduler", client.scheduler.address]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "dask.tif"), tifffile.imread(tmp_path / "local.tif")
    )
