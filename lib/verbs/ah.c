// SPDX-License-Identifier: MIT
/*
 * Address handles, and building one back to the sender of a UD message.
 */
#include <netinet/ip.h>
#include <string.h>

#include "verbs.h"

SODP_EXPORT struct ibv_ah *ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct sodp_context *ctx;
	struct ibv_ah *ah;

	if (!pd || !attr || !sodp_is_our_context(pd->context)) {
		errno = EINVAL;
		return NULL;
	}
	/* RoCE addresses by GID: an AH without a GRH has no destination. */
	if (!attr->is_global || attr->port_num != 1 || attr->grh.sgid_index != 0) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(pd->context);
	if (!ctx->ops->create_ah) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	ah = ctx->ops->create_ah(pd, attr);
	if (!ah)
		return NULL;
	sodp_pd_get(pd);
	return ah;
}

SODP_EXPORT int ibv_destroy_ah(struct ibv_ah *ah)
{
	struct sodp_context *ctx;
	struct ibv_pd *pd;
	int ret;

	if (!ah || !sodp_is_our_context(ah->context))
		return EINVAL;
	ctx = sodp_ctx(ah->context);
	pd = ah->pd;
	if (!ctx->ops->destroy_ah)
		return EOPNOTSUPP;
	ret = ctx->ops->destroy_ah(ah);
	if (ret)
		return sodp_ret(ret);
	sodp_pd_put(pd);
	return 0;
}

/*
 * The 40-byte GRH area of a RoCEv2 receive holds either an IPv6 header, or
 * 20 bytes of zeros and then the IPv4 header (the layout rdma-core expects).
 */
SODP_EXPORT int ibv_init_ah_from_wc(struct ibv_context *ibctx, uint8_t port, struct ibv_wc *wc,
				    struct ibv_grh *grh, struct ibv_ah_attr *ah)
{
	const uint8_t *raw = (const uint8_t *)grh;
	union ibv_gid sgid, dgid;
	uint32_t flow = 0;
	uint8_t tclass = 0;

	if (!sodp_is_our_context(ibctx) || !wc || !grh || !ah || port != 1) {
		errno = EINVAL;
		return -1;
	}
	if (!(wc->wc_flags & IBV_WC_GRH)) {
		errno = EINVAL;
		return -1;
	}
	memset(&sgid, 0, sizeof(sgid));
	memset(&dgid, 0, sizeof(dgid));
	if ((raw[20] >> 4) == 4) {
		const struct iphdr *ip = (const struct iphdr *)(raw + 20);

		sgid.raw[10] = sgid.raw[11] = 0xff;
		dgid.raw[10] = dgid.raw[11] = 0xff;
		memcpy(&sgid.raw[12], &ip->saddr, 4);
		memcpy(&dgid.raw[12], &ip->daddr, 4);
		tclass = ip->tos;
	} else if ((raw[0] >> 4) == 6) {
		uint32_t vtf = be32toh(grh->version_tclass_flow);

		sgid = grh->sgid;
		dgid = grh->dgid;
		tclass = (vtf >> 20) & 0xff;
		flow = vtf & 0xfffff;
	} else {
		errno = EINVAL;
		return -1;
	}
	/* The receive went to our one GID; anything else was not for us. */
	if (memcmp(&dgid, &sodp_ctx(ibctx)->cfg->gid, sizeof(dgid))) {
		errno = ENOENT;
		return -1;
	}
	memset(ah, 0, sizeof(*ah));
	ah->dlid = wc->slid;
	ah->sl = wc->sl;
	ah->src_path_bits = wc->dlid_path_bits;
	ah->port_num = port;
	ah->is_global = 1;
	ah->grh.dgid = sgid;
	ah->grh.flow_label = flow;
	ah->grh.sgid_index = 0;
	ah->grh.hop_limit = 0xff;
	ah->grh.traffic_class = tclass;
	return 0;
}

SODP_EXPORT struct ibv_ah *ibv_create_ah_from_wc(struct ibv_pd *pd, struct ibv_wc *wc,
						 struct ibv_grh *grh, uint8_t port)
{
	struct ibv_ah_attr attr;

	if (!pd) {
		errno = EINVAL;
		return NULL;
	}
	if (ibv_init_ah_from_wc(pd->context, port, wc, grh, &attr))
		return NULL;
	return ibv_create_ah(pd, &attr);
}

SODP_EXPORT int ibv_resolve_eth_l2_from_gid(struct ibv_context *ibctx, struct ibv_ah_attr *attr,
					    uint8_t eth_mac[6], uint16_t *vid)
{
	/* Packets go through the host's IP stack, which resolves L2 itself. */
	if (!sodp_is_our_context(ibctx) || !attr || !eth_mac || !vid)
		return EINVAL;
	return EOPNOTSUPP;
}
