/* Unit tests for the client's pure parts: argv parsing, --net/--block
 * specs, integers, MACs, times, default file names and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"
#include "escape.h"

enum { G_JSON = 1, G_SOCKET, C_ARG, C_FORCE, C_MEM };

static const pt_cli_optspec global_opts[] = {
	{"json", 0, false, G_JSON, NULL, ""},
	{"socket", 0, true, G_SOCKET, "PATH", ""},
	{NULL, 0, false, 0, NULL, NULL},
};

static const pt_cli_optspec cmd_opts[] = {
	{"arg", 0, true, C_ARG, "ARG", ""},
	{"force", 'f', false, C_FORCE, NULL, ""},
	{"mem", 0, true, C_MEM, "MB", ""},
	{NULL, 0, false, 0, NULL, NULL},
};

static const pt_cli_optspec *const tables[] = {global_opts, cmd_opts};

static int
parse(char **argv, int argc, pt_cli_args *out, const char **pos,
    pt_cli_optval *opts, pt_err *err)
{
	return pt_cli_parse(argc, argv, tables, 2, pos, opts, out, err);
}

static void
test_parse_argv(void **state)
{
	(void)state;
	char *argv[] = {"hello", "--arg", "-l", "--json", "img", "-f",
	    "--mem=64", "--socket", "-", "--arg=*:debug", "--", "--x"};
	int argc = (int)(sizeof(argv) / sizeof(argv[0]));
	const char *pos[12];
	pt_cli_optval opts[12];
	pt_cli_args a;
	pt_err err;

	assert_int_equal(parse(argv, argc, &a, pos, opts, &err), 0);
	assert_int_equal(a.npos, 3);
	assert_string_equal(a.pos[0], "hello");
	assert_string_equal(a.pos[1], "img");
	assert_string_equal(a.pos[2], "--x");
	assert_int_equal(pt_cli_count(&a, C_ARG), 2);
	assert_string_equal(opts[0].val, "-l");
	assert_string_equal(pt_cli_last(&a, C_ARG)->val, "*:debug");
	assert_non_null(pt_cli_last(&a, C_FORCE));
	assert_null(pt_cli_last(&a, C_FORCE)->val);
	assert_string_equal(pt_cli_last(&a, C_MEM)->val, "64");
	assert_string_equal(pt_cli_last(&a, G_SOCKET)->val, "-");
	assert_non_null(pt_cli_last(&a, G_JSON));
}

static void
test_parse_argv_errors(void **state)
{
	(void)state;
	const char *pos[4];
	pt_cli_optval opts[4];
	pt_cli_args a;
	pt_err err;

	char *unknown[] = {"--frob"};
	assert_int_equal(parse(unknown, 1, &a, pos, opts, &err), -1);
	assert_non_null(strstr(err.msg, "--frob"));
	char *unknown_short[] = {"-x"};
	assert_int_equal(parse(unknown_short, 1, &a, pos, opts, &err), -1);
	char *grouped[] = {"-fv"};
	assert_int_equal(parse(grouped, 1, &a, pos, opts, &err), -1);
	char *missing[] = {"x", "--mem"};
	assert_int_equal(parse(missing, 2, &a, pos, opts, &err), -1);
	assert_non_null(strstr(err.msg, "needs a value"));
	char *flagval[] = {"--json=yes"};
	assert_int_equal(parse(flagval, 1, &a, pos, opts, &err), -1);
	assert_non_null(strstr(err.msg, "takes no value"));
	char *dash[] = {"-", "--mem="};
	assert_int_equal(parse(dash, 2, &a, pos, opts, &err), 0);
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "-");
	assert_string_equal(pt_cli_last(&a, C_MEM)->val, "");
}

static void
test_parse_int(void **state)
{
	(void)state;
	int64_t v;
	pt_err err;

	assert_int_equal(pt_cli_parse_int("n", "42", 0, 100, &v, &err), 0);
	assert_int_equal(v, 42);
	assert_int_equal(pt_cli_parse_int("n", "-5", -10, 10, &v, &err), 0);
	assert_int_equal(v, -5);
	assert_int_equal(pt_cli_parse_int("n", "9223372036854775807", 0,
	    INT64_MAX, &v, &err), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(pt_cli_parse_int("n", "-9223372036854775808",
	    INT64_MIN, 0, &v, &err), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(pt_cli_parse_int("n", "9223372036854775808", 0,
	    INT64_MAX, &v, &err), -1);
	assert_int_equal(pt_cli_parse_int("n", "101", 0, 100, &v, &err), -1);
	assert_non_null(strstr(err.msg, "'101'"));
	assert_int_equal(pt_cli_parse_int("n", "", 0, 100, &v, &err), -1);
	assert_int_equal(pt_cli_parse_int("n", "-", 0, 100, &v, &err), -1);
	assert_int_equal(pt_cli_parse_int("n", "+1", 0, 100, &v, &err), -1);
	assert_int_equal(pt_cli_parse_int("n", "1x", 0, 100, &v, &err), -1);
	assert_int_equal(pt_cli_parse_int("n", " 1", 0, 100, &v, &err), -1);
}

static void
test_parse_mac(void **state)
{
	(void)state;
	uint8_t mac[6];
	pt_err err;

	assert_int_equal(pt_cli_parse_mac("00:80:41:aA:Bb:cc", mac, &err), 0);
	assert_memory_equal(mac, "\x00\x80\x41\xaa\xbb\xcc", 6);
	assert_int_equal(pt_cli_parse_mac("00-80-41-aa-bb-cc", mac, &err), 0);
	assert_int_equal(pt_cli_parse_mac("00:80:41:aa:bb", mac, &err), -1);
	assert_int_equal(pt_cli_parse_mac("00:80:41:aa:bb:cc:", mac, &err),
	    -1);
	assert_int_equal(pt_cli_parse_mac("00:80:41:aa:bb:cg", mac, &err),
	    -1);
	assert_int_equal(pt_cli_parse_mac("0:080:41:aa:bb:cc", mac, &err),
	    -1);
}

static void
test_parse_net(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_netspec n;
	pt_err err;

	assert_int_equal(pt_cli_parse_net("br0", &a, &n, &err), 0);
	assert_string_equal(n.name.s, "br0");
	assert_int_equal(n.name.len, 3);
	assert_false(n.has_bridge);
	assert_false(n.has_mac);

	assert_int_equal(pt_cli_parse_net("service:br0", &a, &n, &err), 0);
	assert_string_equal(n.name.s, "service");
	assert_true(n.has_bridge);
	assert_string_equal(n.bridge.s, "br0");
	assert_int_equal(n.bridge.len, 3);

	assert_int_equal(pt_cli_parse_net("service:br0@00:80:41:aa:bb:cc", &a,
	    &n, &err), 0);
	assert_true(n.has_mac);
	assert_memory_equal(n.mac, "\x00\x80\x41\xaa\xbb\xcc", 6);
	assert_string_equal(n.bridge.s, "br0");

	assert_int_equal(pt_cli_parse_net("br0@00:80:41:00:00:01", &a, &n,
	    &err), 0);
	assert_string_equal(n.name.s, "br0");
	assert_false(n.has_bridge);
	assert_true(n.has_mac);

	/* 68 characters: one more than a manifest name may have. */
	const char *too_long = "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567";
	const char *bad[] = {"", ":br0", "svc:", "a:b:c", "br0@", "br0@zz",
	    "br 0", "a/b", "svc:br0@00:80:41:aa:bb", too_long};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pt_cli_parse_net(bad[i], &a, &n, &err), -1);
		assert_non_null(strstr(err.msg, "--net"));
	}
	pt_arena_free(&a);
}

