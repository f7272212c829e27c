/*
 * One readable line per message, for logs and the client, e.g.
 *
 *   seq 0 :hello command unikernel create: solo5 memory=32MB cpuids=0
 *       add-name fail=quit bridges=[service] argv=["-l","*:debug"]
 *       image=3 bytes
 *
 * (on one line). Everything printed may come from a hostile peer, so text
 * is escaped (quotes, backslashes, control characters, invalid UTF-8 and
 * the invisible Unicode controls that can reorder or hide what a terminal
 * shows) and every list, text and blob is bounded: a line never carries a
 * whole image or an unbounded list.
 */
#include "wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Bounds that keep a log line readable whatever the message holds. */
#define PRINT_LIST_MAX 256   /* list elements shown */
#define PRINT_TEXT_MAX 1024  /* bytes of one text shown */
#define PRINT_BLOB_HEX 8     /* leading bytes of image/data shown in hex */
#define PRINT_DIGEST_HEX 32  /* a SHA-256 digest is shown whole */

static int
done(const pt_buf *out)
{
	return out->oom ? -1 : 0;
}

static void
put(pt_buf *out, const char *s)
{
	pt_buf_append(out, s, strlen(s));
}

/* ---- text escaping ---- */

/* Length of the valid UTF-8 sequence at p (at most n bytes) and its code
 * point, or 0 if the bytes there are not valid UTF-8 (overlong forms,
 * surrogates and values above U+10FFFF included). */
