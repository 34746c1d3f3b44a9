// SPDX-License-Identifier: MIT
/*
 * The manual: a page for every sodp_* function the library exports, reached
 * by the function's own name and naming it, pages for softodp-run, softodp
 * and softodp_demo that document every option their usage names, an
 * overview that names every variable and header, and pages that groff
 * renders without a warning.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sodp_test.h"

#define LIB	SODP_BUILD_DIR "/lib/verbs/libsoftodp.so.1"
#define RUN	SODP_BUILD_DIR "/examples/softodp-run"
#define CLI	SODP_BUILD_DIR "/tools/softodp"
#define DEMO	SODP_BUILD_DIR "/tools/softodp_demo"
#define MANSRC	SODP_SOURCE_DIR "/man"
#define MANLINK SODP_BUILD_DIR "/man"

#define MAX_SYMS  256
#define MAX_NAME  128
#define MAX_PAGE  (1 << 16)
#define MAX_PAGES 64

static char syms[MAX_SYMS][MAX_NAME];
static int nsyms;

/* The sodp_* functions the built library exports, into syms[]. */
static int suite_init(void)
{
	char line[512], name[MAX_NAME];
	FILE *p = popen("nm -D --defined-only " LIB, "r");

	if (!p)
		return 1;
	nsyms = 0;
	while (fgets(line, sizeof(line), p)) {
		char *at;

		if (sscanf(line, "%*s %*s %127s", name) != 1 || strncmp(name, "sodp_", 5))
			continue;
		at = strchr(name, '@');
		if (at)
			*at = '\0';
		if (nsyms < MAX_SYMS)
			snprintf(syms[nsyms++], MAX_NAME, "%s", name);
	}
	return pclose(p) != 0 || nsyms == 0;
}

/*
 * The source of the section-3 page `man NAME` finds once installed: the page
 * itself, or the page its alias link names (links are made in the build tree
 * and point at a sibling page, so they resolve only where installed); NULL if
 * none.
 */
static const char *page_of(const char *name, char *path, size_t len)
{
	char link[512], target[MAX_NAME];
	struct stat st;
	ssize_t n;

	snprintf(path, len, MANSRC "/man3/%s.3", name);
	if (!stat(path, &st))
		return path;
	snprintf(link, sizeof(link), MANLINK "/man3/%s.3", name);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	if (strchr(target, '/'))
		return NULL;
	snprintf(path, len, MANSRC "/man3/%s", target);
	return stat(path, &st) ? NULL : path;
}

static bool slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return true;
}

/* True if @word appears in @line as a whole word. */
static bool has_word(const char *line, const char *word)
{
	size_t wl = strlen(word);
	const char *s;

	for (s = strstr(line, word); s; s = strstr(s + 1, word)) {
		bool start = s == line || !(isalnum((unsigned char)s[-1]) || s[-1] == '_');
		bool end = !(isalnum((unsigned char)s[wl]) || s[wl] == '_');

		if (start && end)
			return true;
	}
	return false;
}

static void test_every_exported_function_has_a_page(void)
{
	char path[512];
	int i;

	CU_ASSERT_FATAL(nsyms > 0);
	for (i = 0; i < nsyms; i++) {
		if (!page_of(syms[i], path, sizeof(path))) {
			printf("\n    no page man3/%s.3", syms[i]);
			CU_FAIL("an exported function has no manual page");
		}
	}
}

static void test_every_page_names_the_functions_it_is_found_by(void)
{
	static char text[MAX_PAGE];
	char path[512];
	int i;

	for (i = 0; i < nsyms; i++) {
		char *name, *eol;

		if (!page_of(syms[i], path, sizeof(path)))
			continue;
		CU_ASSERT_FATAL(slurp(path, text, sizeof(text)));
		name = strstr(text, "\n.SH NAME\n");
		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		name += strlen("\n.SH NAME\n");
		eol = strchr(name, '\n');
		if (eol)
			*eol = '\0';
		if (!has_word(name, syms[i])) {
			printf("\n    %s: NAME line does not name %s", path, syms[i]);
			CU_FAIL("a page does not name a function it documents");
		}
	}
}

/*
 * Every long option @prog's --help names is in @page, as roff writes it
 * (\-\-name); returns how many were checked.
 */
static size_t check_page_documents_options(const char *prog, const char *page_path)
{
	static char help[MAX_PAGE], page[MAX_PAGE];
	char opt[64], roff[80], cmd[512];
	size_t n, checked = 0;
	FILE *p;
	char *s;

	snprintf(cmd, sizeof(cmd), "%s --help", prog);
	p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	n = fread(help, 1, sizeof(help) - 1, p);
	help[n] = '\0';
	CU_ASSERT_EQUAL(pclose(p), 0);
	CU_ASSERT_FATAL(slurp(page_path, page, sizeof(page)));
	for (s = strstr(help, "--"); s; s = strstr(s + 2, "--")) {
		size_t l = 0;

		while (l < sizeof(opt) - 1 && (islower((unsigned char)s[2 + l]) || s[2 + l] == '-'))
			opt[l] = s[2 + l], l++;
		opt[l] = '\0';
		if (!l)
			continue;
		snprintf(roff, sizeof(roff), "\\-\\-%s", opt);
		if (!strstr(page, roff)) {
			printf("\n    %s lacks --%s", page_path, opt);
			CU_FAIL("an option is not in its page");
		}
		checked++;
	}
	return checked;
}

