"""The local reference cluster and target files (a backend imload can drive)."""

from imload.cluster.local import ClusterError, LocalCluster
from imload.cluster.target import NodeSpec, Target, TargetError, load_target, write_target

__all__ = ["ClusterError", "LocalCluster", "NodeSpec", "Target", "TargetError", "load_target",
           "write_target"]
