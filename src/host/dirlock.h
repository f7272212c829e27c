/*
 * One daemon per directory: an exclusive flock on a lock file inside it,
 * held for the daemon's life, with the holder's pid written in the file so
 * that the refusal can name it.
 *
 * A flock belongs to the open file (not to the path), goes away with the
 * process however it ends, and is seen across mount namespaces that share
 * the file system: nothing stale to clean up after a crash.
 */
#ifndef PETREL_DIRLOCK_H
#define PETREL_DIRLOCK_H

#include "util.h"

/* Locks <dir>/<file> (created mode 0600 if missing; never a symlink) and
 * returns its fd (CLOEXEC: the tenders do not inherit it), or -1. When
 * another process holds it: "<dir> is in use by <who> pid N". */
int pt_dir_lock(const char *dir, const char *file, const char *who,
    pt_err *err);

#endif
