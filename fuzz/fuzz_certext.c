/*
 * libFuzzer target: pt_certext_decode, the contents of the albatross
 * X.509 extension (§9.2), which arrives inside client certificates.
 * Same oracle as fuzz_wire (fuzz_common.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pt_arena a = {.limit = FUZZ_ARENA_LIMIT};
	pt_arena a2 = {.limit = FUZZ_ARENA_LIMIT};
	pt_certext c, c2;
	pt_err err;
	memset(&err, 0, sizeof(err));
	if (pt_certext_decode(data, size, &a, &c, &err) != 0) {
		if (err.msg[0] == '\0')
			fuzz_die("decode", "rejected without a reason", data,
			    size);
		pt_arena_free(&a);
		return 0;
	}
	pt_buf e1 = {0}, e2 = {0}, line = {0};
	if (pt_certext_encode(&c, &e1, &err) != 0)
		fuzz_die("encode of a decoded extension", err.msg, data, size);
	if (pt_certext_decode(e1.data, e1.len, &a2, &c2, &err) != 0)
		fuzz_die("decode of the re-encoding", err.msg, data, size);
	if (pt_certext_encode(&c2, &e2, &err) != 0)
		fuzz_die("second encode", err.msg, data, size);
	fuzz_check_same_bytes(&e1, &e2, data, size);
	fuzz_current_form(&c.command);
	if (!tl_eq_certext(&c, &c2))
		fuzz_die("decode(encode(decode(x)))", "differs (see above)",
		    data, size);
	pt_command_print(&c.command, &line);
	pt_command_print(&c2.command, &line);
	fuzz_check_line(&line, data, size);
	pt_buf_free(&line);
	pt_buf_free(&e2);
	pt_buf_free(&e1);
	pt_arena_free(&a2);
	pt_arena_free(&a);
	return 0;
}
