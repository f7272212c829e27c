/* Unit tests for name.c: parsing (§4.2), canonical text, path operations,
 * relative names (§4.3) and file names that cannot escape their directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "name.h"

static pt_name
parse_ok(const char *s)
{
	pt_name n;
	pt_err err = {{0}};
	if (pt_name_parse_str(s, &n, &err) != 0)
		fail_msg("parsing '%s' failed: %s", s, err.msg);
	return n;
}

static void
expect_error(const char *s, size_t len, const char *msg_start)
{
	pt_name n;
	pt_err err = {{0}};
	assert_int_equal(pt_name_parse(s, len, &n, &err), -1);
	if (strncmp(err.msg, msg_start, strlen(msg_start)) != 0)
		fail_msg("error for input of %zu bytes: '%s', want '%s...'",
		    len, err.msg, msg_start);
}

static void
expect_canonical(const char *in, const char *canon, size_t npath,
    bool has_label)
{
	pt_name n = parse_ok(in);
	assert_string_equal(n.text, canon);
	assert_int_equal(n.len, strlen(canon));
	assert_int_equal(n.npath, npath);
	assert_int_equal(n.has_label, has_label);
	/* The canonical text parses to itself. */
	pt_name again = parse_ok(n.text);
	assert_true(pt_name_equal(&n, &again));
	assert_memory_equal(&n, &again, sizeof(n));
}

static void
test_spec_examples(void **state)
{
	(void)state;
	/* The table and the parsing rules of §4.2. */
	expect_canonical(":", ":", 0, false);
	expect_canonical("a:", "a:", 1, false);
	expect_canonical("a:b:", "a:b:", 2, false);
	expect_canonical(":foo", ":foo", 0, true);
	expect_canonical("foo", ":foo", 0, true);
	expect_canonical("a:b:foo", "a:b:foo", 2, true);
	expect_canonical(":a:", "a:", 1, false);
	expect_canonical(":a:b", "a:b", 1, true);
	expect_canonical("FOO:Bar", "foo:bar", 1, true);
	expect_canonical("foo.bar", ":foo.bar", 0, true);
	/* "." and ".." are syntactically valid labels (§4.1). */
	expect_canonical("..", ":..", 0, true);
	expect_canonical(".:..:", ".:..:", 2, false);
	expect_canonical("a-1.B", ":a-1.b", 0, true);

	expect_error("", 0, "empty name");
	expect_error("::", 2, "invalid label ''");
	expect_error("a::b", 4, "invalid label ''");
	expect_error("::a", 3, "invalid label ''");
	expect_error(":::", 3, "invalid label ''");
	expect_error("a::", 3, "invalid label ''");
	expect_error("-a", 2, "invalid label '-a'");
	expect_error("a:-b:", 5, "invalid label '-b'");
	expect_error("a_b", 3, "invalid label 'a_b'");
	expect_error("a b", 3, "invalid label 'a b'");
	expect_error("a/b", 3, "invalid label 'a/b'");
	expect_error("/", 1, "invalid label '/'");
	expect_error("a:/:", 4, "invalid label '/'");
	expect_error("\xc3\xa9", 2, "invalid label '\\xc3\\xa9'");
	expect_error("a\0b", 3, "invalid label 'a\\x00b'");
	expect_error("a\0", 2, "invalid label 'a\\x00'");
	expect_error("\0", 1, "invalid label '\\x00'");
	assert_int_equal(pt_name_parse(NULL, 3, &(pt_name){0}, NULL), -1);
	assert_int_equal(pt_name_parse_str(NULL, &(pt_name){0}, NULL), -1);
}

static void
test_label_rules(void **state)
{
	(void)state;
	char l[PT_LABEL_MAX + 2];
	memset(l, 'x', sizeof(l));
	assert_true(pt_label_valid(l, PT_LABEL_MAX));
	assert_false(pt_label_valid(l, PT_LABEL_MAX + 1));
	assert_false(pt_label_valid(l, 0));
	assert_true(pt_label_valid("A", 1));
	assert_true(pt_label_valid("a-", 2));
	assert_false(pt_label_valid("-", 1));
	assert_false(pt_label_valid("a:", 2));

	char in[PT_LABEL_MAX + 4];
	memset(in, 'x', PT_LABEL_MAX);
	memcpy(in + PT_LABEL_MAX, ":", 2);
	expect_canonical(in, in, 1, false);
	memset(in, 'x', PT_LABEL_MAX + 1);
	memcpy(in + PT_LABEL_MAX + 1, ":", 2);
	expect_error(in, strlen(in), "invalid label 'xxx");
}

