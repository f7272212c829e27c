/*
 * A stand-in for the Solo5 tenders solo5-hvt and solo5-spt (Solo5 is not
 * packaged in Debian). Built twice, as solo5-hvt and solo5-spt; the target
 * comes from the basename of argv[0].
 *
 * The tender part follows solo5.md §5-§8 and the observed behaviour of
 * §10: the same two-pass command line, the same image checks (through
 * petrel's own pt_solo5_inspect), the same messages and exit statuses,
 * and it REALLY attaches the taps (TUNSETIFF) and opens the block files,
 * so that every petrel code path is the one a real tender drives.
 *
 * There is no guest to run, so the "unikernel" is this program too: it
 * prints a short Solo5 banner and then obeys its arguments (the words of
 * the guest command line, which is split on spaces as a real guest sees
 * it). TEXT may use %XX escapes (%20 for a space).
 *
 *   print:TEXT   lines:N   stderr:TEXT   exit:N   sleep:MS   abort
 *   run          (until SIGTERM/SIGINT)
 *   echo         (sends every frame read from the taps back, until killed)
 *   block-write:NAME:OFFSET:TEXT   block-read:NAME:OFFSET:LEN
 *   reject-name  (a leading --name=... is then refused with exit 64)
 *
 * A leading --name=<x> is printed as "Solo5: name <x>" and skipped, unless
 * reject-name is given or PETREL_FAKE_REJECT_NAME is set: then it exits 64,
 * like a MirageOS unikernel given an unknown argument. Any other unknown
 * word exits 64 too.
 *
 * ABI version: PETREL_FAKE_ABI at build time (2), or the environment
 * variable PETREL_FAKE_ABI at run time.
 *
 * Deviations (harmless for an orchestrator): guest block I/O is byte
 * granular (a real guest does whole sectors); no KVM, no seccomp; --mem
 * is checked and reported but nothing is reserved.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "solo5.h"

#ifndef PETREL_FAKE_ABI
#define PETREL_FAKE_ABI 2
#endif
#define FAKE_VERSION "v0.12.1-petrel-fake"
#define CMDLINE_SIZE 8192
#define IFACE_SCAN_MAX 19
#define MAX_FRAME 65536

typedef struct {
	const pt_mft_device *mft;
	bool attached;
	int fd;
	char iface[IFACE_SCAN_MAX + 1];
	char path[PATH_MAX];
	unsigned sector_size;
	uint64_t capacity;
} device;

static const char *prog;
static uint32_t my_target;
static const char *kernel;
static pt_solo5_manifest manifest;
static device devices[PT_MFT_MAX_ENTRIES];
static size_t ndevices;
static long long mem_mb = 512;
static char cmdline[CMDLINE_SIZE];
static char *words[CMDLINE_SIZE / 2 + 1];
static size_t nwords;

static void
warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
warnx_(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(void) __attribute__((noreturn));

static void
usage(void)
{
	bool spt = my_target == PT_SOLO5_TARGET_SPT;
	fprintf(stderr, "usage: %s [ CORE OPTIONS ]%s [ -- ] KERNEL [ ARGS ]\n",
	    prog, spt ? "" : " [ MODULE OPTIONS ]");
	fprintf(stderr, "KERNEL is the filename of the unikernel to run.\n"
	    "ARGS are optional arguments passed to the unikernel.\n"
	    "Core options:\n"
	    "  [ --mem=512 ] (guest memory in MB)\n"
	    "    --help (display this help)\n");
	if (!spt)
		fprintf(stderr, "    --version (display version information)\n");
	fprintf(stderr, "Compiled-in modules: net block%s\n"
	    "Compiled-in module options:\n"
	    "    [ --net:NAME=IFACE | @NN ] [ --net-mac:NAME=HH:HH:HH:HH:HH:HH ]\n"
	    "    [ --block:NAME=PATH ] [ --block-sector-size:NAME=N ]\n",
	    spt ? " spt" : "");
	if (spt)
		fprintf(stderr, "    [ --x-exec-heap ]\n");
	exit(1);
}

static void
invalid_option(const char *opt) __attribute__((noreturn));

static void
invalid_option(const char *opt)
{
	warnx_("Invalid option: `%s'", opt);
	usage();
}

static uint32_t
abi_version(void)
{
	const char *env = getenv("PETREL_FAKE_ABI");
	if (env != NULL && *env != '\0')
		return (uint32_t)strtoul(env, NULL, 10);
	return PETREL_FAKE_ABI;
}

/* ---- the image ---- */