static void
test_parse_block(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_blockspec b;
	pt_err err;

	assert_int_equal(pt_cli_parse_block("storage", &a, &b, &err), 0);
	assert_string_equal(b.name.s, "storage");
	assert_false(b.has_device);
	assert_false(b.has_sector_size);

	assert_int_equal(pt_cli_parse_block("storage:Disk1@4096", &a, &b,
	    &err), 0);
	assert_string_equal(b.name.s, "storage");
	assert_true(b.has_device);
	assert_string_equal(b.device.s, "disk1");
	assert_int_equal(b.device.len, 5);
	assert_true(b.has_sector_size);
	assert_int_equal(b.sector_size, 4096);

	assert_int_equal(pt_cli_parse_block("data@512", &a, &b, &err), 0);
	assert_false(b.has_device);
	assert_int_equal(b.sector_size, 512);

	const char *bad[] = {"", ":disk", "s:", "s:-x", "s:a:b", "s@256",
	    "s@1000", "s@", "s@x", "s@0", "s@-512"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pt_cli_parse_block(bad[i], &a, &b, &err), -1);
		assert_non_null(strstr(err.msg, "--block"));
	}
	pt_arena_free(&a);
}

static void
test_time(void **state)
{
	(void)state;
	pt_time_ms t;
	pt_err err;
	char buf[PT_CLI_TIME_MAX];

	assert_int_equal(pt_cli_parse_time("2024-01-02T03:04:05Z", &t, &err),
	    0);
	assert_true(t == 1704164645000LL);
	pt_cli_format_time(t, buf);
	assert_string_equal(buf, "2024-01-02T03:04:05Z");

	assert_int_equal(pt_cli_parse_time("2024-01-02t03:04:05.25z", &t,
	    &err), 0);
	assert_true(t == 1704164645250LL);
	pt_cli_format_time(t, buf);
	assert_string_equal(buf, "2024-01-02T03:04:05.250Z");

	assert_int_equal(pt_cli_parse_time("2024-01-02 04:04:05.0009+01:00",
	    &t, &err), 0);
	assert_true(t == 1704164645000LL);
	assert_int_equal(pt_cli_parse_time("2024-02-29T00:00:00-00:30", &t,
	    &err), 0);
	assert_true(t == 1709166600000LL);

	pt_cli_format_time(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	pt_cli_format_time(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");

	const char *bad[] = {"", "2024-01-02", "2024-01-02T03:04:05",
	    "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
	    "2024-01-02T24:00:00Z", "2024-01-02T03:04:05.Z",
	    "2024-01-02T03:04:05Zx", "2024-01-02T03:04:05+1:00",
	    "24-01-02T03:04:05Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pt_cli_parse_time(bad[i], &t, &err), -1);
}

static void
test_default_file_and_path(void **state)
{
	(void)state;
	pt_name n;
	pt_err err;
	char out[64];

	assert_int_equal(pt_name_parse_str("hello", &n, &err), 0);
	assert_int_equal(pt_cli_default_file(&n, ".img", out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "hello.img");
	assert_int_equal(pt_name_parse_str("a:B:web", &n, &err), 0);
	assert_int_equal(pt_cli_default_file(&n, ".img", out, sizeof(out),
	    &err), 0);
	assert_string_equal(out, "a_b_web.img");
	assert_int_equal(pt_cli_default_file(&n, ".img", out, 8, &err), -1);
	assert_int_equal(pt_name_parse_str("a:", &n, &err), 0);
	assert_int_equal(pt_cli_default_file(&n, ".img", out, sizeof(out),
	    &err), -1);

	assert_int_equal(pt_cli_parse_path("foo", &n, &err), 0);
	assert_string_equal(n.text, "foo:");
	assert_false(n.has_label);
	assert_int_equal(pt_cli_parse_path("a:b", &n, &err), 0);
	assert_string_equal(n.text, "a:b:");
	assert_int_equal(pt_cli_parse_path("foo:", &n, &err), 0);
	assert_string_equal(n.text, "foo:");
	assert_int_equal(pt_cli_parse_path(":", &n, &err), 0);
	assert_string_equal(n.text, ":");
	assert_int_equal(pt_cli_parse_path("a::", &n, &err), -1);
}

static void
check_escape(int (*f)(pt_buf *, const char *, size_t), const char *in,
    size_t n, const char *want)
{
	pt_buf b = {0};
	assert_int_equal(f(&b, in, n), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	pt_buf_free(&b);
}

static void
test_escape(void **state)
{
	(void)state;
	check_escape(pt_text_escape, "plain text", 10, "plain text");
	check_escape(pt_text_escape, "\x1b[31mred\n", 9, "\\x1b[31mred\\n");
	check_escape(pt_text_escape, "a\tb\rc\x7f", 6, "a\\tb\\rc\\x7f");
	check_escape(pt_text_escape, "\xc2\x9b" "2J", 4, "\\u009b2J");
	check_escape(pt_text_escape, "caf\xc3\xa9", 5, "caf\xc3\xa9");
	check_escape(pt_text_escape, "\xff\xc3", 2, "\\xff\\xc3");
	check_escape(pt_text_escape, "\xed\xa0\x80", 3, "\\xed\\xa0\\x80");
	check_escape(pt_text_escape, "a\0b", 3, "a\\x00b");

	check_escape(pt_json_string, "say \"hi\"\\", 9,
	    "\"say \\\"hi\\\"\\\\\"");
	check_escape(pt_json_string, "l1\nl2\x01", 6, "\"l1\\nl2\\u0001\"");
	check_escape(pt_json_string, "\xe2\x82\xac", 3, "\"\xe2\x82\xac\"");
	check_escape(pt_json_string, "x\xc0\xafy", 4, "\"x\\ufffd\\ufffdy\"");
	check_escape(pt_json_string, "", 0, "\"\"");

	check_escape(pt_text_quote_arg, "-l", 2, "-l");
	check_escape(pt_text_quote_arg, "*:debug", 7, "*:debug");
	check_escape(pt_text_quote_arg, "", 0, "\"\"");
	check_escape(pt_text_quote_arg, "a b", 3, "\"a b\"");
	check_escape(pt_text_quote_arg, "x\"y\n", 4, "\"x\\\"y\\n\"");
}

/* albatross-client's spellings: an option whose value is a positional
 * argument (info --name=X), and --compression-level next to --compress. */
enum { A_COMPRESS = 1 };

static const pt_cli_optspec alias_opts[] = {
	{"compress", 0, false, A_COMPRESS, NULL, ""},
	{"name", 'n', true, PT_CLI_POSITIONAL, "NAME", NULL},
	{"compression-level", 0, true, A_COMPRESS, "N", NULL},
	{NULL, 0, false, 0, NULL, NULL},
};

static int
parse_alias(char **argv, int argc, pt_cli_args *a, const char **pos,
    pt_cli_optval *opts, int64_t *level, pt_err *err)
{
	const pt_cli_optspec *const t[] = {alias_opts};
	if (pt_cli_parse(argc, argv, t, 1, pos, opts, a, err) != 0)
		return -1;
	return pt_cli_compress_level(a, A_COMPRESS, level, err);
}

static void
test_albatross_aliases(void **state)
{
	(void)state;
	const char *pos[8];
	pt_cli_optval opts[8];
	pt_cli_args a;
	pt_err err;
	int64_t level = -1;

	char *v1[] = {"--name=a:web", "file"};
	assert_int_equal(parse_alias(v1, 2, &a, pos, opts, &level, &err), 0);
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "a:web");
	assert_string_equal(a.pos[1], "file");
	assert_int_equal(a.nopts, 0);
	assert_int_equal(level, 0);

	char *v2[] = {"-n", "web", "--compress"};
	assert_int_equal(parse_alias(v2, 3, &a, pos, opts, &level, &err), 0);
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "web");
	assert_int_equal(level, 9);

	/* The last one counts. */
	char *v3[] = {"--compress", "--compression-level", "3"};
	assert_int_equal(parse_alias(v3, 3, &a, pos, opts, &level, &err), 0);
	assert_int_equal(level, 3);
	char *v4[] = {"--compression-level=0"};
	assert_int_equal(parse_alias(v4, 1, &a, pos, opts, &level, &err), 0);
	assert_int_equal(level, 0);

	char *bad[][1] = {{"--compression-level=10"}, {"--compression-level=-1"},
	    {"--compression-level=x"}, {"--compression-level="}};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(parse_alias(bad[i], 1, &a, pos, opts, &level,
		    &err), -1);
		assert_non_null(strstr(err.msg, "compression level"));
	}
	char *missing[] = {"--name"};
	assert_int_equal(parse_alias(missing, 1, &a, pos, opts, &level, &err),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_argv),
		cmocka_unit_test(test_parse_argv_errors),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_parse_net),
		cmocka_unit_test(test_parse_block),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_default_file_and_path),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_albatross_aliases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
