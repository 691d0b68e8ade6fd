"""One Ray cluster for every test here that needs one: two nodes of one CPU each on this machine, so that runs
spread over more than one node, started once (seconds) and shut down after the last test of this folder."""

import pytest

from jenacast.data import generate_synthetic, write_csv


@pytest.fixture(scope="package")
def ray_cluster():
    """The cluster's address (``HOST:PORT``), for ``--ray``."""
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'jenacast[ray]'")
    from ray.cluster_utils import Cluster

    # the machine's own address: a driver joining a cluster whose nodes say 127.0.0.1 looks for it elsewhere
    node = {"num_cpus": 1, "object_store_memory": 150 * 1024**2}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


@pytest.fixture(scope="package")
def small_csv(tmp_path_factory):
    """A Jena-format table of 0.2 years: a smoke epoch of it is about 17 batches."""
    path = tmp_path_factory.mktemp("data") / "small.csv"
    write_csv(generate_synthetic(2, years=0.2), path)
    return path
