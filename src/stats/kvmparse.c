/*
 * KVM's binary statistics format (linux/kvm.h: struct kvm_stats_header,
 * struct kvm_stats_desc; Documentation/virt/kvm/api.rst, "KVM_GET_STATS_FD"):
 *
 *   header  u32 flags, name_size, num_desc, id_offset, desc_offset,
 *           data_offset (native endian)
 *   desc    num_desc times: u32 flags, s16 exponent, u16 size,
 *           u32 offset, u32 bucket_size, char name[name_size]
 *   data    at data_offset + desc.offset: desc.size u64 values
 *
 * Everything is checked against the bytes at hand: a kernel bug or a
 * recorded file must not make the daemon read out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define HDR_SIZE 24
#define DESC_FIXED 16
/* Far beyond any kernel's (a few dozen stats, names of up to 48 bytes). */
#define MAX_DESC 4096
#define MAX_NAME_SIZE 4096

#define TYPE_MASK 0xF
#define TYPE_CUMULATIVE 0x0
#define TYPE_INSTANT 0x1
#define TYPE_PEAK 0x2

static uint32_t
u32_at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t
u16_at(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

void
pt_kvm_layout_free(pt_kvm_layout *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
pt_kvm_parse_layout(const uint8_t *p, size_t n, pt_kvm_layout *out,
    size_t *need, pt_err *err)
{
	memset(out, 0, sizeof(*out));
	*need = 0;
	if (n < HDR_SIZE) {
		*need = HDR_SIZE;
		return pt_fail(err, "KVM stats: header truncated (%zu bytes)",
		    n);
	}
	uint32_t name_size = u32_at(p + 4), num = u32_at(p + 8);
	uint32_t desc_off = u32_at(p + 16), data_off = u32_at(p + 20);
	if (name_size == 0 || name_size > MAX_NAME_SIZE || num > MAX_DESC)
		return pt_fail(err, "KVM stats: implausible header (%u "
		    "descriptors, names of %u bytes)", num, name_size);
	if (desc_off < HDR_SIZE)
		return pt_fail(err, "KVM stats: descriptors at %u overlap the "
		    "header", desc_off);
	size_t stride = DESC_FIXED + (size_t)name_size;
	size_t end = (size_t)desc_off + (size_t)num * stride;
	if (end > n) {
		*need = end;
		return pt_fail(err, "KVM stats: descriptors truncated (%zu of "
		    "%zu bytes)", n, end);
	}
	out->v = calloc(num ? num : 1, sizeof(*out->v));
	if (out->v == NULL)
		return pt_fail(err, "out of memory");
	out->data_offset = data_off;
	uint64_t data_end = 0;
	for (uint32_t i = 0; i < num; i++) {
		const uint8_t *d = p + desc_off + (size_t)i * stride;
		uint32_t flags = u32_at(d);
		uint16_t size = u16_at(d + 6);
		uint32_t off = u32_at(d + 8);
		const char *name = (const char *)(d + DESC_FIXED);
		uint32_t type = flags & TYPE_MASK;
		uint64_t last = (uint64_t)off + (uint64_t)size * 8;
		if (last > UINT32_MAX) {
			pt_kvm_layout_free(out);
			return pt_fail(err, "KVM stats: descriptor %u points "
			    "beyond 4 GiB", i);
		}
		if (last > data_end)
			data_end = last;
		if (size != 1 || (type != TYPE_CUMULATIVE &&
		    type != TYPE_INSTANT && type != TYPE_PEAK))
			continue;  /* histograms */
		if ((off & 7) != 0) {
			pt_kvm_layout_free(out);
			return pt_fail(err, "KVM stats: value of descriptor %u "
			    "is not aligned", i);
		}
		size_t nl = strnlen(name, name_size);
		if (nl == 0)
			continue;
		if (nl >= PT_KVM_STAT_NAME_MAX)
			nl = PT_KVM_STAT_NAME_MAX - 1;
		memcpy(out->v[out->n].name, name, nl);
		out->v[out->n].name[nl] = '\0';
		out->v[out->n].offset = off;
		out->n++;
	}
	out->data_size = (uint32_t)data_end;
	return 0;
}

int
pt_kvm_read_values(const pt_kvm_layout *l, const uint8_t *data, size_t n,
    pt_kvm_stat *acc, pt_err *err)
{
	if (n < l->data_size)
		return pt_fail(err, "KVM stats: data truncated (%zu of %u "
		    "bytes)", n, l->data_size);
	for (size_t i = 0; i < l->n; i++) {
		uint64_t v;
		memcpy(&v, data + l->v[i].offset, 8);
		if (acc[i].name[0] == '\0')
			memcpy(acc[i].name, l->v[i].name, sizeof(acc[i].name));
		acc[i].value += v;
	}
	return 0;
}
