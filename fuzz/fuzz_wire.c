/*
 * libFuzzer target: pt_wire_decode on arbitrary bytes (one frame body).
 * Rejections must carry a reason; accepted messages must re-encode to a
 * fixed point, decode back to the same value and print as one line
 * (fuzz_common.h).
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
	pt_wire w, w2;
	pt_err err;
	memset(&err, 0, sizeof(err));
	if (pt_wire_decode(data, size, &a, &w, &err) != 0) {
		if (err.msg[0] == '\0')
			fuzz_die("decode", "rejected without a reason", data,
			    size);
		pt_arena_free(&a);
		return 0;
	}
	pt_buf e1 = {0}, e2 = {0}, line = {0};
	if (pt_wire_encode(&w, &e1, &err) != 0)
		fuzz_die("encode of a decoded message", err.msg, data, size);
	if (pt_wire_decode(e1.data, e1.len, &a2, &w2, &err) != 0)
		fuzz_die("decode of the re-encoding", err.msg, data, size);
	if (pt_wire_encode(&w2, &e2, &err) != 0)
		fuzz_die("second encode", err.msg, data, size);
	fuzz_check_same_bytes(&e1, &e2, data, size);
	if (w.kind == PT_PAYLOAD_COMMAND)
		fuzz_current_form(&w.u.command);
	if (!tl_eq_wire(&w, &w2))
		fuzz_die("decode(encode(decode(x)))", "differs (see above)",
		    data, size);
	pt_wire_print(&w, &line);
	pt_wire_print(&w2, &line);
	fuzz_check_line(&line, data, size);
	pt_buf_free(&line);
	pt_buf_free(&e2);
	pt_buf_free(&e1);
	pt_arena_free(&a2);
	pt_arena_free(&a);
	return 0;
}
