/*
 * libFuzzer target: petrel-stats's parsers of what the kernel reports
 * (src/stats/metrics.h). The kernel is trusted more than a peer, but a
 * parser bug must still not read out of bounds, and recorded or future
 * formats must be refused cleanly.
 *
 * Input layout: byte 0 picks the parser (0 /proc/<pid>/stat, 1 status,
 * 2 io, 3 KVM binary statistics), the rest is the file.
 *
 * Oracles: /proc parsers fill what they claim; a KVM layout that parses
 * has value offsets inside its data block and NUL-terminated names, and
 * reading the values from the input's tail (if it is long enough) stays
 * in bounds and sums twice what it reads once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
kvm(const uint8_t *p, size_t n)
{
	pt_kvm_layout l;
	size_t need;
	if (pt_kvm_parse_layout(p, n, &l, &need, NULL) < 0) {
		if (need != 0 && need <= n)
			abort();  /* "too short" must mean too short */
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		if ((uint64_t)l.v[i].offset + 8 > l.data_size)
			abort();
		if (memchr(l.v[i].name, 0, sizeof(l.v[i].name)) == NULL)
			abort();
	}
	/* The data block as a copy of exactly data_size bytes, so that ASan
	 * sees any read beyond it. */
	if (l.data_offset <= n && n - l.data_offset >= l.data_size) {
		uint8_t *block = malloc(l.data_size ? l.data_size : 1);
		memcpy(block, p + l.data_offset, l.data_size);
		pt_kvm_stat *once = calloc(l.n ? l.n : 1, sizeof(*once));
		pt_kvm_stat *twice = calloc(l.n ? l.n : 1, sizeof(*twice));
		if (pt_kvm_read_values(&l, block, l.data_size, once, NULL) < 0 ||
		    pt_kvm_read_values(&l, block, l.data_size, twice, NULL) < 0 ||
		    pt_kvm_read_values(&l, block, l.data_size, twice, NULL) < 0)
			abort();
		for (size_t i = 0; i < l.n; i++)
			if (twice[i].value != once[i].value * 2)
				abort();
		free(once);
		free(twice);
		free(block);
	}
	pt_kvm_layout_free(&l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* A heap copy of exactly the file's bytes (no NUL after it). */
	size_t n = size - 1;
	char *text = malloc(n ? n : 1);
	memcpy(text, data + 1, n);
	pt_procinfo p;
	memset(&p, 0, sizeof(p));
	switch (data[0] & 3) {
	case 0:
		if (pt_proc_parse_stat(text, n, &p, NULL) == 0 &&
		    memchr(text, ')', n) == NULL)
			abort();
		break;
	case 1:
		if (pt_proc_parse_status(text, n, &p, NULL) == 0 &&
		    (p.nvcsw < 0 || p.nivcsw < 0))
			abort();
		break;
	case 2:
		if ((pt_proc_parse_io(text, n, &p, NULL) == 0) != p.has_io)
			abort();
		break;
	default:
		kvm((const uint8_t *)text, n);
		break;
	}
	pt_rusage ru;
	pt_kinfo_mem km;
	pt_proc_to_rusage(&p, 100, &ru);
	pt_proc_to_kinfo(&p, 100, 4, 0, &km);
	free(text);
	return 0;
}
