/*
 * Tap devices and bridges, through ioctls on /dev/net/tun and rtnetlink
 * (libnl-route-3). No `ip`, no shell.
 */
#ifndef PETREL_TAP_H
#define PETREL_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define PT_TAP_PREFIX "vmmtap"
/* An alias is at most 255 bytes (the kernel's IFALIASZ with its NUL). */
#define PT_TAP_OWNER_MAX 256

/* The alias a petreld gives its taps: "petrel:<run dir> db:<dev>:<ino>",
 * from the canonical (absolute, symlink-free) run dir and the identity of
 * the db dir, so that two daemons never share one, whatever their cwd or
 * mount namespace; "petrel:sha256:<hex>" of that text when it is too long.
 * Pure: no I/O. */
void pt_tap_owner(char out[PT_TAP_OWNER_MAX], const char *rundir_real,
    unsigned long long db_dev, unsigned long long db_ino);

/* Creates a persistent tap named with the lowest free PT_TAP_PREFIX<N>,
 * enslaves it to `bridge` and sets it up. `owner` (may be NULL) becomes
 * the tap's alias, so that the taps of one daemon can be found again after
 * it crashed (pt_tap_remove_orphans). On failure nothing is left behind. */
int pt_tap_create(const char *bridge, const char *owner, char name[IFNAMSIZ],
    pt_err *err);
/* Deletes every tap whose alias is `owner`: at the start of a daemon,
 * those left by an earlier instance of it that crashed (its tenders died
 * with it). *removed counts them. */
int pt_tap_remove_orphans(const char *owner, size_t *removed, pt_err *err);
/* Deletes the tap (no error if it is already gone). */
int pt_tap_destroy(const char *name, pt_err *err);
/* 1 if an interface `name` exists and is a bridge, 0 if not, -1 on error. */
int pt_bridge_exists(const char *name, pt_err *err);
/* The number of ports (enslaved interfaces) of `bridge`, asked of the
 * kernel for that bridge alone. Fails if it does not exist or is not a
 * bridge. */
int pt_bridge_port_count(const char *bridge, size_t *ports, pt_err *err);
/* All bridges on the host; *names is a heap array of heap strings, free
 * with pt_bridges_free. */
int pt_bridges_list(char ***names, size_t *n, pt_err *err);
void pt_bridges_free(char **names, size_t n);
/* 1 if an interface of that name exists, 0 if not. */
int pt_link_exists(const char *name);

#endif