/* What the tender's elf_load + mft_validate do (§5.1 step 2). */
static void
load_kernel(void)
{
	int fd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		warnx_("%s: Could not open: %s", kernel, strerror(errno));
		exit(1);
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		warnx_("%s: Invalid or unsupported executable", kernel);
		exit(1);
	}
	pt_solo5_abi abi;
	pt_err err;
	if (pt_solo5_inspect(pt_read_at_fd, &fd, (uint64_t)st.st_size, &abi,
	    NULL, &err) != 0) {
		warnx_("%s: Invalid or unsupported executable: %s", kernel,
		    err.msg);
		exit(1);
	}
	if (abi.target != my_target) {
		warnx_("%s: Executable is not for the solo5-%s target", kernel,
		    pt_solo5_target_name(my_target));
		exit(1);
	}
	if (abi.version != abi_version()) {
		warnx_("%s: Executable requests unsupported ABI version %u",
		    kernel, abi.version);
		exit(1);
	}
	if (pt_solo5_inspect(pt_read_at_fd, &fd, (uint64_t)st.st_size, NULL,
	    &manifest, &err) != 0) {
		warnx_("%s: Solo5 manifest is invalid: %s", kernel, err.msg);
		exit(1);
	}
	close(fd);
	for (size_t i = 0; i < manifest.ndevices; i++) {
		devices[i].mft = &manifest.devices[i];
		devices[i].fd = -1;
		devices[i].sector_size = 512;
	}
	ndevices = manifest.ndevices;
}

static device *
find_device(const char *name, uint32_t type)
{
	for (size_t i = 0; i < ndevices; i++)
		if (devices[i].mft->type == type &&
		    strcmp(devices[i].mft->name, name) == 0)
			return &devices[i];
	return NULL;
}

/* ---- options (second pass) ---- */

/* The tenders' sscanf("<prefix>%67[A-Za-z0-9]=%<max>s") as code: returns
 * false unless both fields matched. */
static bool
scan_dev_opt(const char *arg, const char *prefix, char name[PT_MFT_NAME_SIZE],
    char *value, size_t max)
{
	size_t plen = strlen(prefix), n = 0;
	if (strncmp(arg, prefix, plen) != 0)
		return false;
	arg += plen;
	while (n < PT_MFT_NAME_SIZE - 1 &&
	    ((arg[n] >= 'a' && arg[n] <= 'z') ||
	    (arg[n] >= 'A' && arg[n] <= 'Z') || (arg[n] >= '0' && arg[n] <= '9')))
		n++;
	if (n == 0 || arg[n] != '=')
		return false;
	memcpy(name, arg, n);
	name[n] = '\0';
	arg += n + 1;
	while (*arg == ' ' || (*arg >= '\t' && *arg <= '\r'))
		arg++;
	n = 0;
	while (n < max && arg[n] != '\0' && arg[n] != ' ' &&
	    !(arg[n] >= '\t' && arg[n] <= '\r'))
		n++;
	if (n == 0)
		return false;
	memcpy(value, arg, n);
	value[n] = '\0';
	return true;
}

static device *
declared(const char *name, uint32_t type, const char *opt)
{
	device *d = find_device(name, type);
	if (d == NULL) {
		warnx_("Resource not declared in manifest: '%s'", name);
		invalid_option(opt);
	}
	return d;
}

