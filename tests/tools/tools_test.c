// SPDX-License-Identifier: MIT
/* The tools' tests' shared part: see tools_test.h. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools_test.h"

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

bool tt_json_valid(const char *doc)
{
	char path[] = "/tmp/softodp-json-XXXXXX", cmd[256];
	int depth = 0, fd, ret;
	bool in_str = false;
	FILE *f;

	if (sodp_have("python3")) {
		fd = mkstemp(path);
		if (fd < 0)
			return false;
		f = fdopen(fd, "w");
		if (!f)
			return false;
		fputs(doc, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "python3 -m json.tool %s >/dev/null", path);
		ret = system(cmd);
		unlink(path);
		return ret == 0;
	}
	for (const char *p = doc; *p; p++) {
		if (in_str) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"')
			in_str = true;
		else if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth < 0)
			return false;
	}
	return !depth && !in_str && strchr(doc, '{');
}

static const char *json_key(const char *doc, const char *key, int nth)
{
	char pat[128];
	const char *p = doc;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (int i = 0; p; i++) {
		p = strstr(p, pat);
		if (!p || i == nth)
			break;
		p += strlen(pat);
	}
	return p ? p + strlen(pat) : NULL;
}

double tt_json_num(const char *doc, const char *key, int nth)
{
	const char *p = json_key(doc, key, nth);
	char *end;
	double v;

	if (!p)
		return NAN;
	v = strtod(p, &end);
	return end == p ? NAN : v;
}

int tt_json_count(const char *doc, const char *key)
{
	int n = 0;

	while (json_key(doc, key, n))
		n++;
	return n;
}

int tt_page_lacks_help_options(const char *page_path, const char *help, int *checked)
{
	static char page[1 << 17];
	char opt[64], roff[160];
	int missing = 0;

	*checked = 0;
	slurp(page_path, page, sizeof(page));
	if (!page[0])
		return -1;
	/* Every long option the help names, as roff writes it: \-\-name. */
	for (const char *s = strstr(help, "--"); s; s = strstr(s + 2, "--")) {
		size_t l = 0, r = 0;

		while (l < sizeof(opt) - 1 &&
		       (isalnum((unsigned char)s[2 + l]) || s[2 + l] == '-' || s[2 + l] == '_')) {
			opt[l] = s[2 + l];
			l++;
		}
		opt[l] = '\0';
		if (!l)
			continue;
		r = (size_t)snprintf(roff, sizeof(roff), "\\-\\-");
		for (size_t i = 0; i < l && r < sizeof(roff) - 3; i++) {
			if (opt[i] == '-')
				roff[r++] = '\\';
			roff[r++] = opt[i];
		}
		roff[r] = '\0';
		(*checked)++;
		if (!strstr(page, roff)) {
			printf("\n    %s lacks --%s", page_path, opt);
			missing++;
		}
	}
	return missing;
}