static void test_softodp_run_page_documents_every_option(void)
{
	/* --devices, --log, --lib, --help */
	CU_ASSERT(check_page_documents_options(RUN, MANSRC "/man1/softodp-run.1") >= 4);
}

static void test_softodp_page_documents_every_option(void)
{
	/* --pid, --json, --watch, --help */
	CU_ASSERT(check_page_documents_options(CLI, MANSRC "/man1/softodp.1") >= 4);
}

static void test_softodp_demo_page_documents_every_option(void)
{
	/* --size, --server, --client, --help */
	CU_ASSERT(check_page_documents_options(DEMO, MANSRC "/man1/softodp_demo.1") >= 4);
}

/*
 * softodp(7) documents every SOFTODP_* variable the library reads (each is
 * a string literal in lib/ or providers/) and names every public header.
 */
static void test_overview_documents_every_environment_variable(void)
{
	static char page[MAX_PAGE];
	char line[256];
	int vars = 0;
	FILE *p;

	CU_ASSERT_FATAL(slurp(MANSRC "/man7/softodp.7", page, sizeof(page)));
	p = popen("grep -rhoE '\"SOFTODP_[A-Z0-9_]+\"' " SODP_SOURCE_DIR "/lib " SODP_SOURCE_DIR
		  "/providers",
		  "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	while (fgets(line, sizeof(line), p)) {
		char *name = line + 1, *end = strchr(name, '"');

		if (line[0] != '"' || !end)
			continue;
		*end = '\0';
		vars++;
		if (!has_word(page, name)) {
			printf("\n    softodp.7 lacks %s", name);
			CU_FAIL("an environment variable is not in softodp(7)");
		}
	}
	pclose(p);
	CU_ASSERT(vars > 0);
}

static void test_overview_names_every_public_header(void)
{
	static char page[MAX_PAGE];
	struct dirent *e;
	int headers = 0;
	DIR *d;

	CU_ASSERT_FATAL(slurp(MANSRC "/man7/softodp.7", page, sizeof(page)));
	d = opendir(SODP_SOURCE_DIR "/include/softodp");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l < 3 || strcmp(e->d_name + l - 2, ".h"))
			continue;
		headers++;
		if (!has_word(page, e->d_name)) {
			printf("\n    softodp.7 lacks <softodp/%s>", e->d_name);
			CU_FAIL("a public header is not in softodp(7)");
		}
	}
	closedir(d);
	CU_ASSERT(headers > 0);
}

static void test_every_page_renders_without_warnings(void)
{
	static const char *const sections[] = {"man1", "man3", "man7"};
	char cmd[1024], out[4096];
	int pages = 0;

	if (system("command -v man >/dev/null 2>&1"))
		SODP_SKIP("man is not installed (Debian package man-db)");
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		char dir[256];
		struct dirent *e;
		DIR *d;

		snprintf(dir, sizeof(dir), MANSRC "/%s", sections[i]);
		d = opendir(dir);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		while ((e = readdir(d)) && pages < MAX_PAGES) {
			FILE *p;
			size_t n;

			if (e->d_name[0] == '.')
				continue;
			pages++;
			/* groff's warnings go to stderr; the rendered page is dropped. */
			snprintf(cmd, sizeof(cmd),
				 "MANWIDTH=80 man --warnings -E UTF-8 -l %s/%s 2>&1 >/dev/null",
				 dir, e->d_name);
			p = popen(cmd, "r");
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			n = fread(out, 1, sizeof(out) - 1, p);
			out[n] = '\0';
			CU_ASSERT_EQUAL(pclose(p), 0);
			if (n) {
				printf("\n    %s/%s:\n%s", dir, e->d_name, out);
				CU_FAIL("a page renders with warnings");
			}
		}
		closedir(d);
	}
	CU_ASSERT(pages > 0);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case pages[] = {
		{"every_exported_function_has_a_page", test_every_exported_function_has_a_page},
		{"every_page_names_the_functions_it_is_found_by",
		 test_every_page_names_the_functions_it_is_found_by},
		{"softodp_run_page_documents_every_option",
		 test_softodp_run_page_documents_every_option},
		{"softodp_page_documents_every_option", test_softodp_page_documents_every_option},
		{"softodp_demo_page_documents_every_option",
		 test_softodp_demo_page_documents_every_option},
		{"overview_documents_every_environment_variable",
		 test_overview_documents_every_environment_variable},
		{"overview_names_every_public_header", test_overview_names_every_public_header},
		{"every_page_renders_without_warnings", test_every_page_renders_without_warnings},
		{NULL, NULL},
	};

	sodp_add_suite("man_pages", suite_init, NULL, pages);
}
