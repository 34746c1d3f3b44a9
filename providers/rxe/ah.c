// SPDX-License-Identifier: MIT
/*
 * Address handles: on RoCEv2 an AH is a GID (IPv4-mapped or IPv6) that
 * becomes a UDP destination <address>:4791.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe.h"

int rxe_av_from_ah_attr(struct rxe_av *av, const struct ibv_ah_attr *attr, struct rxe_dev *dev)
{
	memset(av, 0, sizeof(*av));
	/* RoCE has no LIDs: the GRH carries the address */
	if (!attr->is_global)
		return -EINVAL;
	if (attr->port_num != 1)
		return -EINVAL;
	if (attr->grh.sgid_index >= RXE_MAX_GID)
		return -EINVAL;
	av->hop_limit = attr->grh.hop_limit;
	av->traffic_class = attr->grh.traffic_class;
	av->flow_label = attr->grh.flow_label;
	return rxe_av_from_gid(av, &attr->grh.dgid, dev->family);
}

struct ibv_ah *rxe_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct rxe_dev *dev = ctx_dev(sodp_ctx(pd->context));
	struct rxe_ah *ah;
	int ret;

	ret = rxe_dev_take(dev, &dev->nr_ah, RXE_MAX_AH);
	if (ret)
		goto err;
	ret = -ENOMEM;
	ah = calloc(1, sizeof(*ah));
	if (!ah)
		goto err_give;
	ret = rxe_av_from_ah_attr(&ah->av, attr, dev);
	if (ret)
		goto err_free;
	ah->ibah.context = pd->context;
	ah->ibah.pd = pd;
	return &ah->ibah;
err_free:
	free(ah);
err_give:
	rxe_dev_give(dev, &dev->nr_ah);
err:
	errno = -ret;
	return NULL;
}

int rxe_destroy_ah(struct ibv_ah *ibah)
{
	struct rxe_dev *dev = ctx_dev(sodp_ctx(ibah->context));

	free(to_rah(ibah));
	rxe_dev_give(dev, &dev->nr_ah);
	return 0;
}