/* solo5.md §6.1: the interface must exist and be up; then TUNSETIFF. */
static int
tap_attach(const char *iface)
{
	struct ifreq ifr;
	/* v0.12.1 parses "@FD" but then fails without setting errno (§6.1). */
	if (iface[0] == '@') {
		errno = 0;
		return -1;
	}
	if (strlen(iface) >= IFNAMSIZ) {
		errno = EINVAL;
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, iface);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	int saved = errno;
	close(s);
	if (rc != 0) {
		errno = saved == ENODEV ? ENOENT : saved;
		return -1;
	}
	if (!(ifr.ifr_flags & (IFF_UP | IFF_RUNNING))) {
		errno = ENETDOWN;
		return -1;
	}
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strcpy(ifr.ifr_name, iface);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (strncmp(ifr.ifr_name, iface, IFNAMSIZ) != 0) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static bool
opt_net(const char *arg)
{
	char name[PT_MFT_NAME_SIZE], iface[IFACE_SCAN_MAX + 1];
	if (!scan_dev_opt(arg, "--net:", name, iface, IFACE_SCAN_MAX))
		return false;
	device *d = declared(name, PT_MFT_NET_BASIC, arg);
	if (d->attached) {
		warnx_("Device '%s' already attached", name);
		invalid_option(arg);
	}
	int fd = tap_attach(iface);
	if (fd < 0) {
		warnx_("Could not attach interface: %s: %s", iface,
		    strerror(errno));
		invalid_option(arg);
	}
	d->fd = fd;
	d->attached = true;
	strcpy(d->iface, iface);
	return true;
}

static bool
opt_net_mac(const char *arg)
{
	char name[PT_MFT_NAME_SIZE], mac[21];
	unsigned b[6];
	char end;
	if (!scan_dev_opt(arg, "--net-mac:", name, mac, 20))
		return false;
	declared(name, PT_MFT_NET_BASIC, arg);
	if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
	    &b[3], &b[4], &b[5], &end) != 6) {
		warnx_("Malformed mac address: %s", mac);
		invalid_option(arg);
	}
	return true;
}

static bool
opt_block(const char *arg)
{
	char name[PT_MFT_NAME_SIZE], path[PATH_MAX];
	if (!scan_dev_opt(arg, "--block:", name, path, PATH_MAX - 1))
		return false;
	device *d = declared(name, PT_MFT_BLOCK_BASIC, arg);
	if (d->attached) {
		warnx_("Device '%s' already attached", name);
		invalid_option(arg);
	}
	strcpy(d->path, path);
	d->attached = true;
	return true;
}

static bool
opt_block_sector_size(const char *arg)
{
	char name[PT_MFT_NAME_SIZE], val[8];
	if (!scan_dev_opt(arg, "--block-sector-size:", name, val, 7))
		return false;
	device *d = declared(name, PT_MFT_BLOCK_BASIC, arg);
	char *end;
	unsigned long n = strtoul(val, &end, 10);
	if (val[0] < '0' || val[0] > '9' || n < 512 || n > 32768 ||
	    (n & (n - 1)) != 0) {
		warnx_("Block size must be a multiple of 2 greater than or "
		    "equal 512");
		invalid_option(arg);
	}
	d->sector_size = (unsigned)n;
	return true;
}

/* sscanf("--mem=%zd"): leading digits, the rest ignored; 0 is refused. */
static void
opt_mem(const char *arg)
{
	const char *v = arg + strlen("--mem=");
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (end == v || errno != 0 || n <= 0 || n > (LLONG_MAX >> 20)) {
		warnx_("Malformed argument to --mem");
		exit(1);
	}
	mem_mb = n;
}

static void
second_pass(int first, int kernel_idx, char **argv)
{
	for (int i = first; i < kernel_idx; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--mem=", 6) == 0)
			opt_mem(a);
		else if (opt_net(a) || opt_net_mac(a) || opt_block(a) ||
		    opt_block_sector_size(a))
			continue;
		else if (my_target == PT_SOLO5_TARGET_SPT &&
		    strcmp(a, "--x-exec-heap") == 0)
			warnx_("WARNING: The use of --x-exec-heap is dangerous");
		else
			invalid_option(a);
	}
}

