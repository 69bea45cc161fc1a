"""backend="ray" on a real cluster: two nodes started by ``ray start``, joined with address=.

Both nodes run on this machine (127.0.0.1), each with one CPU, so a runner of two CPU
devices must place one actor on each. The driver is a separate script, as on a cluster:
it connects with ``address=`` and ships this folder with ``runtime_env={"working_dir":
...}`` (and the runners' shared hooks, tests/_helpers/_runner_hooks.py, with
``py_modules``). Afterwards no process of the cluster may be left.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("ray")

from _parallel_ray_support import CLUSTER_ENV, HERE, LocalCluster
from _parallel_support import wait_until_gone, write_script

DRIVER = """
import json
import os
import sys

import _runner_hooks
import ray
from _parallel_ray_runners import Where, all_producers

if __name__ == "__main__":
    address, folder = sys.argv[1], sys.argv[2]
    shipped = {
        "working_dir": folder,
        "py_modules": [_runner_hooks.__file__],
        "excludes": ["__pycache__"],
    }
    with Where(
        2,
        backend="ray",
        address=address,
        ray_init_kwargs={"runtime_env": shipped, "log_to_driver": False},
    ) as runner:
        rows = all_producers(runner, 2)
        in_order = runner(range(500))
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    print(json.dumps({
        "producers": sorted([row[0], row[1], row[2]] for row in rows),
        "nodes": sorted(nodes),
        "results": len(in_order),
        "driver": os.getpid(),
    }))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_producers_land_on_both_nodes_of_a_real_cluster(tmp_path):
    cluster = LocalCluster()
    try:
        cluster.start_head(num_cpus=1)
        cluster.add_node(num_cpus=1)
        script = write_script(tmp_path, DRIVER, name="driver.py")
        result = subprocess.run(
            [sys.executable, str(script), cluster.address, str(HERE)],
            env=CLUSTER_ENV,
            capture_output=True,
            text=True,
            timeout=200,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-5000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert len(report["nodes"]) == 2, report
        producers = report["producers"]
        assert sorted(node for node, _, _ in producers) == report["nodes"]
        assert {device for _, _, device in producers} == {"cpu"}
        assert report["results"] == 500
        actor_pids = {pid for _, pid, _ in producers}
        assert wait_until_gone(actor_pids) == set(), "actors outlived the runner"
    finally:
        cluster.stop()
    assert cluster.processes() == [], "processes of the cluster are left"
