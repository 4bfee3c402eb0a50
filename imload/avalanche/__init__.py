"""The avalanche drill: kill a node, watch its devices stampede onto the others."""