/* §5.4 and §6.2. */
static void
setup_devices(void)
{
	bool missing = false;
	for (size_t i = 0; i < ndevices; i++) {
		if (devices[i].attached)
			continue;
		warnx_("Device '%s' of type %s declared but not attached.",
		    devices[i].mft->name,
		    devices[i].mft->type == PT_MFT_NET_BASIC ? "NET_BASIC" :
		    "BLOCK_BASIC");
		missing = true;
	}
	if (missing) {
		warnx_("All declared devices must be attached. See --help for "
		    "syntax.");
		exit(1);
	}
	for (size_t i = 0; i < ndevices; i++) {
		device *d = &devices[i];
		if (d->mft->type != PT_MFT_BLOCK_BASIC)
			continue;
		d->fd = open(d->path, O_RDWR | O_CLOEXEC);
		if (d->fd < 0) {
			warnx_("Could not open block device: %s: %s", d->path,
			    strerror(errno));
			exit(1);
		}
		off_t cap = lseek(d->fd, 0, SEEK_END);
		if (cap < 0) {
			warnx_("%s: Could not determine capacity: %s", d->path,
			    strerror(errno));
			exit(1);
		}
		if (cap < (off_t)d->sector_size) {
			warnx_("%s: Backing storage must be at least 1 block "
			    "(%u bytes) in size", d->path, d->sector_size);
			exit(1);
		}
		if ((cap & (off_t)(d->sector_size - 1)) != 0) {
			warnx_("%s: Backing storage size must be block aligned "
			    "(%u bytes)", d->path, d->sector_size);
			exit(1);
		}
		d->capacity = (uint64_t)cap;
	}
}

static void
setup_cmdline(int argc, char **argv, int first)
{
	size_t len = 0;
	for (int i = first; i < argc; i++) {
		size_t n = strlen(argv[i]) + (i > first ? 1 : 0);
		if (n > CMDLINE_SIZE - 1 - len) {
			warnx_("Guest command line too long (max=%d characters)",
			    CMDLINE_SIZE - 1);
			exit(1);
		}
		if (i > first)
			cmdline[len++] = ' ';
		memcpy(cmdline + len, argv[i], n - (i > first ? 1 : 0));
		len += n - (i > first ? 1 : 0);
	}
	cmdline[len] = '\0';
}

/* hvt on x86_64 (§5.2): whole 2 MiB pages, at most 4 GiB. */
static void
check_mem(void)
{
	if (my_target != PT_SOLO5_TARGET_HVT)
		return;
	long long pages = mem_mb / 2;
	if (pages > 2048) {
		warnx_("guest memory size %lld MB exceeds max 4096 MB", mem_mb);
		exit(1);
	}
	if (mem_mb % 2 != 0 || pages == 0) {
		if (pages == 0)
			pages = 1;
		mem_mb = pages * 2;
		warnx_("adjusting memory to %lld bytes", mem_mb << 20);
	}
}

/* ---- signals (§8) ---- */

static void
hvt_on_signal(int signo)
{
	/* errx(1, "Exiting on signal %d") of the real tender, made
	 * async-signal-safe. */
	char msg[64];
	size_t n = strlen(prog);
	if (n > 40)
		n = 40;
	memcpy(msg, prog, n);
	memcpy(msg + n, ": Exiting on signal ", 20);
	n += 20;
	if (signo >= 10)
		msg[n++] = (char)('0' + signo / 10);
	msg[n++] = (char)('0' + signo % 10);
	msg[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, msg, n);
	(void)w;
	_exit(1);
}

/* hvt catches SIGINT and SIGTERM; spt has no handler and dies from them. */
static void
setup_signals(void)
{
	if (my_target != PT_SOLO5_TARGET_HVT)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hvt_on_signal;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0) {
		warnx_("Could not install signal handler: %s", strerror(errno));
		exit(1);
	}
}

/* ---- the "unikernel" ---- */

static void
guest_exit(int code) __attribute__((noreturn));

