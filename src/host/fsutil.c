/* fsutil.c: to be written */
