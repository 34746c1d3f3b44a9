// SPDX-License-Identifier: MIT
/*
 * The device as the verbs see it: attributes, port, and the provider ops
 * table the front dispatches through.
 */
#include <string.h>

#include "rxe.h"

/*
 * IB_UVERBS_DEVICE_ATOMIC_WRITE: bit 40 of device_cap_flags_ex in the
 * <rdma/ib_user_verbs.h> of Linux 6.2 and of rdma-core 44's kernel-headers.
 * The copy bookworm installs (linux-libc-dev 6.1) predates it.
 */
#define RXE_DEVICE_ATOMIC_WRITE (1ULL << 40)

static int rxe_query_device_ex(struct sodp_context *ctx, struct ibv_device_attr_ex *ex)
{
	struct ibv_device_attr *a = &ex->orig_attr;

	memset(ex, 0, sizeof(*ex));
	strcpy(a->fw_ver, RXE_FW_VER);
	a->node_guid = ctx->cfg->node_guid;
	a->sys_image_guid = ctx->cfg->node_guid;
	a->max_mr_size = RXE_MAX_MR_SIZE;
	a->page_size_cap = RXE_PAGE_SIZE_CAP;
	a->vendor_id = RXE_VENDOR_ID;
	a->vendor_part_id = RXE_VENDOR_PART_ID;
	a->hw_ver = RXE_HW_VER;
	a->max_qp = RXE_MAX_QP;
	a->max_qp_wr = RXE_MAX_QP_WR;
	/*
	 * Only what the NIC does: the port counts P_Key and Q_Key violations
	 * (packets dropped for them), and reports no port events, since it is
	 * active from the start and never changes state.
	 */
	a->device_cap_flags = IBV_DEVICE_SYS_IMAGE_GUID | IBV_DEVICE_RC_RNR_NAK_GEN |
			      IBV_DEVICE_SRQ_RESIZE | IBV_DEVICE_BAD_PKEY_CNTR |
			      IBV_DEVICE_BAD_QKEY_CNTR | IBV_DEVICE_MEM_WINDOW |
			      IBV_DEVICE_MEM_WINDOW_TYPE_2B;
	a->max_sge = RXE_MAX_SGE;
	a->max_sge_rd = RXE_MAX_SGE_RD;
	a->max_cq = RXE_MAX_CQ;
	a->max_cqe = RXE_MAX_CQE - 1;
	a->max_mr = RXE_MAX_MR;
	a->max_pd = RXE_MAX_PD;
	a->max_mw = RXE_MAX_MW;
	a->max_qp_rd_atom = RXE_MAX_QP_RD_ATOM;
	a->max_ee_rd_atom = 0;
	a->max_res_rd_atom = RXE_MAX_RES_RD_ATOM;
	a->max_qp_init_rd_atom = RXE_MAX_QP_INIT_RD_ATOM;
	a->max_ee_init_rd_atom = 0;
	a->atomic_cap = IBV_ATOMIC_HCA;
	/* no multicast: ibv_attach_mcast() fails with EOPNOTSUPP */
	a->max_mcast_grp = 0;
	a->max_mcast_qp_attach = 0;
	a->max_total_mcast_qp_attach = 0;
	a->max_ah = RXE_MAX_AH;
	a->max_srq = RXE_MAX_SRQ;
	a->max_srq_wr = RXE_MAX_SRQ_WR;
	a->max_srq_sge = RXE_MAX_SRQ_SGE;
	a->max_pkeys = RXE_MAX_PKEYS;
	a->local_ca_ack_delay = RXE_LOCAL_CA_ACK_DELAY;
	a->phys_port_cnt = 1;

	/* exactly what the responder and requester fault for (odp.c) */
	ex->odp_caps.general_caps = IBV_ODP_SUPPORT | IBV_ODP_SUPPORT_IMPLICIT;
	ex->odp_caps.per_transport_caps.rc_odp_caps =
		IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE |
		IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_ATOMIC | IBV_ODP_SUPPORT_SRQ_RECV;
	ex->odp_caps.per_transport_caps.ud_odp_caps =
		IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_SRQ_RECV;
	ex->odp_caps.per_transport_caps.uc_odp_caps = 0;
	/* RC ATOMIC WRITE (IBV_WR_ATOMIC_WRITE, ibv_wr_atomic_write), as kernel rxe */
	ex->device_cap_flags_ex = a->device_cap_flags | RXE_DEVICE_ATOMIC_WRITE;
	ex->phys_port_cnt_ex = a->phys_port_cnt;
	/*
	 * Zero, like every field not set here, for what the device does not
	 * have: completion timestamps (IBV_WC_EX_WITH_COMPLETION_TIMESTAMP is
	 * refused), device memory, TSO, RSS, WQs, packet pacing, raw packet
	 * QPs, tag matching, CQ moderation, PCIe atomics and XRC. Each verb
	 * that would need one fails with EOPNOTSUPP.
	 */
	ex->completion_timestamp_mask = 0;
	ex->hca_core_clock = 0;
	ex->max_dm_size = 0;
	return 0;
}

