/* SPDX-License-Identifier: MIT */
/*
 * What the tools' tests share beside sodp_proc.h: reading numbers out of a
 * JSON document, and the manual pages' options.
 */
#ifndef SODP_TOOLS_TEST_H
#define SODP_TOOLS_TEST_H

#include <stdbool.h>
#include <stddef.h>

#include "sodp_proc.h"

/* A document python3's json module accepts (or, without python3, balanced). */
bool tt_json_valid(const char *doc);
/* The number after the @nth (from 0) "key": in @doc; NAN when absent. */
double tt_json_num(const char *doc, const char *key, int nth);
/* How many times "key": occurs in @doc. */
int tt_json_count(const char *doc, const char *key);

/*
 * How many long options named in @help (as --name) the manual page source
 * at @page_path does not spell as roff does (\-\-name); @checked counts
 * them all. -1 when the page cannot be read.
 */
int tt_page_lacks_help_options(const char *page_path, const char *help, int *checked);

#endif
