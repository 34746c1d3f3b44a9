/* SPDX-License-Identifier: MIT */
/*
 * Augmented red-black interval tree.
 *
 * Each node covers the closed interval [start, last] and caches the largest
 * `last` of its subtree, so a stabbing or overlap query visits only the
 * subtrees that can hold a match: O(log n + k) for k results. Nodes are
 * embedded in their owner (container_of); the tree never allocates.
 * Several nodes may share a start. The tree does no locking.
 */
#ifndef SODP_UTIL_INTERVAL_TREE_H
#define SODP_UTIL_INTERVAL_TREE_H

#include <stdbool.h>
#include <stdint.h>

struct interval_tree_node {
	struct interval_tree_node *parent, *left, *right;
	uint64_t start, last;  /* closed interval */
	uint64_t subtree_last; /* max(last) over this subtree */
	bool red;
};

struct interval_tree_root {
	struct interval_tree_node *root;
};

#define INTERVAL_TREE_ROOT_INIT \
	{                       \
		NULL            \
	}

static inline bool interval_tree_empty(const struct interval_tree_root *root)
{
	return root->root == NULL;
}

/* Links @node (start/last already set) into @root. */
void interval_tree_insert(struct interval_tree_node *node, struct interval_tree_root *root);
/* Unlinks @node, which must be in @root. */
void interval_tree_remove(struct interval_tree_node *node, struct interval_tree_root *root);

/*
 * The overlapping nodes in ascending start order: first/next return nodes
 * whose [start, last] intersects the query [start, last], or NULL.
 */
struct interval_tree_node *interval_tree_iter_first(const struct interval_tree_root *root,
						    uint64_t start, uint64_t last);
struct interval_tree_node *interval_tree_iter_next(const struct interval_tree_node *node,
						   uint64_t start, uint64_t last);

/* Every node in ascending start order, regardless of overlap. */
struct interval_tree_node *interval_tree_first(const struct interval_tree_root *root);
struct interval_tree_node *interval_tree_next(const struct interval_tree_node *node);

#endif
