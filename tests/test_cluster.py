"""Grids on a Ray cluster: what every node must see, and a two-node cluster on this machine."""

import shutil
import tempfile

import pytest

from benchmark import cluster


def test_a_node_sees_a_folder_only_with_the_token_just_written(tmp_path):
    shared = tmp_path / "storage"
    tokens = cluster.write_tokens([shared])
    report = cluster.node_report(tokens, ["digits"], None, False)
    assert report["seen"] == {str(shared): True} and report["failed"] == {}
    # an old copy of the folder (another token in it) is not the driver's folder
    stale = cluster.node_report({str(shared): "another"}, [], None, False)
    assert stale["seen"] == {str(shared): False}
    cluster.remove_tokens(tokens)
    assert not (shared / cluster.TOKEN).exists()
    missing = cluster.node_report({}, ["cifar10"], str(tmp_path / "no-data"), False)
    assert "cifar10" in missing["failed"]


@pytest.fixture
def private_ray(monkeypatch):
    import ray

    short = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(address="local", num_cpus=1, include_dashboard=False, _temp_dir=short,
             log_to_driver=False)
    yield
    ray.shutdown()
    shutil.rmtree(short, ignore_errors=True)


def test_check_nodes_names_the_node_where_a_dataset_does_not_load(private_ray, tmp_path):
    reports = cluster.check_nodes({"Ray's storage": tmp_path / "s"}, ["digits"], None, False)
    assert len(reports) == 1 and reports[0]["seen"] == {str(tmp_path / "s"): True}
    assert not (tmp_path / "s" / cluster.TOKEN).exists()      # the token goes afterwards
    with pytest.raises(ValueError, match=r"dataset cifar10 does not load on node \S+ \("):
        cluster.check_nodes({}, ["cifar10"], str(tmp_path / "no-data"), False)


def test_a_tiny_grid_on_a_two_node_cluster_started_here_has_every_row(tmp_path, capsys):
    from benchmark import cluster_check

    rc = cluster_check.main(["--work", str(tmp_path), "--grid", "smoke", "--strategies",
                             "first-order", "random", "--search-epochs", "1", "--eval-epochs", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ok   its trials ran on 2 nodes" in out and "2 trials: 2 finished, 0 failed, 0 interrupted" in out