static size_t
utf8_sequence(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t v, min;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if ((p[0] & 0xE0) == 0xC0) {
		len = 2, v = p[0] & 0x1F, min = 0x80;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3, v = p[0] & 0x0F, min = 0x800;
	} else if ((p[0] & 0xF8) == 0xF0) {
		len = 4, v = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* Code points that are invisible or change how the rest of a line is
 * displayed: C1 controls, zero-width and bidirectional controls, line and
 * paragraph separators, the byte order mark. */
static bool
invisible_code_point(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
	    (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0xFEFF;
}

static void
put_escaped_char(pt_buf *out, uint8_t c)
{
	switch (c) {
	case '"': put(out, "\\\""); break;
	case '\\': put(out, "\\\\"); break;
	case '\n': put(out, "\\n"); break;
	case '\r': put(out, "\\r"); break;
	case '\t': put(out, "\\t"); break;
	default:
		if (c < 0x20 || c == 0x7F)
			pt_buf_printf(out, "\\x%02x", c);
		else
			pt_buf_append_byte(out, c);
	}
}

/* Text in double quotes, escaped, at most PRINT_TEXT_MAX bytes of it. */
static void
put_quoted(pt_buf *out, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t shown = len > PRINT_TEXT_MAX ? PRINT_TEXT_MAX : len;
	pt_buf_append_byte(out, '"');
	size_t i = 0;
	while (i < shown) {
		uint32_t cp;
		size_t n = utf8_sequence(p + i, shown - i, &cp);
		if (n == 0) {
			pt_buf_printf(out, "\\x%02x", p[i]);
			i++;
		} else if (n == 1) {
			put_escaped_char(out, p[i]);
			i++;
		} else if (invisible_code_point(cp)) {
			pt_buf_printf(out, "\\u{%04" PRIX32 "}", cp);
			i += n;
		} else {
			pt_buf_append(out, p + i, n);
			i += n;
		}
	}
	pt_buf_append_byte(out, '"');
	if (shown < len)
		pt_buf_printf(out, "...(%zu bytes)", len);
}

/* Characters that can be shown without quotes: they cannot be confused
 * with the separators of a printed line. */
static bool
bare_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("._-:*/+@", c) != NULL;
}

/* Identifiers (device and bridge names, names) bare when they are plain,
 * quoted and escaped otherwise. */
static void
put_word(pt_buf *out, const char *s, size_t len)
{
	bool bare = len > 0 && len <= PRINT_TEXT_MAX && s != NULL;
	for (size_t i = 0; bare && i < len; i++)
		bare = bare_char(s[i]);
	if (bare)
		pt_buf_append(out, s, len);
	else
		put_quoted(out, s == NULL ? "" : s, s == NULL ? 0 : len);
}

static void
put_text_word(pt_buf *out, const pt_text *t)
{
	put_word(out, t->s, t->len);
}

static void
put_name(pt_buf *out, const pt_name *n)
{
	size_t len = strnlen(n->text, sizeof(n->text));
	put_word(out, n->text, len);
}

/* ---- numbers, times, blobs ---- */

static void
put_i64(pt_buf *out, int64_t v)
{
	pt_buf_printf(out, "%" PRId64, v);
}

/* "1.000002s" for a well-formed timeval, both fields otherwise. */
static void
put_timeval(pt_buf *out, const pt_timeval *tv)
{
	if (tv->usec >= 0 && tv->usec < 1000000)
		pt_buf_printf(out, "%" PRId64 ".%06" PRId64 "s", tv->sec,
		    tv->usec);
	else
		pt_buf_printf(out, "%" PRId64 "s+%" PRId64 "us", tv->sec,
		    tv->usec);
}

/* ISO 8601 (2024-01-02T03:04:05Z), rearranged from the canonical
 * GeneralizedTime text so that the calendar arithmetic lives in one
 * place (gtime.c). */
static void
put_time(pt_buf *out, pt_time_ms t)
{
	char g[20];
	memset(g, 0, sizeof(g));
	pt_gtime_format(t, g);
	size_t n = strnlen(g, sizeof(g));
	bool digits = n == 15 || (n == 19 && g[14] == '.');
	for (size_t i = 0; digits && i < 14; i++)
		digits = g[i] >= '0' && g[i] <= '9';
	if (!digits || g[n - 1] != 'Z') {
		pt_buf_printf(out, "%" PRId64 "ms", t);
		return;
	}
	pt_buf_printf(out, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", g, g + 4, g + 6,
	    g + 8, g + 10, g + 12);
	if (n == 19)
		pt_buf_printf(out, "%.4s", g + 14);
	put(out, "Z");
}

static void
put_hex(pt_buf *out, const uint8_t *p, size_t n, size_t max)
{
	char pair[3];
	size_t shown = n > max ? max : n;
	for (size_t i = 0; i < shown; i++) {
		pt_hex_encode(p + i, 1, pair);
		pt_buf_append(out, pair, 2);
	}
	if (shown < n)
		put(out, "...");
}

/* "N bytes", then up to `hex` leading bytes in hex. */
static void
put_blob(pt_buf *out, const pt_blob *b, size_t hex)
{
	pt_buf_printf(out, "%zu bytes", b->len);
	if (hex > 0 && b->len > 0 && b->data != NULL) {
		put(out, " ");
		put_hex(out, b->data, b->len, hex);
	}
}

static void
put_mac(pt_buf *out, const uint8_t mac[6])
{
	pt_buf_printf(out, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
	    mac[2], mac[3], mac[4], mac[5]);
}

/* "0,1,2" or "none" (bounded). */
static void
put_int_list(pt_buf *out, const int64_t *v, size_t n)
{
	if (n == 0) {
		put(out, "none");
		return;
	}
	for (size_t i = 0; i < n && i < PRINT_LIST_MAX; i++) {
		if (i > 0)
			put(out, ",");
		put_i64(out, v[i]);
	}
	if (n > PRINT_LIST_MAX)
		pt_buf_printf(out, ",...(%zu in all)", n);
}

/* Shared list framing: the caller prints element i. */
typedef void (*put_element_fn)(pt_buf *out, const void *list, size_t i);

static void
put_list(pt_buf *out, const void *list, size_t n, put_element_fn put_el)
{
	put(out, "[");
	for (size_t i = 0; i < n && i < PRINT_LIST_MAX; i++) {
		if (i > 0)
			put(out, ", ");
		put_el(out, list, i);
	}
	if (n > PRINT_LIST_MAX)
		pt_buf_printf(out, ", ...(%zu in all)", n);
	put(out, "]");
}

static void
put_quoted_el(pt_buf *out, const void *list, size_t i)
{
	const pt_text *t = (const pt_text *)list + i;
	put_quoted(out, t->s == NULL ? "" : t->s, t->s == NULL ? 0 : t->len);
}

/* argv as ["-l","*:debug"]: always quoted, no spaces, so it reads like
 * the command line it becomes. */
static void
put_argv(pt_buf *out, const pt_text *argv, size_t argc)
{
	put(out, "[");
	for (size_t i = 0; i < argc && i < PRINT_LIST_MAX; i++) {
		if (i > 0)
			put(out, ",");
		put_quoted_el(out, argv, i);
	}
	if (argc > PRINT_LIST_MAX)
		pt_buf_printf(out, ",...(%zu in all)", argc);
	put(out, "]");
}

static void
put_text_el(pt_buf *out, const void *list, size_t i)
{
	put_text_word(out, (const pt_text *)list + i);
}

static void
put_name_el(pt_buf *out, const void *list, size_t i)
{
	put_name(out, (const pt_name *)list + i);
}

/* ---- unikernel configuration and info ---- */

static void
put_typ(pt_buf *out, pt_typ typ)
{
	switch (typ) {
	case PT_TYP_SOLO5: put(out, "solo5"); break;
	case PT_TYP_BHYVE: put(out, "bhyve"); break;
	default: pt_buf_printf(out, "typ(%d)", (int)typ);
	}
}

/* fail=quit, fail=restart (any exit code), fail=restart(0,2). */
static void
put_fail(pt_buf *out, const pt_fail_behaviour *f)
{
	if (!f->restart) {
		put(out, "fail=quit");
		return;
	}
	put(out, "fail=restart");
	if (f->ncodes > 0) {
		put(out, "(");
		put_int_list(out, f->codes, f->ncodes);
		put(out, ")");
	}
}

static void
put_blockspec_el(pt_buf *out, const void *list, size_t i)
{
	const pt_blockspec *b = (const pt_blockspec *)list + i;
	put_text_word(out, &b->name);
	if (b->has_device) {
		put(out, "=");
		put_text_word(out, &b->device);
	}
	if (b->has_sector_size)
		pt_buf_printf(out, " sector-size=%" PRId64, b->sector_size);
}

static void
put_netspec_el(pt_buf *out, const void *list, size_t i)
{
	const pt_netspec *n = (const pt_netspec *)list + i;
	put_text_word(out, &n->name);
	if (n->has_bridge) {
		put(out, "=");
		put_text_word(out, &n->bridge);
	}
	if (n->has_mac) {
		put(out, " mac=");
		put_mac(out, n->mac);
	}
}

/* Everything a restart may replace, in the order of the example above. */
static void
put_config_fields(pt_buf *out, const pt_ukconfig *c)
{
	if (c->has_startup)
		pt_buf_printf(out, " startup=%" PRId64, c->startup);
	pt_buf_printf(out, " memory=%" PRId64 "MB cpuids=", c->memory);
	put_int_list(out, c->cpuids, c->ncpuids);
	if (c->cpus != 1)
		pt_buf_printf(out, " cpus=%" PRId64, c->cpus);
	if (c->add_name)
		put(out, " add-name");
	put(out, " ");
	put_fail(out, &c->fail);
	if (c->nblocks > 0) {
		put(out, " blocks=");
		put_list(out, c->blocks, c->nblocks, put_blockspec_el);
	}
	if (c->nnets > 0) {
		put(out, " bridges=");
		put_list(out, c->nets, c->nnets, put_netspec_el);
	}
	if (c->has_argv) {
		put(out, " argv=");
		put_argv(out, c->argv, c->argc);
	}
	if (c->has_boot_partition) {
		put(out, " boot-partition=");
		put_text_word(out, &c->boot_partition);
	}
}

int
pt_ukconfig_print(const pt_ukconfig *c, pt_buf *out)
{
	put_typ(out, c->typ);
	if (c->compressed)
		put(out, " compressed");
	put_config_fields(out, c);
	put(out, " image=");
	put_blob(out, &c->image, 0);
	return done(out);
}

static void
put_blockinfo_el(pt_buf *out, const void *list, size_t i)
{
	const pt_blockinfo *b = (const pt_blockinfo *)list + i;
	put_text_word(out, &b->unikernel_device);
	put(out, "=");
	put_text_word(out, &b->host_device);
	pt_buf_printf(out, " sector-size=%" PRId64 " size=%" PRId64 "MB",
	    b->sector_size, b->block_size_mb);
}

static void
put_netinfo_el(pt_buf *out, const void *list, size_t i)
{
	const pt_netinfo *n = (const pt_netinfo *)list + i;
	put_text_word(out, &n->unikernel_device);
	put(out, "=");
	put_text_word(out, &n->host_device);
	put(out, " mac=");
	put_mac(out, n->mac);
}

int
pt_ukinfo_print(const pt_ukinfo *i, pt_buf *out)
{
	put_typ(out, i->typ);
	if (i->has_startup)
		pt_buf_printf(out, " startup=%" PRId64, i->startup);
	pt_buf_printf(out, " memory=%" PRId64 "MB cpuids=", i->memory);
	put_int_list(out, i->cpuids, i->ncpuids);
	if (i->cpus != 1)
		pt_buf_printf(out, " cpus=%" PRId64, i->cpus);
	put(out, " ");
	put_fail(out, &i->fail);
	if (i->nblocks > 0) {
		put(out, " blocks=");
		put_list(out, i->blocks, i->nblocks, put_blockinfo_el);
	}
	if (i->nnets > 0) {
		put(out, " bridges=");
		put_list(out, i->nets, i->nnets, put_netinfo_el);
	}
	if (i->has_argv) {
		put(out, " argv=");
		put_argv(out, i->argv, i->argc);
	}
	if (i->has_boot_partition) {
		put(out, " boot-partition=");
		put_text_word(out, &i->boot_partition);
	}
	put(out, " started=");
	put_time(out, i->started);
	/* solo5: a SHA-256; bhyve: the VM name as text (§6.7). */
	put(out, " digest=");
	if (i->typ == PT_TYP_BHYVE)
		put_quoted(out, (const char *)i->digest.data, i->digest.len);
	else if (i->digest.data != NULL)
		put_hex(out, i->digest.data, i->digest.len, PRINT_DIGEST_HEX);
	return done(out);
}

/* ---- policies ---- */

int
pt_policy_print(const pt_policy *p, pt_buf *out)
{
	pt_buf_printf(out, "unikernels=%" PRId64 " memory=%" PRId64 "MB",
	    p->unikernels, p->memory);
	if (p->has_block)
		pt_buf_printf(out, " block=%" PRId64 "MB", p->block);
	else
		put(out, " block=none");
	put(out, " cpuids=");
	put_int_list(out, p->cpuids, p->ncpuids);
	put(out, " bridges=");
	put_list(out, p->bridges, p->nbridges, put_text_el);
	return done(out);
}

/* ---- commands ---- */

const char *
pt_cmd_kind_name(pt_cmd_kind k)
{
	switch (k) {
	case PT_CMD_CONSOLE_ADD: return "console add";
	case PT_CMD_CONSOLE_SUBSCRIBE: return "console subscribe";
	case PT_CMD_CONSOLE_LIST_INACTIVE: return "console list-inactive";
	case PT_CMD_STATS_ADD: return "stats add";
	case PT_CMD_STATS_REMOVE: return "stats remove";
	case PT_CMD_STATS_SUBSCRIBE: return "stats subscribe";
	case PT_CMD_STATS_INITIAL: return "stats initial";
	case PT_CMD_UK_DESTROY: return "unikernel destroy";
	case PT_CMD_UK_CREATE: return "unikernel create";
	case PT_CMD_UK_FORCE_CREATE: return "unikernel force-create";
	case PT_CMD_UK_GET: return "unikernel get";
	case PT_CMD_UK_RESTART: return "unikernel restart";
	case PT_CMD_UK_INFO: return "unikernel info";
	case PT_CMD_UK_INFO_OLD4: return "unikernel info-old4";
	case PT_CMD_UK_INFO_OLD5: return "unikernel info-old5";
	case PT_CMD_POLICY_INFO: return "policy info";
	case PT_CMD_POLICY_ADD: return "policy add";
	case PT_CMD_POLICY_REMOVE: return "policy remove";
	case PT_CMD_BLOCK_INFO: return "block info";
	case PT_CMD_BLOCK_ADD: return "block add";
	case PT_CMD_BLOCK_REMOVE: return "block remove";
	case PT_CMD_BLOCK_ADD_OLD: return "block add-old";
	case PT_CMD_BLOCK_SET_OLD: return "block set-old";
	case PT_CMD_BLOCK_DUMP_OLD: return "block dump-old";
	case PT_CMD_BLOCK_DUMP: return "block dump";
	case PT_CMD_BLOCK_SET: return "block set";
	case PT_CMD_LOG_SUBSCRIBE: return "log subscribe";
	case PT_CMD_LOG_RECORD: return "log record";
	}
	return "unknown command";
}

static void
put_compressed(pt_buf *out, bool compressed)
{
	put(out, compressed ? "compressed" : "uncompressed");
}

static void
put_stats_net_el(pt_buf *out, const void *list, size_t i)
{
	const pt_stats_net *n = (const pt_stats_net *)list + i;
	put_text_word(out, &n->name);
	put(out, "=");
	put_text_word(out, &n->tap);
}

static void
put_stats_add(pt_buf *out, const pt_stats_add *s)
{
	put(out, " vmmdev=");
	put_text_word(out, &s->vmmdev);
	pt_buf_printf(out, " pid=%" PRId64 " nets=", s->pid);
	put_list(out, s->nets, s->nnets, put_stats_net_el);
}

static void
put_subscribe(pt_buf *out, const pt_subscribe *s)
{
	if (s->by_count) {
		pt_buf_printf(out, " count=%" PRId64, s->count);
	} else {
		put(out, " since=");
		put_time(out, s->since);
	}
}

/* Restart arguments: the configuration minus typ, compression and image,
 * which a restart keeps. */
static void
put_restart(pt_buf *out, const pt_restart *r)
{
	if (!r->has_args)
		return;
	put(out, ":");
	put_config_fields(out, &r->args);
	if (r->args_version != 3)
		pt_buf_printf(out, " (legacy arguments [%d])", r->args_version);
}

/* Commands without arguments print their name only. */
int
pt_command_print(const pt_command *c, pt_buf *out)
{
	put(out, pt_cmd_kind_name(c->kind));
	switch (c->kind) {
	case PT_CMD_CONSOLE_ADD:
		pt_buf_printf(out, " %" PRId64, c->u.count);
		break;
	case PT_CMD_CONSOLE_SUBSCRIBE:
		put_subscribe(out, &c->u.subscribe);
		break;
	case PT_CMD_STATS_ADD:
		put_stats_add(out, &c->u.stats_add);
		break;
	case PT_CMD_UK_CREATE:
	case PT_CMD_UK_FORCE_CREATE:
		put(out, ": ");
		pt_ukconfig_print(&c->u.config, out);
		if (c->config_version != 0 && c->config_version != PT_WIRE_VERSION)
			pt_buf_printf(out, " (legacy v%d configuration)",
			    c->config_version);
		break;
	case PT_CMD_UK_GET:
	case PT_CMD_BLOCK_DUMP_OLD:
	case PT_CMD_BLOCK_DUMP:
		pt_buf_printf(out, " level=%" PRId64, c->u.level);
		break;
	case PT_CMD_UK_RESTART:
		put_restart(out, &c->u.restart);
		break;
	case PT_CMD_POLICY_ADD:
		put(out, ": ");
		pt_policy_print(&c->u.policy, out);
		break;
	case PT_CMD_BLOCK_ADD:
		pt_buf_printf(out, " %" PRId64 "MB", c->u.size_mb);
		break;
	case PT_CMD_BLOCK_ADD_OLD:
		pt_buf_printf(out, " %" PRId64 "MB ", c->u.block_add_old.size_mb);
		put_compressed(out, c->u.block_add_old.compressed);
		if (c->u.block_add_old.has_data) {
			put(out, " data=");
			put_blob(out, &c->u.block_add_old.data, PRINT_BLOB_HEX);
		}
		break;
	case PT_CMD_BLOCK_SET_OLD:
		put(out, " ");
		put_compressed(out, c->u.block_set_old.compressed);
		put(out, " data=");
		put_blob(out, &c->u.block_set_old.data, PRINT_BLOB_HEX);
		break;
	case PT_CMD_BLOCK_SET:
		put(out, " ");
		put_compressed(out, c->u.compressed);
		break;
	case PT_CMD_LOG_SUBSCRIBE:
		if (c->u.log.has_since) {
			put(out, " since ");
			put_time(out, c->u.log.since_ms);
		}
		if (c->u.log.follow)
			put(out, " follow");
		break;
	case PT_CMD_LOG_RECORD:
		put(out, ": ");
		pt_event_print(&c->u.record, out);
		break;
	default:
		break;
	}
	return done(out);
}

/* ---- success replies ---- */

static void
put_named_policy_el(pt_buf *out, const void *list, size_t i)
{
	const pt_named_policy *p = (const pt_named_policy *)list + i;
	put_name(out, &p->name);
	put(out, " {");
	pt_policy_print(&p->policy, out);
	put(out, "}");
}

static void
put_block_entry_el(pt_buf *out, const void *list, size_t i)
{
	const pt_block_entry *b = (const pt_block_entry *)list + i;
	put_name(out, &b->name);
	pt_buf_printf(out, " %" PRId64 "MB", b->size_mb);
	if (b->active)
		put(out, " active");
}

static void
put_named_info_el(pt_buf *out, const void *list, size_t i)
{
	const pt_named_info *n = (const pt_named_info *)list + i;
	put_name(out, &n->name);
	put(out, " {");
	pt_ukinfo_print(&n->info, out);
	put(out, "}");
}

static void
put_image(pt_buf *out, const pt_image *img)
{
	put(out, " ");
	put_compressed(out, img->compressed);
	put(out, " ");
	put_blob(out, &img->data, PRINT_BLOB_HEX);
}

static void
put_success(pt_buf *out, const pt_success *s)
{
	put(out, "success");
	switch (s->kind) {
	case PT_OK_EMPTY:
		break;
	case PT_OK_STRING:
		put(out, " ");
		put_quoted(out, s->u.string.s == NULL ? "" : s->u.string.s,
		    s->u.string.s == NULL ? 0 : s->u.string.len);
		break;
	case PT_OK_POLICIES:
		put(out, " policies ");
		put_list(out, s->u.policies.v, s->u.policies.n,
		    put_named_policy_el);
		break;
	case PT_OK_BLOCK_DEVICES:
		put(out, " block-devices ");
		put_list(out, s->u.blocks.v, s->u.blocks.n, put_block_entry_el);
		break;
	case PT_OK_UNIKERNEL_IMAGE:
		put(out, " unikernel-image");
		put_image(out, &s->u.image);
		break;
	case PT_OK_OLD_BLOCK_IMAGE:
		put(out, " old-block-device-image");
		put_image(out, &s->u.image);
		break;
	case PT_OK_OLD_UNIKERNEL_INFO4:
	case PT_OK_OLD_UNIKERNEL_INFO5:
	case PT_OK_UNIKERNEL_INFO:
		put(out, s->kind == PT_OK_UNIKERNEL_INFO ? " unikernel-info " :
		    s->kind == PT_OK_OLD_UNIKERNEL_INFO5 ?
		    " old-unikernel-info5 " : " old-unikernel-info4 ");
		put_list(out, s->u.infos.v, s->u.infos.n, put_named_info_el);
		break;
	case PT_OK_BLOCK_IMAGE:
		put(out, " block-device-image ");
		put_compressed(out, s->u.compressed);
		break;
	case PT_OK_CONSOLES:
		put(out, " consoles ");
		put_list(out, s->u.consoles.v, s->u.consoles.n, put_name_el);
		break;
	default:
		pt_buf_printf(out, " unknown(%d)", (int)s->kind);
	}
}

/* ---- data ---- */

static void
put_ifdata_el(pt_buf *out, const void *list, size_t i)
{
	const pt_ifdata *d = (const pt_ifdata *)list + i;
	put_text_word(out, &d->bridge);
	pt_buf_printf(out,
	    " mtu=%" PRId64 " rx=%" PRId64 "p/%" PRId64 "B"
	    " tx=%" PRId64 "p/%" PRId64 "B"
	    " rx-errors=%" PRId64 " tx-errors=%" PRId64
	    " rx-dropped=%" PRId64 " tx-dropped=%" PRId64,
	    d->mtu, d->input_packets, d->input_bytes, d->output_packets,
	    d->output_bytes, d->input_errors, d->output_errors,
	    d->input_dropped, d->output_dropped);
}

static void
put_vmm_el(pt_buf *out, const void *list, size_t i)
{
	const pt_vmmstat *v = (const pt_vmmstat *)list + i;
	put_text_word(out, &v->key);
	pt_buf_printf(out, "=%" PRId64, v->value);
}

static void
put_stats(pt_buf *out, const pt_stats *s)
{
	const pt_rusage *r = &s->rusage;
	put(out, " utime=");
	put_timeval(out, &r->utime);
	put(out, " stime=");
	put_timeval(out, &r->stime);
	pt_buf_printf(out,
	    " maxrss=%" PRId64 " minflt=%" PRId64 " majflt=%" PRId64
	    " nvcsw=%" PRId64 " nivcsw=%" PRId64,
	    r->maxrss, r->minflt, r->majflt, r->nvcsw, r->nivcsw);
	put(out, " ifdata=");
	put_list(out, s->ifdata, s->nifdata, put_ifdata_el);
	if (s->has_vmm) {
		put(out, " vmm=");
		put_list(out, s->vmm, s->nvmm, put_vmm_el);
	}
	if (s->has_kinfo) {
		const pt_kinfo_mem *k = &s->kinfo;
		pt_buf_printf(out,
		    " kinfo={vsize=%" PRId64 " rss=%" PRId64 " tsize=%" PRId64
		    " dsize=%" PRId64 " ssize=%" PRId64 " runtime=%" PRId64
		    " cow=%" PRId64 " start=",
		    k->vsize, k->rss, k->tsize, k->dsize, k->ssize, k->runtime,
		    k->cow);
		put_timeval(out, &k->start);
		put(out, "}");
	}
}

static void
put_data(pt_buf *out, const pt_data *d)
{
	put(out, "data");
	switch (d->kind) {
	case PT_DATA_STATS:
		put(out, " stats");
		put_stats(out, &d->u.stats);
		break;
	case PT_DATA_CONSOLE:
		put(out, " console ");
		put_time(out, d->u.console.time);
		put(out, " ");
		put_quoted(out,
		    d->u.console.line.s == NULL ? "" : d->u.console.line.s,
		    d->u.console.line.s == NULL ? 0 : d->u.console.line.len);
		break;
	case PT_DATA_BLOCK_CHUNK:
		put(out, " block chunk ");
		put_blob(out, &d->u.chunk, PRINT_BLOB_HEX);
		break;
	case PT_DATA_BLOCK_END:
		put(out, " block end");
		break;
	case PT_DATA_LOG:
		put(out, " log ");
		pt_event_print(&d->u.event, out);
		break;
	default:
		pt_buf_printf(out, " unknown(%d)", (int)d->kind);
	}
}

/* ---- the message ---- */

int
pt_wire_print(const pt_wire *w, pt_buf *out)
{
	pt_buf_printf(out, "seq %" PRId64 " ", w->header.sequence);
	put_name(out, &w->header.name);
	if (w->header.version != PT_WIRE_VERSION)
		pt_buf_printf(out, " version=%" PRId64, w->header.version);
	put(out, " ");
	switch (w->kind) {
	case PT_PAYLOAD_COMMAND:
		put(out, "command ");
		pt_command_print(&w->u.command, out);
		break;
	case PT_PAYLOAD_SUCCESS:
		put_success(out, &w->u.success);
		break;
	case PT_PAYLOAD_FAILURE:
		put(out, "failure ");
		put_quoted(out, w->u.failure.s == NULL ? "" : w->u.failure.s,
		    w->u.failure.s == NULL ? 0 : w->u.failure.len);
		break;
	case PT_PAYLOAD_DATA:
		put_data(out, &w->u.data);
		break;
	default:
		pt_buf_printf(out, "unknown payload (%d)", (int)w->kind);
	}
	return done(out);
}

void
pt_print_quoted(pt_buf *out, const char *s, size_t len)
{
	put_quoted(out, s == NULL ? "" : s, s == NULL ? 0 : len);
}