static int rxe_query_port(struct sodp_context *ctx, uint8_t port, struct ibv_port_attr *pa)
{
	struct rxe_counters c;

	if (port != 1)
		return -EINVAL;
	memset(pa, 0, sizeof(*pa));
	pa->state = IBV_PORT_ACTIVE;
	pa->max_mtu = IBV_MTU_4096;
	pa->active_mtu = ctx_dev(ctx)->active_mtu;
	pa->gid_tbl_len = RXE_MAX_GID;
	pa->port_cap_flags = IBV_PORT_CM_SUP;
	pa->max_msg_sz = RXE_MAX_MSG_SIZE;
	rxe_dev_counters(ctx_dev(ctx), &c);
	pa->bad_pkey_cntr = (uint32_t)SODP_MIN(c.rx_drops[RXE_DROP_PKEY], UINT32_MAX);
	pa->qkey_viol_cntr = (uint32_t)SODP_MIN(c.rx_drops[RXE_DROP_QKEY], UINT32_MAX);
	pa->pkey_tbl_len = RXE_MAX_PKEYS;
	pa->lid = 0;
	pa->sm_lid = 0;
	pa->lmc = 0;
	pa->max_vl_num = 1;
	pa->sm_sl = 0;
	pa->subnet_timeout = 0;
	pa->init_type_reply = 0;
	pa->active_width = 2;  /* 4X */
	pa->active_speed = 32; /* EDR: 25 Gb/s per lane */
	pa->phys_state = 5;    /* LinkUp */
	pa->link_layer = IBV_LINK_LAYER_ETHERNET;
	pa->flags = 0;
	return 0;
}

/* A context shares its device's socket and engine thread (engine.c). */
static int rxe_open(struct sodp_context *ctx)
{
	return rxe_ctx_open(ctx);
}

static void rxe_close(struct sodp_context *ctx)
{
	rxe_ctx_close(ctx);
}

const struct sodp_provider_ops rxe_provider_ops = {
	.open = rxe_open,
	.close = rxe_close,
	.query_device_ex = rxe_query_device_ex,
	.query_port = rxe_query_port,
	.alloc_pd = rxe_alloc_pd,
	.dealloc_pd = rxe_dealloc_pd,
	.reg_mr = rxe_reg_mr,
	.rereg_mr = rxe_rereg_mr,
	.dereg_mr = rxe_dereg_mr,
	.find_mr = rxe_find_mr,
	.advise_mr = rxe_advise_mr,
	.alloc_mw = rxe_alloc_mw,
	.dealloc_mw = rxe_dealloc_mw,
	.bind_mw = rxe_bind_mw,
	.create_cq = rxe_create_cq,
	.resize_cq = rxe_resize_cq,
	.destroy_cq = rxe_destroy_cq,
	.poll_cq = rxe_poll_cq,
	.req_notify_cq = rxe_req_notify_cq,
	.create_srq = rxe_create_srq,
	.modify_srq = rxe_modify_srq,
	.query_srq = rxe_query_srq,
	.destroy_srq = rxe_destroy_srq,
	.post_srq_recv = rxe_post_srq_recv,
	.create_qp = rxe_create_qp,
	.modify_qp = rxe_modify_qp,
	.query_qp = rxe_query_qp,
	.destroy_qp = rxe_destroy_qp,
	.post_send = rxe_post_send,
	.post_recv = rxe_post_recv,
	.qp_to_qp_ex = rxe_qp_to_qp_ex,
	.create_ah = rxe_create_ah,
	.destroy_ah = rxe_destroy_ah,
	.attach_mcast = rxe_attach_mcast,
	.detach_mcast = rxe_detach_mcast,
	.stat_snapshot = rxe_stat_snapshot,
};
