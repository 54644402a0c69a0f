"""Metric weights fetched on first use, the offline notes, and ``python -m ddrm_lightning.fetch``.

Every address is a loopback mirror (see test_fetch_server.py) or a closed loopback port.
"""

from __future__ import annotations

import importlib.util
import io
import socket
import time

import pytest
import torch
import torchvision

from ddrm_lightning.fetch import main as fetch_main
from ddrm_lightning.metrics import (
    METRIC_GROUPS,
    WEIGHT_FILES,
    SweepMetrics,
    Unavailable,
    WeightFile,
    forget_failures,
    hub_checkpoint_dir,
    load_inception,
    load_lpips,
    obtain_weight,
)
from ddrm_lightning.models import ZOO
from ddrm_lightning.metrics.options import MetricsOptions
from test_fetch_server import PAYLOAD, PUBLISHED, Mirror, leftovers, loopback_only, mirror, sha256  # noqa: F401

ALL_METRICS = {"lpips_alex", "lpips_vgg", "fid", "kid", "kid_std", "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stand_in(data: bytes) -> WeightFile:
    """A weight file whose published name carries the sha256 prefix of ``data``."""
    return WeightFile("standin", f"standin-{sha256(data)[:8]}.pth", PUBLISHED + "standin.pth", 0.3, "Stand-in",
                      "tests", "metrics")


def test_the_registry_is_what_torchvision_and_torch_fidelity_fetch():
    assert WEIGHT_FILES["alexnet"].url == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    assert WEIGHT_FILES["vgg16"].url == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    if importlib.util.find_spec("torch_fidelity") is not None:
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        assert WEIGHT_FILES["inception"].url == URL_INCEPTION_V3
    assert [w.sha256_prefix for w in WEIGHT_FILES.values()] == ["7be5be79", "397923af", "6726825d"]
    assert all(w.url.endswith("/" + w.file_name) for w in WEIGHT_FILES.values())
    assert set(METRIC_GROUPS["metrics"]) == set(WEIGHT_FILES)


def test_a_missing_file_is_fetched_into_the_hub_cache_once(mirror):
    data = PAYLOAD + b"weights"
    weight = stand_in(data)
    mirror.files[weight.file_name] = data
    path = obtain_weight(weight, progress=False)
    assert path == hub_checkpoint_dir() / weight.file_name and path.read_bytes() == data
    assert obtain_weight(weight, progress=False) == path  # cached: no second request
    assert mirror.gets(weight.file_name) == [None] and leftovers(path.parent) == [weight.file_name]


def test_a_wrong_file_under_the_published_name_is_refused_and_removed(mirror):
    name = WEIGHT_FILES["alexnet"].file_name
    mirror.files[name] = PAYLOAD  # not AlexNet: its sha256 does not start with 7be5be79
    result = load_lpips("alex", progress=False)
    assert isinstance(result, Unavailable)
    assert "expected 7be5be79" in result.reason and str(hub_checkpoint_dir() / name) in result.reason
    assert "\n" not in str(result) and leftovers(hub_checkpoint_dir()) == []
    assert isinstance(load_lpips("alex", progress=False), Unavailable)
    assert mirror.gets(name) == [None]  # the failure is remembered: not downloaded again
    forget_failures()
    load_lpips("alex", progress=False)
    assert mirror.gets(name) == [None, None]


def test_a_refusing_mirror_gives_a_note_naming_address_and_destination(mirror):
    mirror.status[WEIGHT_FILES["inception"].file_name] = 403
    result = load_inception(progress=False)
    assert isinstance(result, Unavailable)
    expected = WEIGHT_FILES["inception"].file_name
    assert f"{mirror.url}/{expected} answered HTTP 403 Forbidden" in result.reason
    assert str(hub_checkpoint_dir() / expected) in result.reason
    assert "python -m ddrm_lightning.fetch fid" in result.reason


@pytest.mark.parametrize("switch", ["HF_HUB_OFFLINE", "DDRM_LIGHTNING_OFFLINE", "--metrics.download false"])
def test_offline_switches_fetch_nothing(mirror, monkeypatch, switch):
    if switch.startswith("--"):
        options = MetricsOptions(download=False)
        expected = "fetching is off: --metrics.download false"
    else:
        monkeypatch.setenv(switch, "1")
        options = MetricsOptions()
        expected = f"{switch}=1 is set"
    start = time.perf_counter()
    metrics = options.build(("ddrm",))
    assert time.perf_counter() - start < 10
    result = metrics.compute()
    assert set(result) == ALL_METRICS and all(isinstance(v, Unavailable) for v in result.values())
    assert expected in result["lpips_vgg"].reason and str(hub_checkpoint_dir() / "vgg16-397923af.pth") in result["lpips_vgg"].reason
    assert mirror.requests == []


def test_no_network_gives_the_notes_within_seconds(monkeypatch, tmp_path, loopback_only):
    monkeypatch.setenv("DDRM_LIGHTNING_MIRROR", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("DDRM_LIGHTNING_OFFLINE", raising=False)
    forget_failures()
    start = time.perf_counter()
    results = [MetricsOptions().build(("ddrm", "wiener")).compute() for _ in range(3)]  # one per task, as a sweep
    assert time.perf_counter() - start < 10
    for result in results:
        assert all(isinstance(v, Unavailable) for v in result.values())
        assert all("cannot reach 127.0.0.1" in result[m].reason for m in ("lpips_alex", "lpips_vgg", "fid", "kid"))
        assert "no GIQA reference set" in result["giqa_gmm"].reason
    assert f"at {hub_checkpoint_dir() / 'alexnet-owt-7be5be79.pth'}," in results[0]["lpips_alex"].reason
    forget_failures()


def test_weights_already_in_the_cache_need_no_server(monkeypatch, tmp_path, loopback_only):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("DDRM_LIGHTNING_MIRROR", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("DDRM_LIGHTNING_OFFLINE", raising=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        features = torchvision.models.alexnet(weights=None).features
    hub_checkpoint_dir().mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, hub_checkpoint_dir() / "alexnet-owt-7be5be79.pth")
    metrics = SweepMetrics(fid=False, kid=False, giqa=False)
    assert list(metrics.lpips_nets) == ["alex"] and "lpips_vgg" in metrics.unavailable
    assert MetricsOptions(fid=False, kid=False, giqa=False).weight_keys() == ["alexnet", "vgg16"]
    assert MetricsOptions(lpips_weights="/x", inception_weights="/y").weight_keys() == []


# --------------------------------------------------------------------------- the command
def test_fetch_command_lists_and_fetches(mirror, tmp_path, capsys):
    buffer = io.BytesIO()
    with torch.device("meta"):
        torch.save(ZOO["classifier_256"].build().state_dict(), buffer)
    mirror.files["256x256_classifier.pt"] = buffer.getvalue()
    assert fetch_main(["classifier_256", "--cache-dir", str(tmp_path / "zoo"), "--quiet"]) == 0
    assert (tmp_path / "zoo" / "256x256_classifier.pt").is_file()
    assert fetch_main(["--list", "--cache-dir", str(tmp_path / "zoo")]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "classifier_256" in l and "cached" in l)
    assert f"<- {mirror.url}/256x256_classifier.pt" in line
    assert "alexnet-owt-7be5be79.pth" in out and "missing, 233 MiB" in out and f"mirror: DDRM_LIGHTNING_MIRROR={mirror.url}" in out


def test_fetch_command_failures(mirror, monkeypatch, capsys):
    assert fetch_main(["lpips", "--quiet"]) == 1  # the mirror has neither file: two 404s
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("answered HTTP 404" in line for line in err)
    assert fetch_main(["nonsense"]) == 2
    assert "unknown name(s) nonsense" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch_main(["fid"]) == 1
    assert "HF_HUB_OFFLINE=1 is set" in capsys.readouterr().err
    assert mirror.gets(WEIGHT_FILES["inception"].file_name) == []
