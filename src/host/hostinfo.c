/* hostinfo.c: to be written */
