// SPDX-License-Identifier: MIT
/*
 * The augmented interval tree against a brute-force model, with random
 * inserts, removes and queries (fixed seed, bounded counts).
 */
#include <stdlib.h>

#include "interval_tree.h"
#include "sodp_test.h"

#define NODES	2000
#define QUERIES 2000

struct item {
	struct interval_tree_node it;
	bool in;
};

static struct item items[NODES];
static unsigned int rng = 12345;

static unsigned int rnd(void)
{
	rng = rng * 1103515245 + 12345;
	return (rng >> 8) & 0xffffff;
}

/* Checks red-black shape and subtree_last; returns the black height. */
static int check_node(const struct interval_tree_node *n, uint64_t *max_last)
{
	uint64_t lmax = 0, rmax = 0;
	int lh, rh;

	if (!n) {
		*max_last = 0;
		return 1;
	}
	if (n->left)
		CU_ASSERT_FATAL(n->left->parent == n && n->left->start <= n->start);
	if (n->right)
		CU_ASSERT_FATAL(n->right->parent == n && n->right->start >= n->start);
	if (n->red) {
		CU_ASSERT_FATAL(!(n->left && n->left->red) && !(n->right && n->right->red));
	}
	lh = check_node(n->left, &lmax);
	rh = check_node(n->right, &rmax);
	CU_ASSERT_FATAL(lh == rh);
	*max_last = n->last;
	if (n->left && lmax > *max_last)
		*max_last = lmax;
	if (n->right && rmax > *max_last)
		*max_last = rmax;
	CU_ASSERT_FATAL(n->subtree_last == *max_last);
	return lh + (n->red ? 0 : 1);
}

static void check_tree(const struct interval_tree_root *root)
{
	uint64_t m;

	if (root->root)
		CU_ASSERT_FATAL(!root->root->red && !root->root->parent);
	check_node(root->root, &m);
}

static void check_query(const struct interval_tree_root *root, uint64_t s, uint64_t l)
{
	struct interval_tree_node *n;
	size_t want = 0, got = 0, i;
	uint64_t prev = 0;

	for (i = 0; i < NODES; i++)
		if (items[i].in && items[i].it.start <= l && items[i].it.last >= s)
			want++;
	for (n = interval_tree_iter_first(root, s, l); n; n = interval_tree_iter_next(n, s, l)) {
		CU_ASSERT_FATAL(n->start <= l && n->last >= s);
		CU_ASSERT_FATAL(n->start >= prev);
		prev = n->start;
		got++;
	}
	CU_ASSERT_EQUAL_FATAL(got, want);
}

static void test_interval_tree_matches_brute_force(void)
{
	struct interval_tree_root root = INTERVAL_TREE_ROOT_INIT;
	size_t i, round;

	for (round = 0; round < 20000; round++) {
		struct item *it = &items[rnd() % NODES];

		if (it->in) {
			interval_tree_remove(&it->it, &root);
			it->in = false;
		} else {
			it->it.start = rnd() % 100000;
			it->it.last = it->it.start + rnd() % (rnd() % 8 ? 100 : 20000);
			interval_tree_insert(&it->it, &root);
			it->in = true;
		}
		if (round % 500 == 0)
			check_tree(&root);
	}
	check_tree(&root);
	for (i = 0; i < QUERIES; i++) {
		uint64_t s = rnd() % 120000;

		check_query(&root, s, s + rnd() % (i % 4 ? 50 : 5000));
	}
	for (i = 0; i < NODES; i++)
		if (items[i].in) {
			interval_tree_remove(&items[i].it, &root);
			items[i].in = false;
		}
	CU_ASSERT_TRUE(interval_tree_empty(&root));
}

static void test_interval_tree_in_order_walk_is_sorted(void)
{
	struct interval_tree_root root = INTERVAL_TREE_ROOT_INIT;
	struct interval_tree_node *n;
	size_t i, count = 0;
	uint64_t prev = 0;

	for (i = 0; i < 500; i++) {
		items[i].it.start = rnd() % 1000;
		items[i].it.last = items[i].it.start;
		interval_tree_insert(&items[i].it, &root);
	}
	for (n = interval_tree_first(&root); n; n = interval_tree_next(n)) {
		CU_ASSERT_TRUE(n->start >= prev);
		prev = n->start;
		count++;
	}
	CU_ASSERT_EQUAL(count, 500);
	for (i = 0; i < 500; i++)
		interval_tree_remove(&items[i].it, &root);
	CU_ASSERT_TRUE(interval_tree_empty(&root));
}

static void test_interval_tree_empty_has_no_overlaps(void)
{
	struct interval_tree_root root = INTERVAL_TREE_ROOT_INIT;

	CU_ASSERT_PTR_NULL(interval_tree_iter_first(&root, 0, UINT64_MAX));
	CU_ASSERT_PTR_NULL(interval_tree_first(&root));
}

static const struct sodp_test_case interval_tree_tests[] = {
	{"test_interval_tree_matches_brute_force", test_interval_tree_matches_brute_force},
	{"test_interval_tree_in_order_walk_is_sorted", test_interval_tree_in_order_walk_is_sorted},
	{"test_interval_tree_empty_has_no_overlaps", test_interval_tree_empty_has_no_overlaps},
	{NULL, NULL},
};

void sodp_tests_register(void)
{
	sodp_add_suite("interval_tree", NULL, NULL, interval_tree_tests);
}