static void
test_length_limits(void **state)
{
	(void)state;
	char buf[4096];
	/* 50 labels "abc:" = 200 bytes: exactly the limit. */
	buf[0] = '\0';
	for (int i = 0; i < 50; i++)
		strcat(buf, "abc:");
	assert_int_equal(strlen(buf), PT_NAME_TEXT_MAX);
	expect_canonical(buf, buf, 50, false);
	/* With an extra leading ':' the input is 201 bytes, same name. */
	char lead[4096] = ":";
	strcat(lead, buf);
	expect_canonical(lead, buf, 50, false);
	/* One more byte in the canonical text is too long. */
	strcat(buf, "d");
	expect_error(buf, strlen(buf), "name too long");
	/* 100 one-letter path labels: "a:" * 100 = 200 bytes. */
	buf[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(buf, "a:");
	expect_canonical(buf, buf, 100, false);
	/* 100 labels, the last one the label: 199 bytes. */
	buf[strlen(buf) - 1] = '\0';
	expect_canonical(buf, buf, 99, true);
	/* Very long input of only separators or garbage. */
	memset(buf, ':', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	expect_error(buf, strlen(buf), "name too long");
	memset(buf, 'a', sizeof(buf) - 1);
	expect_error(buf, strlen(buf), "name too long");
	expect_error(buf, 202, "name too long");
	/* parse_str does not read past what it needs. */
	assert_int_equal(pt_name_parse_str(buf, &(pt_name){0}, NULL), -1);
}

static void
test_accessors(void **state)
{
	(void)state;
	pt_name n = parse_ok("Team:Alice:web");
	size_t len;
	const char *p = pt_name_path_label(&n, 1, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "alice", 5);
	assert_null(pt_name_path_label(&n, 2, &len));
	assert_int_equal(len, 0);
	p = pt_name_label(&n, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "web", 3);
	assert_int_equal(pt_name_nlabels(&n), 3);
	p = pt_name_nth_label(&n, 2, &len);
	assert_memory_equal(p, "web", 3);
	assert_null(pt_name_nth_label(&n, 3, &len));

	pt_name path = parse_ok("a:b:");
	assert_null(pt_name_label(&path, &len));
	assert_int_equal(len, 0);
	assert_int_equal(pt_name_nlabels(&path), 2);

	pt_name root;
	pt_name_root(&root);
	assert_string_equal(root.text, ":");
	assert_true(pt_name_is_root(&root));
	assert_int_equal(pt_name_nlabels(&root), 0);
	assert_false(pt_name_is_root(&n));
	pt_name rootlabel = parse_ok(":x");
	assert_false(pt_name_is_root(&rootlabel));

	pt_name other = parse_ok("team:alice:WEB");
	assert_true(pt_name_equal(&n, &other));
	other = parse_ok("team:alice:web2");
	assert_false(pt_name_equal(&n, &other));
	/* "a:b" (label b) and "a:b:" (path a,b) are different names. */
	pt_name ab = parse_ok("a:b");
	assert_false(pt_name_equal(&ab, &path));
}

static void
test_path_and_parent(void **state)
{
	(void)state;
	pt_name out;
	pt_name n = parse_ok("a:b:foo");
	pt_name_path(&n, &out);
	assert_string_equal(out.text, "a:b:");
	assert_int_equal(pt_name_parent(&n, &out), 0);
	assert_string_equal(out.text, "a:b:");
	pt_name p = out;
	assert_int_equal(pt_name_parent(&p, &out), 0);
	assert_string_equal(out.text, "a:");
	p = out;
	assert_int_equal(pt_name_parent(&p, &out), 0);
	assert_string_equal(out.text, ":");
	assert_true(pt_name_is_root(&out));
	p = out;
	assert_int_equal(pt_name_parent(&p, &out), -1);
	n = parse_ok(":foo");
	assert_int_equal(pt_name_parent(&n, &out), 0);
	assert_true(pt_name_is_root(&out));
	pt_name_path(&n, &out);
	assert_true(pt_name_is_root(&out));
}

static void
test_append(void **state)
{
	(void)state;
	pt_name out;
	pt_err err = {{0}};
	pt_name root;
	pt_name_root(&root);
	assert_int_equal(pt_name_with_label(&root, "Foo", 3, &out, &err), 0);
	assert_string_equal(out.text, ":foo");
	assert_true(out.has_label);
	assert_int_equal(pt_name_append_path(&root, "a", 1, &out, &err), 0);
	assert_string_equal(out.text, "a:");
	pt_name a = out;
	assert_int_equal(pt_name_with_label(&a, "x", 1, &out, &err), 0);
	assert_string_equal(out.text, "a:x");
	assert_int_equal(pt_name_append_path(&a, "B", 1, &out, &err), 0);
	assert_string_equal(out.text, "a:b:");
	assert_int_equal(out.npath, 2);

	assert_int_equal(pt_name_with_label(&a, "a:b", 3, &out, &err), -1);
	assert_string_equal(err.msg, "invalid label 'a:b'");
	assert_int_equal(pt_name_append_path(&a, "", 0, &out, &err), -1);
	assert_int_equal(pt_name_append_path(&a, "/", 1, &out, &err), -1);
	pt_name lab = parse_ok("a:x");
	assert_int_equal(pt_name_with_label(&lab, "y", 1, &out, &err), -1);
	assert_string_equal(err.msg, "a:x is not a path");
	assert_int_equal(pt_name_append_path(&lab, "y", 1, &out, &err), -1);

	/* Growing a path until the text limit is reached. */
	pt_name p = root;
	int i;
	for (i = 0; i < 1000; i++) {
		if (pt_name_append_path(&p, "abcd", 4, &out, &err) != 0)
			break;
		p = out;
	}
	assert_int_equal(i, PT_NAME_TEXT_MAX / 5);
	assert_int_equal(strncmp(err.msg, "name too long", 13), 0);
	/* The longest path still takes a label that fits. */
	assert_int_equal(p.len, 200);
	assert_int_equal(pt_name_with_label(&p, "x", 1, &out, &err), -1);
	pt_name q;
	assert_int_equal(pt_name_parent(&p, &q), 0);
	assert_int_equal(pt_name_with_label(&q, "abcd", 4, &out, &err), 0);
	assert_int_equal(out.len, 199);
	/* Depth: 100 one-letter labels. */
	p = root;
	for (i = 0; i < 100; i++) {
		assert_int_equal(pt_name_append_path(&p, "z", 1, &out, &err),
		    0);
		p = out;
	}
	assert_int_equal(p.npath, 100);
	assert_int_equal(pt_name_append_path(&p, "z", 1, &out, &err), -1);
	assert_int_equal(pt_name_with_label(&p, "z", 1, &out, &err), -1);
}

static void
test_prefix(void **state)
{
	(void)state;
	pt_name root;
	pt_name_root(&root);
	pt_name a = parse_ok("a:");
	pt_name ab = parse_ok("a:b:");
	pt_name ahello = parse_ok("a:hello");
	pt_name abx = parse_ok("a:b:x");
	pt_name ab_label = parse_ok("a:b");
	pt_name abc = parse_ok("abc:");
	pt_name bx = parse_ok("b:x");

	assert_true(pt_name_is_prefix(&root, &root));
	assert_true(pt_name_is_prefix(&root, &abx));
	assert_true(pt_name_is_prefix(&a, &a));
	assert_true(pt_name_is_prefix(&a, &ahello));
	assert_true(pt_name_is_prefix(&a, &abx));
	assert_true(pt_name_is_prefix(&ab, &abx));
	/* The prefix's label is ignored. */
	assert_true(pt_name_is_prefix(&ahello, &abx));
	/* Paths are compared as paths: a:b: does not cover the unikernel
	 * a:b, the label b of the path a:. */
	assert_false(pt_name_is_prefix(&ab, &ab_label));
	assert_true(pt_name_is_prefix(&a, &ab_label));
	assert_false(pt_name_is_prefix(&ab, &ahello));
	assert_false(pt_name_is_prefix(&a, &abc));
	assert_false(pt_name_is_prefix(&abc, &a));
	assert_false(pt_name_is_prefix(&a, &bx));
	assert_false(pt_name_is_prefix(&ab, &a));
	assert_false(pt_name_is_prefix(&a, &root));
}

static void
expect_relative(const char *prefix, const char *name, const char *rel)
{
	pt_name p = parse_ok(prefix);
	pt_name n = parse_ok(name);
	pt_name out;
	if (rel == NULL) {
		assert_int_equal(pt_name_drop_prefix(&p, &n, &out), -1);
		assert_memory_equal(&out, &n, sizeof(n));
		return;
	}
	assert_int_equal(pt_name_drop_prefix(&p, &n, &out), 0);
	assert_string_equal(out.text, rel);
	pt_name again = parse_ok(rel);
	assert_memory_equal(&again, &out, sizeof(out));
}

static void
test_drop_prefix(void **state)
{
	(void)state;
	/* The §4.3 examples. */
	expect_relative("a:", "a:hello", ":hello");
	expect_relative("a:", "a:b:x", "b:x");
	expect_relative("a:", "a:b:", "b:");
	expect_relative("a:", "a:", ":");
	expect_relative("a:", "a:disk", ":disk");
	expect_relative(":", "a:b:x", "a:b:x");
	expect_relative(":", ":", ":");
	expect_relative(":", ":x", ":x");
	/* The prefix's label is ignored. */
	expect_relative("a:web", "a:b:x", "b:x");
	expect_relative("a:b:", "a:b:c:d:", "c:d:");
	expect_relative("a:", "b:x", NULL);
	expect_relative("a:b:", "a:x", NULL);
	expect_relative("abc:", "ab:x", NULL);
	/* A prefix that would swallow the label has no relative form. */
	expect_relative("a:b:", "a:b", NULL);
}

static void
test_to_file(void **state)
{
	(void)state;
	char out[512];
	pt_err err = {{0}};
	pt_name n = parse_ok("a:b:web");
	assert_int_equal(pt_name_to_file("/var/tmp", &n, ".img", out,
	    sizeof(out), &err), 0);
	assert_string_equal(out, "/var/tmp/a:b:web.img");
	assert_int_equal(pt_name_to_file("/d", &n, NULL, out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "/d/a:b:web");
	pt_name root;
	pt_name_root(&root);
	assert_int_equal(pt_name_to_file("/d", &root, NULL, out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "/d/:");

	/* "." and ".." labels become ":." and ":..": ordinary file names. */
	n = parse_ok("..");
	assert_int_equal(pt_name_to_file("/d", &n, NULL, out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "/d/:..");
	n = parse_ok("..:..:");
	assert_int_equal(pt_name_to_file("/d", &n, "", out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "/d/..:..:");
	n = parse_ok(".:");
	assert_int_equal(pt_name_to_file("/d", &n, "", out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "/d/.:");

	/* Refused: a suffix with '/', no directory, too small a buffer,
	 * a component over 255 bytes. */
	assert_int_equal(pt_name_to_file("/d", &n, "/../x", out, sizeof(out),
	    &err), -1);
	assert_int_equal(pt_name_to_file("", &n, NULL, out, sizeof(out),
	    &err), -1);
	assert_int_equal(pt_name_to_file(NULL, &n, NULL, out, sizeof(out),
	    &err), -1);
	assert_int_equal(pt_name_to_file("/d", &n, NULL, out, 5, &err), -1);
	assert_string_equal(err.msg, ".:: file path too long");
	char longsuffix[64];
	memset(longsuffix, 'x', sizeof(longsuffix) - 1);
	longsuffix[sizeof(longsuffix) - 1] = '\0';
	char buf[256] = "";
	for (int i = 0; i < 50; i++)
		strcat(buf, "abc:");
	n = parse_ok(buf);
	assert_int_equal(pt_name_to_file("/d", &n, ".img.tmp.123456", out,
	    sizeof(out), &err), 0);
	assert_int_equal(pt_name_to_file("/d", &n, longsuffix, out,
	    sizeof(out), &err), -1);

	/* A hand-made (invalid) pt_name cannot smuggle a path either. */
	pt_name evil = {0};
	strcpy(evil.text, "../etc");
	evil.len = 6;
	assert_int_equal(pt_name_to_file("/d", &evil, NULL, out, sizeof(out),
	    &err), -1);
	strcpy(evil.text, "..");
	evil.len = 2;
	assert_int_equal(pt_name_to_file("/d", &evil, NULL, out, sizeof(out),
	    &err), -1);
}

/* Whatever the input, a parsed name's file is one component in dir. */
static void
test_hostile_inputs_never_escape(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		"..", ".", "...", "a/b", "../x", "..:..", "/etc/passwd",
		":..", "..:", ".:.:.", "a:../b", "a\\b", "%2e%2e", "~", "*",
		"a\nb", "a\tb", "a;b", "a b", "é", "a:b:c:d:e:f:g", "-",
	};
	char out[512];
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		pt_name n;
		if (pt_name_parse_str(inputs[i], &n, NULL) != 0)
			continue;
		assert_int_equal(pt_name_to_file("/base", &n, ".img", out,
		    sizeof(out), NULL), 0);
		assert_int_equal(strncmp(out, "/base/", 6), 0);
		const char *comp = out + 6;
		assert_null(strchr(comp, '/'));
		assert_string_not_equal(comp, ".");
		assert_string_not_equal(comp, "..");
		assert_true(strlen(comp) <= 255);
	}
	/* Every single byte value as a one-byte and three-byte name. */
	for (int c = 0; c < 256; c++) {
		char s[3] = {(char)c, (char)c, (char)c};
		for (size_t len = 1; len <= 3; len += 2) {
			pt_name n;
			if (pt_name_parse(s, len, &n, NULL) != 0)
				continue;
			assert_int_equal(pt_name_to_file("/b", &n, NULL, out,
			    sizeof(out), NULL), 0);
			assert_null(strchr(out + 3, '/'));
			assert_non_null(strchr(out + 3, ':'));
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_examples),
		cmocka_unit_test(test_label_rules),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_path_and_parent),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_drop_prefix),
		cmocka_unit_test(test_to_file),
		cmocka_unit_test(test_hostile_inputs_never_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
