#!/bin/sh
# rank-device.sh PROGRAM [ARGS...]: run one MPI rank on a softodp device on
# an address of its own, srxe0 on 127.0.0.(RANK+1), so that the traffic
# between ranks crosses UDP between addresses as between hosts. (Without it
# every rank uses the one device srxe0 on 127.0.0.1, shared.)
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-}}
if [ -z "$rank" ]; then
	echo "rank-device.sh: neither OMPI_COMM_WORLD_RANK nor PMIX_RANK is set" >&2
	exit 2
fi
SOFTODP_DEVICES=srxe0=127.0.0.$((rank + 1))
export SOFTODP_DEVICES
exec "$@"
