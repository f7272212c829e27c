/* gtime.c: to be written */
