// SPDX-License-Identifier: MIT
/*
 * Device, port, GID and P_Key queries.
 */
#include <string.h>

#include "verbs.h"

/* The header wraps these exported names in inline helpers; this file defines them. */
#undef ibv_query_port

/* RoCEv2 in the sysfs numbering that ibv_query_gid_type() reports. */
#define SODP_GID_TYPE_SYSFS_ROCE_V2 1

int sodp_query_device_ex(struct ibv_context *ibctx, const struct ibv_query_device_ex_input *input,
			 struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct ibv_device_attr_ex full;
	struct sodp_context *ctx;
	int ret;

	if (!sodp_is_our_context(ibctx) || !attr)
		return EINVAL;
	if (input && input->comp_mask)
		return EINVAL;
	if (attr_size < sizeof(attr->orig_attr))
		return EINVAL;
	ctx = sodp_ctx(ibctx);
	ret = ctx->ops->query_device_ex(ctx, &full);
	if (ret)
		return sodp_ret(ret);
	/* An older caller gets the prefix its structure has room for. */
	memcpy(attr, &full, SODP_MIN(attr_size, sizeof(full)));
	return 0;
}

SODP_EXPORT int ibv_query_device(struct ibv_context *ibctx, struct ibv_device_attr *attr)
{
	struct ibv_device_attr_ex ex;
	int ret;

	if (!attr)
		return EINVAL;
	ret = sodp_query_device_ex(ibctx, NULL, &ex, sizeof(ex));
	if (ret)
		return ret;
	*attr = ex.orig_attr;
	return 0;
}

int sodp_query_port(struct ibv_context *ibctx, uint8_t port, struct ibv_port_attr *attr,
		    size_t attr_size)
{
	struct ibv_port_attr full;
	struct sodp_context *ctx;
	int ret;

	if (!sodp_is_our_context(ibctx) || !attr)
		return EINVAL;
	ctx = sodp_ctx(ibctx);
	ret = ctx->ops->query_port(ctx, port, &full);
	if (ret)
		return sodp_ret(ret);
	memcpy(attr, &full, SODP_MIN(attr_size, sizeof(full)));
	return 0;
}

/* Declared by rdma-core's driver.h, which an application never includes. */
int ibv_query_gid_type(struct ibv_context *ibctx, uint8_t port, unsigned int index, uint32_t *type);

/*
 * The exported symbol is only reached by binaries that predate the extended
 * context; their structure ends before port_cap_flags2.
 */
SODP_EXPORT int ibv_query_port(struct ibv_context *ibctx, uint8_t port,
			       struct _compat_ibv_port_attr *attr)
{
	return sodp_query_port(ibctx, port, (struct ibv_port_attr *)attr,
			       offsetof(struct ibv_port_attr, port_cap_flags2));
}

/* Validates port and index; the GID table has one entry per address. */
static int check_gid_index(struct ibv_context *ibctx, uint8_t port, int index)
{
	if (!sodp_is_our_context(ibctx))
		return -EINVAL;
	if (port != 1)
		return -EINVAL;
	if (index < 0 || index >= 1)
		return -EINVAL;
	return 0;
}

SODP_EXPORT int ibv_query_gid(struct ibv_context *ibctx, uint8_t port, int index,
			      union ibv_gid *gid)
{
	int ret = check_gid_index(ibctx, port, index);

	if (ret || !gid) {
		errno = ret ? -ret : EINVAL;
		return -1;
	}
	*gid = sodp_ctx(ibctx)->cfg->gid;
	return 0;
}

SODP_EXPORT int ibv_query_gid_type(struct ibv_context *ibctx, uint8_t port, unsigned int index,
				   uint32_t *type)
{
	int ret = check_gid_index(ibctx, port, index > INT32_MAX ? -1 : (int)index);

	if (ret || !type) {
		errno = ret ? -ret : EINVAL;
		return -1;
	}
	*type = SODP_GID_TYPE_SYSFS_ROCE_V2;
	return 0;
}

static void fill_gid_entry(struct sodp_context *ctx, struct ibv_gid_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->gid = ctx->cfg->gid;
	e->gid_index = 0;
	e->port_num = 1;
	e->gid_type = IBV_GID_TYPE_ROCE_V2;
	e->ndev_ifindex = ctx->cfg->ifindex;
}

SODP_EXPORT int _ibv_query_gid_ex(struct ibv_context *ibctx, uint32_t port, uint32_t index,
				  struct ibv_gid_entry *entry, uint32_t flags, size_t entry_size)
{
	int ret;

	if (!entry || flags || entry_size < sizeof(*entry) || port > 255 || index > INT32_MAX)
		return EINVAL;
	ret = check_gid_index(ibctx, port, (int)index);
	if (ret)
		return -ret;
	fill_gid_entry(sodp_ctx(ibctx), entry);
	return 0;
}

SODP_EXPORT ssize_t _ibv_query_gid_table(struct ibv_context *ibctx, struct ibv_gid_entry *entries,
					 size_t max_entries, uint32_t flags, size_t entry_size)
{
	if (!sodp_is_our_context(ibctx) || !entries || flags || entry_size < sizeof(*entries)) {
		errno = EINVAL;
		return -EINVAL;
	}
	if (max_entries < 1) {
		errno = EINVAL;
		return -EINVAL;
	}
	fill_gid_entry(sodp_ctx(ibctx), entries);
	return 1;
}

SODP_EXPORT int ibv_query_pkey(struct ibv_context *ibctx, uint8_t port, int index, __be16 *pkey)
{
	if (!sodp_is_our_context(ibctx) || port != 1 || index != 0 || !pkey) {
		errno = EINVAL;
		return -1;
	}
	*pkey = htobe16(0xffff);
	return 0;
}

SODP_EXPORT int ibv_get_pkey_index(struct ibv_context *ibctx, uint8_t port, __be16 pkey)
{
	if (!sodp_is_our_context(ibctx) || port != 1) {
		errno = EINVAL;
		return -1;
	}
	/* Full and limited membership of the default partition both match. */
	if ((be16toh(pkey) & 0x7fff) == 0x7fff)
		return 0;
	errno = ENOENT;
	return -1;
}

SODP_EXPORT int ibv_query_ece(struct ibv_qp *qp, struct ibv_ece *ece)
{
	return EOPNOTSUPP;
}

SODP_EXPORT int ibv_set_ece(struct ibv_qp *qp, struct ibv_ece *ece)
{
	return EOPNOTSUPP;
}
