"""Who takes part in a multi-process run (ptycho_core.cluster): flags and launcher environments, data shards.

Host-only: no backend is imported.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ptycho_core.cluster import (
    DEFAULT_PORT,
    ClusterError,
    batch_shard,
    contiguous_shard,
    detect_cluster,
    first_slurm_host,
)


def test_no_launcher_and_no_flags_is_a_single_process():
    assert detect_cluster(env={}) is None
    assert detect_cluster(env={"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1"}) is None


def test_torchrun_environment():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node07", "MASTER_PORT": "29500"}
    cluster = detect_cluster(env=env)
    assert cluster is not None
    assert (cluster.num_processes, cluster.process_id, cluster.coordinator) == (4, 3, "node07:29500")
    assert (cluster.local_rank, cluster.source, cluster.is_chief) == (1, "torchrun", False)


def test_slurm_environment_takes_the_first_node_as_coordinator():
    env = {
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "0",
        "SLURM_STEP_NODELIST": "gpu[012-015,020],login1",
    }
    cluster = detect_cluster(env=env)
    assert cluster is not None and cluster.is_chief
    assert (cluster.num_processes, cluster.coordinator, cluster.source) == (8, f"gpu012:{DEFAULT_PORT}", "slurm")
    env["PTYCHOPINN_COORDINATOR_PORT"] = "4000"
    assert detect_cluster(env=env).coordinator == "gpu012:4000"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "nodelist, first", [("node1", "node1"), ("n[3-5]", "n3"), ("a[07,09]", "a07"), ("x1,x2", "x1")]
)
def test_first_slurm_host(nodelist, first):
    assert first_slurm_host(nodelist) == first


def test_tf_config_gives_every_worker():
    config = {"cluster": {"worker": ["a:1000", "b:1000", "c:1000"]}, "task": {"type": "worker", "index": 2}}
    cluster = detect_cluster(env={"TF_CONFIG": json.dumps(config)})
    assert cluster is not None
    assert cluster.workers == ("a:1000", "b:1000", "c:1000")
    assert (cluster.num_processes, cluster.process_id, cluster.coordinator) == (3, 2, "a:1000")
    with pytest.raises(ClusterError, match="TF_CONFIG is not valid"):
        detect_cluster(env={"TF_CONFIG": '{"cluster": {}}'})


def test_flags_win_over_the_environment_and_must_be_complete():
    env = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "9"}
    cluster = detect_cluster(coordinator="other:7", timeout_s=5, env=env)
    assert cluster is not None
    assert (cluster.coordinator, cluster.process_id, cluster.timeout_s) == ("other:7", 1, 5.0)
    both = detect_cluster(coordinator="a:1,b:2", num_processes=2, process_id=0, env={})
    assert both is not None and both.workers == ("a:1", "b:2") and both.coordinator == "a:1"
    with pytest.raises(ClusterError, match=r"needs process_id \(--process-id\), coordinator \(--coordinator\)"):
        detect_cluster(num_processes=2, env={})
    with pytest.raises(ClusterError, match="process_id must be in 0..1"):
        detect_cluster(coordinator="h:1", num_processes=2, process_id=2, env={})
    with pytest.raises(ClusterError, match="coordinator must be host:port"):
        detect_cluster(coordinator="h", num_processes=2, process_id=0, env={})
    with pytest.raises(ClusterError, match="WORLD_SIZE='two' is not an integer"):
        detect_cluster(env={"RANK": "0", "WORLD_SIZE": "two"})


def test_batch_shard_gives_each_process_its_part_of_every_batch():
    parts = [batch_shard(20, 8, 2, p) for p in range(2)]
    np.testing.assert_array_equal(parts[0], [0, 1, 2, 3, 8, 9, 10, 11, 16, 17])
    np.testing.assert_array_equal(parts[1], [4, 5, 6, 7, 12, 13, 14, 15, 18, 19])
    assert sorted(np.concatenate(parts)) == list(range(20))
    with pytest.raises(ValueError, match="do not split into 2 equal shards"):
        batch_shard(21, 8, 2, 0)


def test_contiguous_shards_cover_the_groups_once():
    shards = [contiguous_shard(10, 3, p) for p in range(3)]
    assert shards == [(0, 3), (3, 6), (6, 10)]
    assert contiguous_shard(1, 2, 0) == (0, 0)  # an empty shard when there are more processes than groups
