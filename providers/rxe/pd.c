// SPDX-License-Identifier: MIT
/*
 * Protection domains, and the count every pooled object of a device is
 * held to: query_device advertises RXE_MAX_PD, RXE_MAX_CQ, RXE_MAX_SRQ and
 * RXE_MAX_AH (rxe_param.h), and creating one more fails with ENOMEM, as
 * kernel rxe's object pools refuse an element past their maximum. QPs and
 * MRs are held to RXE_MAX_QP and RXE_MAX_MR by the size of their tables.
 * Memory windows count in nr_mw up to RXE_MAX_MW (mw.c), under the same
 * lock as the key slot they take in the MR table.
 * The counts are per device: every context opened on it shares them.
 */
#include <errno.h>

#include "rxe.h"

/* Takes one of @max objects counted in @count; -ENOMEM when all are taken. */
int rxe_dev_take(struct rxe_dev *dev, uint32_t *count, uint32_t max)
{
	int ret = -ENOMEM;

	rxe_dev_lock(dev);
	if (*count < max) {
		(*count)++;
		ret = 0;
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

void rxe_dev_give(struct rxe_dev *dev, uint32_t *count)
{
	rxe_dev_lock(dev);
	(*count)--;
	pthread_mutex_unlock(&dev->lock);
}

static struct rxe_dev *pd_dev(struct ibv_pd *pd)
{
	return ctx_dev(sodp_ctx(pd->context));
}

int rxe_alloc_pd(struct ibv_pd *pd)
{
	struct rxe_dev *dev = pd_dev(pd);

	return rxe_dev_take(dev, &dev->nr_pd, RXE_MAX_PD);
}

void rxe_dealloc_pd(struct ibv_pd *pd)
{
	struct rxe_dev *dev = pd_dev(pd);

	rxe_dev_give(dev, &dev->nr_pd);
}