static void
guest_exit(int code)
{
	printf("Solo5: solo5_exit(%d) called\n", code);
	fflush(stdout);
	exit(code & 0xff);
}

static void
guest_abort(const char *why) __attribute__((noreturn));

static void
guest_abort(const char *why)
{
	printf("Solo5: ABORT: solo5-fake.c: %s\n", why);
	fflush(stdout);
	exit(255);
}

/* An argument error, MirageOS style (exit 64). */
static void
guest_usage_error(const char *word) __attribute__((noreturn));

static void
guest_usage_error(const char *word)
{
	printf("fake-unikernel: unknown argument '%s'\n", word);
	guest_exit(64);
}

/* Decodes %XX escapes in place. */
static char *
unescape(char *s)
{
	char *w = s;
	for (const char *r = s; *r != '\0'; r++) {
		unsigned v;
		if (r[0] == '%' && r[1] != '\0' && r[2] != '\0' &&
		    sscanf(r + 1, "%2x", &v) == 1) {
			*w++ = (char)v;
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return s;
}

static bool
parse_ull(const char *s, unsigned long long *v)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static void
sleep_ms(unsigned long long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* block-write:NAME:OFFSET:TEXT / block-read:NAME:OFFSET:LEN */
static void
guest_block(char *word, bool is_write)
{
	char *name = strchr(word, ':') + 1;
	char *off_s = strchr(name, ':');
	char *arg = off_s != NULL ? strchr(off_s + 1, ':') : NULL;
	unsigned long long off, len;
	if (arg == NULL)
		guest_usage_error(word);
	*off_s++ = '\0';
	*arg++ = '\0';
	device *d = find_device(name, PT_MFT_BLOCK_BASIC);
	if (d == NULL || !parse_ull(off_s, &off))
		guest_usage_error(word);
	if (is_write)
		len = strlen(unescape(arg));
	else if (!parse_ull(arg, &len) || len > 65536)
		guest_usage_error(word);
	if (off > d->capacity || len > d->capacity - off) {
		printf("block %s: access beyond the device (%llu + %llu > "
		    "%llu)\n", name, off, len, (unsigned long long)d->capacity);
		guest_exit(2);
	}
	static char buf[65537];
	ssize_t r = is_write ? pwrite(d->fd, arg, len, (off_t)off) :
	    pread(d->fd, buf, len, (off_t)off);
	if (r < 0 || (unsigned long long)r != len) {
		/* Host I/O errors are fatal for the tender (§6.2). */
		warnx_("%s: block I/O failed: %s", d->path,
		    r < 0 ? strerror(errno) : "short transfer");
		exit(1);
	}
	if (is_write) {
		printf("block-write %s %llu %llu\n", name, off, len);
		return;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			buf[i] = '.';
	buf[len] = '\0';
	printf("block-read %s %llu: %s\n", name, off, buf);
}

/* Sends every frame back where it came from, until a signal ends us. */
static void
guest_echo(void) __attribute__((noreturn));

static void
guest_echo(void)
{
	struct pollfd pfd[PT_MFT_MAX_ENTRIES];
	device *dev[PT_MFT_MAX_ENTRIES];
	size_t n = 0;
	static char frame[MAX_FRAME];
	for (size_t i = 0; i < ndevices; i++)
		if (devices[i].mft->type == PT_MFT_NET_BASIC) {
			pfd[n].fd = devices[i].fd;
			pfd[n].events = POLLIN;
			dev[n++] = &devices[i];
		}
	printf("Solo5: echoing frames on %zu interface(s)\n", n);
	fflush(stdout);
	for (;;) {
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			warnx_("poll: %s", strerror(errno));
			exit(1);
		}
		for (size_t i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			ssize_t r = read(pfd[i].fd, frame, sizeof(frame));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				warnx_("%s: read failed", dev[i]->iface);
				exit(1);
			}
			if (write(pfd[i].fd, frame, (size_t)r) != r) {
				warnx_("%s: write failed", dev[i]->iface);
				exit(1);
			}
		}
	}
}

static void
guest_run(void) __attribute__((noreturn));

static void
guest_run(void)
{
	fflush(stdout);
	for (;;)
		pause();
}

static void
split_cmdline(void)
{
	char *save = NULL;
	for (char *w = strtok_r(cmdline, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		words[nwords++] = w;
}

static void
guest_command(char *w)
{
	unsigned long long v;
	if (strncmp(w, "print:", 6) == 0) {
		printf("%s\n", unescape(w + 6));
	} else if (strncmp(w, "stderr:", 7) == 0) {
		fflush(stdout);
		fprintf(stderr, "%s\n", unescape(w + 7));
	} else if (strncmp(w, "lines:", 6) == 0 && parse_ull(w + 6, &v)) {
		for (unsigned long long i = 1; i <= v; i++)
			printf("line %llu\n", i);
	} else if (strncmp(w, "exit:", 5) == 0 && parse_ull(w + 5, &v)) {
		guest_exit((int)(v & 0xff));
	} else if (strncmp(w, "sleep:", 6) == 0 && parse_ull(w + 6, &v)) {
		fflush(stdout);
		sleep_ms(v);
	} else if (strcmp(w, "abort") == 0) {
		guest_abort("abort requested");
	} else if (strcmp(w, "run") == 0) {
		guest_run();
	} else if (strcmp(w, "echo") == 0) {
		guest_echo();
	} else if (strncmp(w, "block-write:", 12) == 0) {
		guest_block(w, true);
	} else if (strncmp(w, "block-read:", 11) == 0) {
		guest_block(w, false);
	} else if (strcmp(w, "reject-name") != 0) {
		guest_usage_error(w);
	}
	fflush(stdout);
}

static void
guest_main(void)
{
	printf("            |      ___|\n"
	    "  __|  _ \\  |  _ \\ __ \\\n"
	    "\\__ \\ (   | | (   |  ) |\n"
	    "____/\\___/ _|\\___/____/\n"
	    "Solo5: Bindings version " FAKE_VERSION "\n"
	    "Solo5: Memory map: %lld MB addressable\n"
	    "Solo5: solo5_app_main() called with cmdline=\"%s\"\n",
	    mem_mb, cmdline);
	fflush(stdout);
	if (my_target == PT_SOLO5_TARGET_HVT && mem_mb < 4)
		guest_abort("mem.c:54: Not enough memory");
	split_cmdline();
	size_t i = 0;
	if (nwords > 0 && strncmp(words[0], "--name=", 7) == 0) {
		bool reject = getenv("PETREL_FAKE_REJECT_NAME") != NULL;
		for (size_t j = 1; j < nwords; j++)
			reject = reject || strcmp(words[j], "reject-name") == 0;
		if (reject) {
			printf("fake-unikernel: unknown option '--name'\n");
			guest_exit(64);
		}
		printf("Solo5: name %s\n", words[0] + 7);
		i = 1;
	}
	for (; i < nwords; i++)
		guest_command(words[i]);
	guest_exit(0);
}

int
main(int argc, char **argv)
{
	const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
	prog = argc == 0 ? "solo5-hvt" : slash != NULL ? slash + 1 : argv[0];
	my_target = strncmp(prog, "solo5-spt", 9) == 0 ? PT_SOLO5_TARGET_SPT :
	    PT_SOLO5_TARGET_HVT;
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* First pass (§5.1 step 1). */
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0)
			usage();
		if (strcmp(argv[i], "--version") == 0) {
			fprintf(stderr, "%s tender, version " FAKE_VERSION "\n"
			    "ABI version %u\n", prog, abi_version());
			return 0;
		}
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
	}
	if (i >= argc) {
		warnx_("Missing KERNEL operand");
		usage();
	}
	kernel = argv[i];

	setup_signals();
	load_kernel();
	second_pass(1, i, argv);
	setup_cmdline(argc, argv, i + 1);
	check_mem();
	setup_devices();
	guest_main();
	return 0;
}
