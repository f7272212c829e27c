/* name.c: to be written */
