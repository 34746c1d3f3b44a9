// SPDX-License-Identifier: MIT
/*
 * Augmented red-black interval tree (see interval_tree.h).
 *
 * The tree is ordered by start. Every node caches subtree_last, the largest
 * `last` below it; rotations recompute it for the two nodes they move (the
 * set of nodes under the pair does not change), insertion raises it along the
 * new node's path and removal recomputes it along the path of the node that
 * was spliced out.
 */
#include <stddef.h>

#include "interval_tree.h"

typedef struct interval_tree_node itnode;

static uint64_t subtree_last_of(const itnode *n)
{
	uint64_t m = n->last;

	if (n->left && n->left->subtree_last > m)
		m = n->left->subtree_last;
	if (n->right && n->right->subtree_last > m)
		m = n->right->subtree_last;
	return m;
}

static void replace_child(struct interval_tree_root *root, itnode *parent, itnode *old, itnode *new)
{
	if (!parent)
		root->root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

static void rotate_left(struct interval_tree_root *root, itnode *x)
{
	itnode *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	replace_child(root, x->parent, x, y);
	y->left = x;
	x->parent = y;
	y->subtree_last = x->subtree_last;
	x->subtree_last = subtree_last_of(x);
}

static void rotate_right(struct interval_tree_root *root, itnode *x)
{
	itnode *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	replace_child(root, x->parent, x, y);
	y->right = x;
	x->parent = y;
	y->subtree_last = x->subtree_last;
	x->subtree_last = subtree_last_of(x);
}

static bool is_red(const itnode *n)
{
	return n && n->red;
}

static void insert_fixup(struct interval_tree_root *root, itnode *z)
{
	itnode *p, *g, *u;

	while ((p = z->parent) && p->red) {
		g = p->parent;
		if (p == g->left) {
			u = g->right;
			if (is_red(u)) {
				p->red = false;
				u->red = false;
				g->red = true;
				z = g;
				continue;
			}
			if (z == p->right) {
				rotate_left(root, p);
				z = p;
				p = z->parent;
			}
			p->red = false;
			g->red = true;
			rotate_right(root, g);
		} else {
			u = g->left;
			if (is_red(u)) {
				p->red = false;
				u->red = false;
				g->red = true;
				z = g;
				continue;
			}
			if (z == p->left) {
				rotate_right(root, p);
				z = p;
				p = z->parent;
			}
			p->red = false;
			g->red = true;
			rotate_left(root, g);
		}
	}
	root->root->red = false;
}

void interval_tree_insert(itnode *node, struct interval_tree_root *root)
{
	itnode **link = &root->root, *parent = NULL, *p;

	while (*link) {
		parent = *link;
		link = node->start < parent->start ? &parent->left : &parent->right;
	}
	node->parent = parent;
	node->left = NULL;
	node->right = NULL;
	node->red = true;
	node->subtree_last = node->last;
	*link = node;
	for (p = parent; p && p->subtree_last < node->last; p = p->parent)
		p->subtree_last = node->last;
	insert_fixup(root, node);
}

static void transplant(struct interval_tree_root *root, itnode *old, itnode *new)
{
	replace_child(root, old->parent, old, new);
	if (new)
		new->parent = old->parent;
}

/* x (possibly NULL) under parent carries an extra black; restore the rules. */
static void remove_fixup(struct interval_tree_root *root, itnode *x, itnode *parent)
{
	itnode *w;

	while (x != root->root && !is_red(x)) {
		if (x == parent->left) {
			w = parent->right;
			if (w->red) {
				w->red = false;
				parent->red = true;
				rotate_left(root, parent);
				w = parent->right;
			}
			if (!is_red(w->left) && !is_red(w->right)) {
				w->red = true;
				x = parent;
				parent = x->parent;
				continue;
			}
			if (!is_red(w->right)) {
				w->left->red = false;
				w->red = true;
				rotate_right(root, w);
				w = parent->right;
			}
			w->red = parent->red;
			parent->red = false;
			if (w->right)
				w->right->red = false;
			rotate_left(root, parent);
			x = root->root;
			break;
		}
		w = parent->left;
		if (w->red) {
			w->red = false;
			parent->red = true;
			rotate_right(root, parent);
			w = parent->left;
		}
		if (!is_red(w->left) && !is_red(w->right)) {
			w->red = true;
			x = parent;
			parent = x->parent;
			continue;
		}
		if (!is_red(w->left)) {
			w->right->red = false;
			w->red = true;
			rotate_left(root, w);
			w = parent->left;
		}
		w->red = parent->red;
		parent->red = false;
		if (w->left)
			w->left->red = false;
		rotate_right(root, parent);
		x = root->root;
		break;
	}
	if (x)
		x->red = false;
}

void interval_tree_remove(itnode *z, struct interval_tree_root *root)
{
	itnode *x, *xp, *y, *n;
	bool removed_red;

	if (!z->left || !z->right) {
		x = z->left ? z->left : z->right;
		xp = z->parent;
		removed_red = z->red;
		transplant(root, z, x);
	} else {
		/* Two children: the successor y takes z's place and colour. */
		y = z->right;
		while (y->left)
			y = y->left;
		removed_red = y->red;
		x = y->right;
		if (y->parent == z) {
			xp = y;
		} else {
			xp = y->parent;
			transplant(root, y, x);
			y->right = z->right;
			y->right->parent = y;
		}
		transplant(root, z, y);
		y->left = z->left;
		y->left->parent = y;
		y->red = z->red;
	}
	/* Every node whose subtree lost z lies on xp's path to the root. */
	for (n = xp; n; n = n->parent)
		n->subtree_last = subtree_last_of(n);
	if (!removed_red)
		remove_fixup(root, x, xp);
	z->parent = z->left = z->right = NULL;
}

/* Leftmost node under @node that overlaps [start, last]. */
static itnode *subtree_search(itnode *node, uint64_t start, uint64_t last)
{
	for (;;) {
		/*
		 * A match in the left subtree has a smaller start, so it wins;
		 * subtree_last says whether one can exist there at all.
		 */
		if (node->left && node->left->subtree_last >= start) {
			node = node->left;
			continue;
		}
		if (node->start > last)
			return NULL; /* everything from here on starts too late */
		if (node->last >= start)
			return node;
		if (!node->right || node->right->subtree_last < start)
			return NULL;
		node = node->right;
	}
}

itnode *interval_tree_iter_first(const struct interval_tree_root *root, uint64_t start,
				 uint64_t last)
{
	if (!root->root || root->root->subtree_last < start)
		return NULL;
	return subtree_search(root->root, start, last);
}

itnode *interval_tree_iter_next(const itnode *node, uint64_t start, uint64_t last)
{
	const itnode *prev;
	itnode *cur = (itnode *)node, *rb = node->right;

	for (;;) {
		/* Invariant: cur->start <= last and rb == cur->right. */
		if (rb && rb->subtree_last >= start)
			return subtree_search(rb, start, last);
		/* Climb until we arrive from a left child: that parent is next in order. */
		do {
			prev = cur;
			cur = cur->parent;
			if (!cur)
				return NULL;
			rb = cur->right;
		} while (prev == rb);
		if (cur->start > last)
			return NULL;
		if (cur->last >= start)
			return cur;
	}
}

itnode *interval_tree_first(const struct interval_tree_root *root)
{
	itnode *n = root->root;

	if (!n)
		return NULL;
	while (n->left)
		n = n->left;
	return n;
}

itnode *interval_tree_next(const itnode *node)
{
	const itnode *n = node;

	if (n->right) {
		n = n->right;
		while (n->left)
			n = n->left;
		return (itnode *)n;
	}
	while (n->parent && n == n->parent->right)
		n = n->parent;
	return n->parent;
}
